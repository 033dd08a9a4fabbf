"""The generated sample county: exact tiling, determinism, hazard layers, work map, GeoPackage validity."""

from __future__ import annotations

import json
import subprocess

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely

from hazards.io import read_netcdf, read_raster
from hazards.registry import FLOOD_RETURN_PERIODS, LAYER_IDS, get_layer
from sample_data.build import build_sample
from sample_data.facilities import FACILITY_TYPES
from sample_data.hazard_layers import pga_attenuation

from .helpers import FAST_RES, assert_exact_tiling, gpkg_validators

LAYERS = ("county", "city", "townships", "villages", "rivers", "roads", "sea", "buildings", "facilities")
N_BUILDINGS = 1500


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("xingcheng")
    steps = []
    result = build_sample(out, county="211481", buildings=N_BUILDINGS, seed=11, resolution=FAST_RES,
                          progress=lambda step, done, total: steps.append((step, done, total)))
    return result, steps


@pytest.fixture(scope="module")
def sample_again(tmp_path_factory):
    return build_sample(tmp_path_factory.mktemp("xingcheng2"), county="211481", buildings=N_BUILDINGS, seed=11,
                        resolution=FAST_RES)


def _layer(result, name):
    return gpd.read_file(result.gpkg, layer=name, engine="pyogrio")


def test_layout_and_manifest(sample):
    result, steps = sample
    assert [name for name, _ in pyogrio.list_layers(result.gpkg)][: len(LAYERS)] == list(LAYERS)
    assert (result.out_dir / "terrain" / "dem.tif").exists()
    for lid in LAYER_IDS:
        assert (result.out_dir / "hazards" / f"{lid}.tif").exists(), lid
    assert (result.out_dir / "hazards" / "flood_depth.nc").exists()
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert manifest["county"]["adcode"] == "211481" and manifest["county"]["name"] == "兴城市"
    assert manifest["seed"] == 11 and manifest["crs"] == "EPSG:4490"
    assert manifest["counts"]["buildings"] == N_BUILDINGS
    assert manifest["generator_version"]
    paths = {f["path"] for f in manifest["files"]}
    assert {"sample.gpkg", "terrain/dem.tif", "hazards/flood_depth.nc"} <= paths
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    assert steps[-1][1] == steps[-1][2] and [d for _, d, _ in steps] == list(range(1, len(steps) + 1))
    assert "兴城市" in result.summary_zh() and "211481" in result.summary_en()


def test_all_vector_layers_in_cgcs2000_with_geometry_types(sample):
    result, _ = sample
    info = dict(pyogrio.list_layers(result.gpkg))
    assert info["townships"] == "MultiPolygon" and info["buildings"] == "Polygon"
    assert info["facilities"] == "Point" and info["roads"] == "MultiLineString" and info["sea"] == "MultiPolygon"
    for name in LAYERS:
        assert pyogrio.read_info(result.gpkg, layer=name)["crs"] == "EPSG:4490", name
    county = _layer(result, "county")
    assert list(county["adcode"]) == ["211481"] and list(county["name"]) == ["兴城市"]
    city = _layer(result, "city")
    assert list(city["adcode"]) == ["211400"]
    assert len(_layer(result, "sea")) == 1  # 兴城 is coastal


def test_townships_tile_the_county_exactly(sample):
    result, _ = sample
    county = _layer(result, "county").geometry.iloc[0]
    townships = _layer(result, "townships")
    assert 15 <= len(townships) <= 25  # 兴城市 has about 20
    assert_exact_tiling(townships.geometry, county)


def test_villages_tile_each_township_exactly(sample):
    result, _ = sample
    townships = _layer(result, "townships")
    villages = _layer(result, "villages")
    for t in townships.itertuples():
        mine = villages[villages["township_code"] == t.code]
        assert len(mine) >= 1
        assert_exact_tiling(mine.geometry, t.geometry)


