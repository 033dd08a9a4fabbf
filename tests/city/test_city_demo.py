"""The six real county-level units of 葫芦岛市 report up; the whole city is assessed and zoned."""

import json
import subprocess
import sys

import numpy as np
import pyogrio
import pytest
import shapely

from census_cli.city_demo import huludao_counties, run_city_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("city_demo")
    return out, run_city_demo(out, buildings=60, resolution=0.01, grid_m=2000, dpi=60, workers=2)


def test_six_counties_report_up(demo):
    out, s = demo
    assert [c["county"] for c in s["counties"]] == ["211402", "211403", "211404", "211421", "211422", "211481"]
    assert list(huludao_counties().values()) == ["连山区", "龙港区", "南票区", "绥中县", "建昌县", "兴城市"]
    assert [r["outcome"] for r in s["city_import"]["first"]] == ["accepted"] * 6
    assert s["city_import"]["reimport_outcomes"] == ["duplicate"] * 6
    # the second package is incremental: only what the county approved after the city's receipt
    for c, p in zip(s["counties"], s["second_packages"]):
        assert p["sequence"] == 2 and p["acknowledged_through"] == 1
        assert p["records"] == c["approved_second"] and p["already_acknowledged"] == c["approved_first"]
        assert c["county_verify_ok"]
    assert [r["outcome"] for r in s["city_import"]["second"]] == ["accepted"] * 6
    tot = s["status"]["totals"]
    assert tot["records_at_city"] == tot["records_approved"] > 0 and tot["packages_rejected"] == 0
    for c in s["status"]["counties"]:
        assert c["enrolled"] and c["packages_accepted"] == 2 and c["last_sequence"] == 2
        assert c["townships_reporting"] == c["townships_total"] == c["townships_at_city"] > 0
        assert c["records_at_city"] == c["records_approved"] and c["conflicts_at_city"] == 0
    assert s["verify_ok"], s["verify_findings"]


def test_city_assessed_on_one_grid_and_aggregated(demo):
    out, s = demo
    city = out / "city" / "211400.gpkg"
    towns = pyogrio.read_dataframe(city, layer="risk_townships", read_geometry=False)
    counties = pyogrio.read_dataframe(city, layer="risk_counties", read_geometry=False)
    assert sorted(counties["county_code"]) == sorted(huludao_counties())
    assert len(towns) == sum(c["townships_total"] for c in s["status"]["counties"])
    by_county = towns.assign(c=towns["township_code"].str[:6]).groupby("c")
    for col in ("buildings", "value_cny", "population", "total_loss", "flood_loss", "earthquake_loss"):
        got = counties.set_index("county_code")[col].sort_index().to_numpy()
        assert np.allclose(got, by_county[col].sum().sort_index().to_numpy(), rtol=1e-9), col
    assert counties["comprehensive_level"].between(1, 5).all()
    breaks = pyogrio.read_dataframe(city, layer="risk_breaks", read_geometry=False)
    assert {"buildings", "grid", "townships", "counties"} <= set(breaks["scope"])
    # all of 葫芦岛市 is zoned: the zoned cells cover the whole city outline
    grid = pyogrio.read_dataframe(city, layer="risk_grid")
    outline = shapely.union_all(pyogrio.read_dataframe(city, layer="city").geometry.values)
    zoned = shapely.union_all(grid.geometry.values[grid["comprehensive_level"].between(1, 5).to_numpy()])
    assert shapely.difference(outline, zoned).area < 1e-9 * outline.area
    assert s["assessment"]["buildings"] == int(counties["buildings"].sum()) > 0


def test_city_map_shows_every_county(demo):
    out, s = demo
    from mapping.city import city_zoning_map

    for unit in ("grid", "counties"):
        png = out / "maps" / f"city_comprehensive_{unit}.png"
        assert png.is_file() and png.stat().st_size > 50_000
    fig = city_zoning_map(out / "city" / "211400.gpkg", "comprehensive", unit="counties")
    ax = fig.census_map.frame.ax
    labels = sorted(t.get_text() for t in ax.texts if t.get_gid() == "county-label")
    assert labels == sorted(huludao_counties().values())
    assert "葫芦岛市" in fig.census_map.spec.title
    fills = [c for c in ax.collections if c.get_gid() == "zoning-counties"]
    assert len(fills) == 1 and len(fills[0].get_paths()) == 6
    # the notes name the city database, not a county one
    texts = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    assert "市级普查数据库 211400.gpkg" in texts and "县级普查数据库" not in texts


def test_city_gpkg_valid_after_assessment(demo):
    out, _ = demo
    r = subprocess.run([sys.executable, "-m", "osgeo_utils.samples.validate_gpkg", "-k", "--extra",
                        str(out / "city" / "211400.gpkg")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((out / "city_demo_summary.json").read_text(encoding="utf-8"))
    assert summary["verify_ok"] and summary["mosaic"]["layers"]


def test_city_cli_mosaic_assess_map(demo, tmp_path):
    from click.testing import CliRunner

    from census_cli.cmd_city import city

    out, s = demo
    gpkg = str(out / "city" / "211400.gpkg")
    r = CliRunner().invoke(city, ["mosaic", "--out", str(tmp_path / "hz"), "--sample-root", str(out / "counties"),
                                  "--gpkg", gpkg, "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert sorted(m["sources"]) == sorted(huludao_counties()) and sorted(m["layers"]) == s["mosaic"]["layers"]
    r = CliRunner().invoke(city, ["assess", "--gpkg", gpkg, "--hazards", str(tmp_path / "hz"), "--grid-m", "2000",
                                  "--json"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.output)
    assert [c["county"] for c in a["counties"]] == sorted(huludao_counties())
    assert a["assessment"]["buildings"] == s["assessment"]["buildings"]
    png = tmp_path / "towns.png"
    r = CliRunner().invoke(city, ["map", "--gpkg", gpkg, "--out", str(png), "--unit", "townships"])
    assert r.exit_code == 0, r.output
    assert png.is_file()
    r = CliRunner().invoke(city, ["map", "--gpkg", gpkg, "--out", str(tmp_path / "x.png"), "--hazard", "nonsense"])
    assert r.exit_code == 1 and "nonsense" in r.output
