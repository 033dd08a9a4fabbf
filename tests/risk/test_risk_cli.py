"""`census risk assess` on the tiny county."""

import json

from click.testing import CliRunner

from census_cli.main import cli
from tests.risk.tiny_county import build


def test_assess_json_and_missing_files(tmp_path):
    gpkg, hazards = build(tmp_path)
    r = CliRunner().invoke(cli, ["risk", "assess", "--gpkg", str(gpkg), "--hazards", str(hazards), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["buildings"] == 11 and d["method"] == "fixed" and d["losses"]["total"] > 0
    assert set(d["level_counts"]) == {"buildings", "grid", "townships"}
    r = CliRunner().invoke(cli, ["risk", "assess", "--gpkg", str(tmp_path / "x.gpkg"), "--hazards", str(hazards)])
    assert r.exit_code == 2 and "x.gpkg" in r.output
    r = CliRunner().invoke(cli, ["risk", "assess", "--gpkg", str(gpkg), "--hazards", str(tmp_path / "none")])
    assert r.exit_code == 2