def test_codes_names_and_counts(sample):
    result, _ = sample
    townships = _layer(result, "townships")
    villages = _layer(result, "villages")
    for code, kind in zip(townships["code"], townships["kind"]):
        assert len(code) == 9 and code.startswith("211481")
        n = int(code[6:])
        assert {"街道": 1 <= n <= 99, "镇": 100 <= n <= 199, "乡": 200 <= n <= 299}[kind]
    for code, tcode, kind in zip(villages["code"], villages["township_code"], villages["kind"]):
        assert len(code) == 12 and code.startswith(tcode)
        n = int(code[9:])
        assert (1 <= n <= 199) if kind == "community" else (200 <= n <= 399)
    names = list(townships["name"]) + list(villages["name"])
    assert len(set(names)) == len(names)
    assert all(n.endswith(("街道", "镇", "乡")) for n in townships["name"])
    assert all(n.endswith(("社区", "村")) for n in villages["name"])
    assert (villages["population"] > 0).all() and (villages["households"] > 0).all()
    assert (villages["population"] > villages["households"]).all()
    sums = villages.groupby("township_code")["population"].sum()
    assert dict(zip(townships["code"], townships["population"])) == sums.to_dict()


def test_same_seed_gives_identical_arrays_and_attributes(sample, sample_again):
    a, _ = sample
    b = sample_again
    for lid in LAYER_IDS:
        ra = read_raster(a.out_dir / "hazards" / f"{lid}.tif")
        rb = read_raster(b.out_dir / "hazards" / f"{lid}.tif")
        np.testing.assert_array_equal(ra.values, rb.values, err_msg=lid)
    np.testing.assert_array_equal(read_raster(a.dem).values, read_raster(b.dem).values)
    for name in LAYERS:
        la, lb = _layer(a, name), _layer(b, name)
        assert la.drop(columns="geometry").equals(lb.drop(columns="geometry")), name
        assert list(la.geometry.to_wkb()) == list(lb.geometry.to_wkb()), name
    ma = json.loads(a.manifest.read_text(encoding="utf-8"))
    mb = json.loads(b.manifest.read_text(encoding="utf-8"))
    assert ma == mb  # even the GeoPackage bytes agree (timestamps pinned to 2020-12-31)


def test_different_seed_differs(sample, tmp_path):
    a, _ = sample
    c = build_sample(tmp_path, county="211481", buildings=N_BUILDINGS, seed=12, resolution=FAST_RES)
    assert not np.array_equal(read_raster(a.dem).values, read_raster(c.dem).values)
    assert list(_layer(a, "townships")["name"]) != list(_layer(c, "townships")["name"])


def test_hazard_geotiffs_are_tiled_compressed_cgcs2000(sample):
    result, _ = sample
    for lid in LAYER_IDS:
        spec = get_layer(lid)
        with rasterio.open(result.out_dir / "hazards" / f"{lid}.tif") as src:
            assert src.crs.to_epsg() == 4490, lid
            assert src.profile["tiled"] and src.block_shapes[0] == (256, 256), lid
            assert src.compression is not None and src.compression.name.lower() == "deflate", lid
            assert src.nodata == spec.nodata and src.dtypes[0] == spec.dtype, lid


def _valid(result, lid):
    a = read_raster(result.out_dir / "hazards" / f"{lid}.tif").values
    return a, a != get_layer(lid).nodata


def test_hazard_values_are_plausible(sample):
    result, _ = sample
    pga, ok = _valid(result, "eq_pga_scenario")
    assert ok.sum() > 100 and 0.005 < pga[ok].min() and pga[ok].max() < 1.0
    zones, ok = _valid(result, "eq_pga_475")
    assert {round(float(z), 3) for z in np.unique(zones[ok])} <= {0.05, 0.1, 0.15, 0.2}
    assert np.isclose(zones[ok], 0.1).mean() > 0.3  # 兴城 is mostly in the 0.10 g zone
    geo, ok = _valid(result, "geo_susceptibility")
    assert set(np.unique(geo[ok])) <= {1, 2, 3, 4, 5} and len(np.unique(geo[ok])) >= 3
    rain, ok = _valid(result, "rainstorm")
    assert 80 < rain[ok].min() and rain[ok].max() < 400
    wind, ok = _valid(result, "wind_gust")
    assert 12 < wind[ok].min() and wind[ok].max() < 60
    for lid in ("drought", "fire_danger"):
        v, ok = _valid(result, lid)
        assert 0 <= v[ok].min() and v[ok].max() <= 1 and v[ok].std() > 0.02, lid


