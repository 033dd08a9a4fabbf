"""`census sample build` through click's CliRunner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from census_cli.main import cli

from .helpers import synthetic_boundary


def test_build_a_small_county(tmp_path):
    out = tmp_path / "longgang"
    r = CliRunner().invoke(cli, ["sample", "build", "--out", str(out), "--county", "211403", "--buildings", "300",
                                 "--seed", "3", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["county_code"] == "211403" and data["counts"]["buildings"] == 300
    assert (out / "sample.gpkg").exists() and (out / "manifest.json").exists()


def test_bad_county_code_lists_the_valid_ones(tmp_path):
    r = CliRunner().invoke(cli, ["sample", "build", "--out", str(tmp_path), "--county", "110101"])
    assert r.exit_code == 2
    assert "211481 兴城市" in r.output and "--boundary" in r.output


def test_county_and_boundary_are_exclusive(tmp_path):
    b = synthetic_boundary(tmp_path / "b.geojson")
    r = CliRunner().invoke(cli, ["sample", "build", "--out", str(tmp_path / "o"), "--county", "211481",
                                 "--boundary", str(b)])
    assert r.exit_code == 2 and "--county" in r.output


def test_missing_and_bad_boundary_files(tmp_path):
    r = CliRunner().invoke(cli, ["sample", "build", "--out", str(tmp_path / "o"), "--boundary",
                                 str(tmp_path / "nope.geojson")])
    assert r.exit_code == 2 and "nope.geojson" in r.output
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "x"},
         "geometry": {"type": "Polygon", "coordinates": [[[120, 40], [120.1, 40], [120.1, 40.1], [120, 40]]]}}]}),
        encoding="utf-8")
    r = CliRunner().invoke(cli, ["sample", "build", "--out", str(tmp_path / "o"), "--boundary", str(bad)])
    assert r.exit_code == 1
    assert "adcode" in r.output and "bad.geojson" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_help_has_an_example():
    r = CliRunner().invoke(cli, ["sample", "build", "--help"])
    assert r.exit_code == 0 and "Example" in r.output and "census sample build" in r.output
