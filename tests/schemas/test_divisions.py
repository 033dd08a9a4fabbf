"""The division registry holds the real Huludao codes (the shipped boundaries say the same)."""

import json
from pathlib import Path

import pytest

from schemas import divisions as D
from schemas.model import Division

BOUNDARIES = Path(__file__).resolve().parents[2] / "sample_data" / "data" / "huludao_boundaries.geojson"


def test_registry_matches_the_shipped_boundaries():
    feats = json.loads(BOUNDARIES.read_text(encoding="utf-8"))["features"]
    shipped = {(f["properties"]["adcode"], f["properties"]["name"], f["properties"]["level"]) for f in feats}
    assert shipped == {(u.code, u.name_zh, u.level) for u in D.UNITS}
    assert all(u.parent == "211400" for u in D.UNITS if u.level == "county")


@pytest.mark.parametrize("code, level, county, township", [
    ("211481", Division.COUNTY, None, None),
    ("211481100", Division.TOWNSHIP, "211481", None),
    ("211481100201", Division.VILLAGE, "211481", "211481100"),
    ("21148110", None, None, None),
    ("21148110020a", None, None, None),
])
def test_code_structure(code, level, county, township):
    assert D.level_of(code) is level
    assert D.county_of(code) == county
    assert D.township_of(code) == township


def test_county_name():
    assert D.county_name("211481") == "兴城市"
    assert D.county_name("999999") is None