def test_flood_depth_grows_with_return_period(sample):
    result, _ = sample
    depths = {rp: _valid(result, f"flood_depth_rp{rp}") for rp in FLOOD_RETURN_PERIODS}
    ok = depths[10][1]
    prev = None
    for rp in FLOOD_RETURN_PERIODS:
        d, okk = depths[rp]
        assert (okk == ok).all() and d[ok].min() >= 0.0 and d[ok].max() < 15
        if prev is not None:
            assert (d[ok] >= prev[ok]).all(), rp
        prev = d
    assert (depths[100][0][ok] > 0).mean() > (depths[10][0][ok] > 0).mean() * 0.99
    assert 0.01 < (depths[100][0][ok] > 0).mean() < 0.6  # along rivers, not everywhere
    stack = read_netcdf(result.flood_netcdf)
    assert list(stack["return_period"].values) == list(FLOOD_RETURN_PERIODS)
    for k, rp in enumerate(FLOOD_RETURN_PERIODS):
        np.testing.assert_array_equal(stack.values[k], depths[rp][0])


def test_storm_surge_only_on_the_coast(sample):
    result, _ = sample
    surge, ok = _valid(result, "storm_surge_depth")
    assert surge[ok].max() > 0.3  # low coastal land floods
    sea = _layer(result, "sea").geometry.iloc[0]
    with rasterio.open(result.out_dir / "hazards" / "storm_surge_depth.tif") as src:
        rows, cols = np.nonzero(ok)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
    far = shapely.distance(shapely.points(xs, ys), sea) > 0.15  # ≥ ~13 km inland
    assert far.sum() > 100
    assert (surge[rows[far], cols[far]] == 0).all()


def test_pga_falls_away_from_the_fault(sample):
    result, _ = sample
    r = np.array([0.0, 5, 10, 20, 40, 80, 160])
    a = pga_attenuation(6.5, r)
    assert (np.diff(a) < 0).all() and 0.15 < a[0] < 0.6 and a[4] < 0.06
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    rupture = shapely.LineString(manifest["hazard_models"]["rupture"])
    pga, ok = _valid(result, "eq_pga_scenario")
    with rasterio.open(result.out_dir / "hazards" / "eq_pga_scenario.tif") as src:
        rows, cols = np.nonzero(ok)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
    d = shapely.distance(shapely.points(xs, ys), rupture) * 85.0  # km, roughly
    means = [pga[rows, cols][(d >= lo) & (d < hi)].mean() for lo, hi in ((0, 5), (10, 20), (30, 45))
             if ((d >= lo) & (d < hi)).sum() > 10]
    assert len(means) >= 2 and all(x > y for x, y in zip(means, means[1:]))


def test_work_map_buildings(sample):
    result, _ = sample
    b = _layer(result, "buildings")
    assert len(b) == N_BUILDINGS
    assert b["building_id"].is_unique
    assert b["building_id"].str.fullmatch(r"B\d{12}\d{5}").all()
    assert (b["building_id"].str[1:13] == b["village_code"]).all()
    assert (b["village_code"].str[:9] == b["township_code"]).all()
    assert set(b["urban"]) <= {0, 1} and b["urban"].sum() > 0
    assert ((b["urban"] == 1) == (b["village_code"].str[9:].astype(int) < 200)).all()
    geoms = b.geometry.values
    assert shapely.is_valid(geoms).all()
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    assert (i == j).all(), "footprints overlap"
    county = _layer(result, "county").geometry.iloc[0]
    assert shapely.within(geoms, county).all()
    villages = _layer(result, "villages")
    from exposure.footprints import add_area_m2, join_divisions

    joined = join_divisions(b, _layer(result, "townships"), villages)
    assert (joined["village_code"] == b["village_code"]).all()
    area = add_area_m2(b)["area_m2"]
    assert area.min() > 40 and area.max() < 80 * 18 + 1
    rural = area[b["urban"] == 0]
    assert 48 <= rural.median() <= 180


def test_facilities(sample):
    result, _ = sample
    f = _layer(result, "facilities")
    assert set(f["facility_type"]) <= set(FACILITY_TYPES)
    assert {"school", "kindergarten", "hospital", "clinic", "welfare_home"} <= set(f["facility_type"])
    assert f["facility_id"].is_unique and (f["capacity"] > 0).all()
    assert (f["facility_id"].str[1:13] == f["village_code"]).all()
    assert (f["village_code"].str[:9] == f["township_code"]).all()
    county = _layer(result, "county").geometry.iloc[0]
    assert shapely.within(f.geometry.values, county.buffer(1e-9)).all()


def test_geopackage_passes_gdal_validator(sample):
    result, _ = sample
    cmds = gpkg_validators()
    assert cmds, ("GDAL's GeoPackage validator is not installed: pip install --no-deps gdal-utils "
                  "(and for the full checks apt-get install python3-gdal)")
    for cmd in cmds:
        proc = subprocess.run([*cmd, "-k", "--extra", str(result.gpkg)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
