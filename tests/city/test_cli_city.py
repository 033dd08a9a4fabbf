"""`census city …` shells: init, enrol-county, and --help with an example on every command."""

import json

import click
import pytest
from click.testing import CliRunner

from census_cli.cmd_city import approve, city, export_approved
from tests.sync import kit


def _commands():
    yield ("county", "approve"), approve
    yield ("county", "export-approved"), export_approved
    for name, cmd in city.commands.items():
        yield ("city", name), cmd
    yield ("city",), city


@pytest.mark.parametrize("path,cmd", list(_commands()), ids=lambda p: " ".join(p) if isinstance(p, tuple) else "")
def test_help_has_an_example(path, cmd):
    r = CliRunner().invoke(cmd, ["--help"])
    assert r.exit_code == 0, r.output
    assert "Example" in r.output and ("census " + " ".join(path)) in r.output


def test_city_commands():
    assert {"init", "enrol-county", "import", "status", "verify", "mosaic", "assess", "map", "demo"} <= set(city.commands)
    assert isinstance(city, click.Group)


def test_init_and_enrol(tmp_path):
    county = kit.init_county(tmp_path)
    gpkg = tmp_path / "city" / "c.gpkg"
    r = CliRunner().invoke(city, ["init", "--gpkg", str(gpkg), "--city", "2114", "--sample-root",
                                  str(tmp_path / "sample"), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert (d["city"], d["counties"], d["townships"], d["villages"]) == ("211400", 1, 2, 4)
    assert (gpkg.parent / "c.gpkg.keys.json").stat().st_mode & 0o077 == 0
    r = CliRunner().invoke(city, ["init", "--gpkg", str(gpkg), "--city", "2114", "--sample-root", str(tmp_path / "sample")])
    assert r.exit_code == 1 and "already exists" in r.output
    r = CliRunner().invoke(city, ["init", "--gpkg", str(tmp_path / "x.gpkg"), "--city", "2114"])
    assert r.exit_code == 2
    r = CliRunner().invoke(city, ["enrol-county", "--gpkg", str(gpkg), "--county-keys", str(county) + ".keys.json",
                                  "--json"])
    assert r.exit_code == 0, r.output
    enr = json.loads((tmp_path / "city" / "enrolments" / "211481_city_enrolment.json").read_text(encoding="utf-8"))
    assert enr["county"] == "211481" and enr["city"] == "211400" and "sign_private" not in json.dumps(enr)
    assert kit.rows(gpkg, "SELECT county, revoked FROM census_counties") == [("211481", 0)]
    r = CliRunner().invoke(city, ["enrol-county", "--gpkg", str(gpkg), "--county-keys", str(tmp_path / "none.json")])
    assert r.exit_code == 2


def test_init_from_boundaries(tmp_path):
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    sample = kit.make_sample(tmp_path / "sample")
    parts = []
    for layer in ("county", "townships", "villages"):
        g = pyogrio.read_dataframe(sample / "sample.gpkg", layer=layer)
        g = g.rename(columns={"adcode": "code"})[["code", "name", "geometry"]]
        parts.append(g)
    city_row = gpd.GeoDataFrame({"code": ["211400"], "name": ["葫芦岛市"]}, geometry=[parts[0].geometry.iloc[0]],
                                crs=4490)
    allb = gpd.GeoDataFrame(pd.concat([city_row, *parts], ignore_index=True), crs=4490)
    path = tmp_path / "divisions.geojson"
    allb.to_file(path, driver="GeoJSON", engine="pyogrio")
    r = CliRunner().invoke(city, ["init", "--gpkg", str(tmp_path / "c.gpkg"), "--city", "211400", "--boundaries",
                                  str(path), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert (d["city_name"], d["counties"], d["townships"], d["villages"]) == ("葫芦岛市", 1, 2, 4)
