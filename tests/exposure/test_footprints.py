"""Exposure, first part: Gauss-Krüger zones, footprint areas, facilities, joins to divisions."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from exposure.footprints import (ExposureError, ExposureFileNotFound, add_area_m2, gk_crs_for, join_divisions,
                                 read_buildings, read_facilities)


@pytest.mark.parametrize("lon,epsg", [(120.0, 4549), (120.6, 4549), (119.2, 4549), (118.4, 4548), (118.6, 4549), (75.0, 4534),
                                      (70.0, 4534), (135.0, 4554), (134.9, 4554), (121.6, 4550), (112.2, 4546)])
def test_gk_zone_nearest_central_meridian(lon, epsg):
    assert gk_crs_for(lon) == f"EPSG:{epsg}"


def _rectangle_4490(x0: float, y0: float, w: float, h: float, epsg: int = 4549):
    """A w × h metre rectangle drawn in GK coordinates, stored in EPSG:4490."""
    to_geo = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4490", always_xy=True)
    xs = np.array([x0, x0 + w, x0 + w, x0, x0])
    ys = np.array([y0, y0, y0 + h, y0 + h, y0])
    lon, lat = to_geo.transform(xs, ys)
    return shapely.Polygon(np.column_stack([lon, lat]))


def _gpkg(tmp_path, buildings, facilities=None):
    p = tmp_path / "w.gpkg"
    buildings.to_file(p, layer="buildings", engine="pyogrio")
    if facilities is not None:
        facilities.to_file(p, layer="facilities", engine="pyogrio")
    return p


def test_area_in_gk_zone_matches_hand_computed_rectangle(tmp_path):
    # 葫芦岛: CM 120 E → EPSG:4549; a 40 m × 12.5 m block and a 10 m × 8 m house near 120.7 E 40.6 N
    to_gk = Transformer.from_crs("EPSG:4490", "EPSG:4549", always_xy=True)
    x, y = to_gk.transform(120.7, 40.6)
    geoms = [_rectangle_4490(x, y, 40.0, 12.5), _rectangle_4490(x + 100, y, 10.0, 8.0)]
    b = gpd.GeoDataFrame({"building_id": ["B211481001001" + "00001", "B211481100200" + "00001"],
                          "township_code": ["211481001", "211481100"],
                          "village_code": ["211481001001", "211481100200"], "urban": [1, 0]},
                         geometry=geoms, crs="EPSG:4490")
    p = _gpkg(tmp_path, b)
    got = read_buildings(p)
    assert got["area_m2"].to_numpy() == pytest.approx([500.0, 80.0], rel=1e-6)
    one = read_buildings(p, township="211481100")
    assert list(one["building_id"]) == ["B21148110020000001"] and one["area_m2"].iloc[0] == pytest.approx(80.0)


def test_add_area_uses_the_zone_of_the_data():
    # far from 120 E the zone matters: a rectangle drawn in CM 111 E (EPSG:4546) comes back exact
    g = gpd.GeoDataFrame(geometry=[_rectangle_4490(500000.0, 3_800_000.0, 20.0, 10.0, epsg=4546)], crs="EPSG:4490")
    assert add_area_m2(g)["area_m2"].iloc[0] == pytest.approx(200.0, rel=1e-6)


def test_read_errors(tmp_path):
    with pytest.raises(ExposureFileNotFound):
        read_buildings(tmp_path / "missing.gpkg")
    b = gpd.GeoDataFrame({"building_id": ["x"]}, geometry=[shapely.box(120, 40, 120.001, 40.001)], crs="EPSG:4490")
    p = _gpkg(tmp_path, b)
    with pytest.raises(ExposureError, match="no layer 'facilities'"):
        read_facilities(p)
    with pytest.raises(ExposureError, match="9 digits"):
        read_buildings(p, township="2114")
    other = tmp_path / "m.gpkg"
    b.to_crs("EPSG:4549").to_file(other, layer="buildings", engine="pyogrio")
    with pytest.raises(ExposureError, match="EPSG:4490"):
        read_buildings(other)


def test_join_divisions_puts_each_asset_in_its_village():
    t1, t2 = shapely.box(120.0, 40.0, 120.1, 40.1), shapely.box(120.1, 40.0, 120.2, 40.1)
    townships = gpd.GeoDataFrame({"code": ["211481001", "211481100"]}, geometry=[t1, t2], crs="EPSG:4490")
    villages = gpd.GeoDataFrame(
        {"code": ["211481001001", "211481001002", "211481100200"], "township_code": ["211481001"] * 2 + ["211481100"]},
        geometry=[shapely.box(120.0, 40.0, 120.05, 40.1), shapely.box(120.05, 40.0, 120.1, 40.1), t2], crs="EPSG:4490")
    assets = gpd.GeoDataFrame(
        {"name": ["a", "b", "c", "edge", "out"]},
        geometry=[shapely.box(120.01, 40.01, 120.0102, 40.0102), shapely.Point(120.07, 40.05),
                  shapely.Point(120.15, 40.05), shapely.Point(120.05, 40.05), shapely.Point(121.0, 41.0)],
        crs="EPSG:4490")
    j = join_divisions(assets, townships, villages)
    assert list(j["village_code"][:4]) == ["211481001001", "211481001002", "211481100200", "211481001001"]
    assert list(j["township_code"][:4]) == ["211481001", "211481001", "211481100", "211481001"]
    assert j["village_code"].isna().iloc[4] and j["township_code"].isna().iloc[4]  # outside every village
    assert list(j["name"]) == ["a", "b", "c", "edge", "out"]
