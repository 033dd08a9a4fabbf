"""Boundaries: shipped counties, a county never seen before, bad boundary files, the derived sea."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from hazards.io import read_raster
from sample_data.boundaries import (SEA_FILE, load_county, read_boundary_file, shipped_boundaries,
                                    shipped_counties, shipped_sea)
from sample_data.build import build_sample
from sample_data.derive_sea import derive_sea
from sample_data.errors import BoundaryFileError, BoundaryFileNotFound, UnknownCountyError

from .helpers import FAST_RES, assert_exact_tiling, gpkg_validators, synthetic_boundary, synthetic_sea


def test_shipped_counties():
    counties = shipped_counties()
    assert counties == {"211402": "连山区", "211403": "龙港区", "211404": "南票区", "211421": "绥中县",
                        "211422": "建昌县", "211481": "兴城市"}
    assert shipped_boundaries().crs.to_epsg() == 4490
    c = load_county("211481")
    assert c.name == "兴城市" and c.city_code == "211400" and c.city_name == "葫芦岛市"
    assert 2000 < c.area_km2 < 2300  # 兴城市 is about 2 150 km²


def test_which_counties_touch_the_sea():
    coastal = {code for code in shipped_counties() if load_county(code).coastal}
    # 南票区 reaches the shore of 锦州湾 in the Amap geometry (see README)
    assert coastal == {"211481", "211421", "211403", "211402", "211404"}
    assert not load_county("211422").coastal


def test_derived_sea_is_reproducible_and_disjoint_from_land():
    city = shipped_boundaries().set_index("adcode").geometry["211400"]
    sea = derive_sea(city)
    shipped = shipped_sea()
    assert shapely.symmetric_difference(sea, shipped).area < 1e-9
    assert shapely.intersection(sea, city).area < 1e-12
    assert len(sea.interiors) >= 5  # the islands of 兴城 and 龙港 are holes
    props = json.loads(SEA_FILE.read_text(encoding="utf-8"))["features"][0]["properties"]
    assert props["method"] == "sample_data/derive_sea.py"


def test_unknown_county_code_lists_valid_ones():
    with pytest.raises(UnknownCountyError) as e:
        load_county("123456")
    assert "211481 兴城市" in e.value.message_zh and "--boundary" in e.value.message_en


@pytest.mark.parametrize("props,geometry,fragment", [
    ({"name": "x"}, {"type": "Polygon", "coordinates": [[[120, 40], [120.1, 40], [120.1, 40.1], [120, 40]]]},
     "adcode"),
    ({"adcode": "12", "name": "x"},
     {"type": "Polygon", "coordinates": [[[120, 40], [120.1, 40], [120.1, 40.1], [120, 40]]]}, "6-digit"),
    ({"adcode": "999999", "name": "x"}, {"type": "Point", "coordinates": [120, 40]}, "Polygon"),
    ({"adcode": "999999", "name": "x"},
     {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}, "not in China"),
])
def test_bad_boundary_files_say_what_to_fix(tmp_path, props, geometry, fragment):
    p = tmp_path / "b.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geometry}]}), encoding="utf-8")
    with pytest.raises(BoundaryFileError) as e:
        read_boundary_file(p)
    assert fragment in e.value.message_en and str(p) in e.value.message_en


def test_boundary_file_with_two_features_or_garbage(tmp_path):
    one = json.loads(synthetic_boundary(tmp_path / "one.geojson").read_text(encoding="utf-8"))
    two = tmp_path / "two.geojson"
    two.write_text(json.dumps({"type": "FeatureCollection", "features": one["features"] * 2}), encoding="utf-8")
    with pytest.raises(BoundaryFileError, match="exactly one"):
        read_boundary_file(two)
    junk = tmp_path / "junk.geojson"
    junk.write_text("not a geojson", encoding="utf-8")
    with pytest.raises(BoundaryFileError, match="cannot read"):
        read_boundary_file(junk)
    with pytest.raises(BoundaryFileNotFound):
        read_boundary_file(tmp_path / "missing.geojson")


def test_a_county_never_seen_before_works_end_to_end(tmp_path):
    boundary = synthetic_boundary(tmp_path / "new.geojson")
    result = build_sample(tmp_path / "out", boundary=boundary, buildings=800, seed=5, resolution=FAST_RES,
                          quicklook=True)
    assert result.county_code == "999999" and result.county_name == "样例县" and not result.coastal
    county = gpd.read_file(result.gpkg, layer="county")
    assert list(county["adcode"]) == ["999999"]
    townships = gpd.read_file(result.gpkg, layer="townships")
    villages = gpd.read_file(result.gpkg, layer="villages")
    assert_exact_tiling(townships.geometry, county.geometry.iloc[0])
    assert all(c.startswith("999999") for c in townships["code"])
    assert len(gpd.read_file(result.gpkg, layer="buildings")) == 800
    assert len(villages) > len(townships) >= 3
    # no sea, no parent city: empty layers that still carry their geometry type
    info = dict(pyogrio.list_layers(result.gpkg))
    assert info["sea"] == "MultiPolygon" and info["city"] == "MultiPolygon"
    assert len(gpd.read_file(result.gpkg, layer="sea")) == 0
    surge = read_raster(result.out_dir / "hazards" / "storm_surge_depth.tif").values
    assert surge[surge != -9999].max() == 0.0
    assert set(result.quicklooks) >= {"dem", "divisions", "workmap", "facilities", "flood_depth_rp100"}
    assert all(p.stat().st_size > 10_000 for p in result.quicklooks.values())
    for cmd in gpkg_validators():
        import subprocess

        proc = subprocess.run([*cmd, "-k", "--extra", str(result.gpkg)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_new_county_with_a_sea_file_gets_storm_surge(tmp_path):
    boundary = synthetic_boundary(tmp_path / "new.geojson")
    sea = synthetic_sea(tmp_path / "sea.geojson")
    result = build_sample(tmp_path / "out", boundary=boundary, sea=sea, buildings=300, seed=5,
                          resolution=FAST_RES)
    assert result.coastal
    assert len(gpd.read_file(result.gpkg, layer="sea")) == 1
    surge = read_raster(result.out_dir / "hazards" / "storm_surge_depth.tif").values
    assert surge[surge != -9999].max() > 0.1


def test_an_inland_shipped_county(tmp_path):
    result = build_sample(tmp_path, county="211422", buildings=300, seed=1, resolution=0.006)
    assert not result.coastal
    assert len(gpd.read_file(result.gpkg, layer="sea")) == 0
    assert list(gpd.read_file(result.gpkg, layer="city")["adcode"]) == ["211400"]
    dem = read_raster(result.dem).values
    assert np.percentile(dem[dem > -9999], 90) > 300  # 建昌 is hilly
