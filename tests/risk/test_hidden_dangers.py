"""Key hidden dangers: run-out on a synthetic DEM, buffers, counting, scoring, outputs and the command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from risk import threat_zones as tz
from risk.hidden_dangers import (SITE_COLUMNS, Raster, ZoneContext, assess_sites, read_danger_sites, reason_zh,
                                 runout_mask, score_rows, threat_zone)

GK = "EPSG:4549"
CELL = 25.0


# --------------------------------------------------------------------------------------------------
# A valley profile (x east, metres): village A on the valley floor west of the slope, the site on the
# west face below a crest at x = 1200 m, village B in a lower valley east of the crest.

def profile(x: np.ndarray) -> np.ndarray:
    west = np.where(x < 600, 40.0 - 0.01 * (600 - x), 40.0 + 0.6 * (x - 600))      # floor, then the west face
    east = np.maximum(400.0 - 1.0 * (x - 1200), 150.0)                            # the east face to valley B
    return np.where(x <= 1200, west, east)


SITE_X, A_X, B_X = 1150.0, 450.0, 1450.0


def grid(nx: int = 100, ny: int = 40):
    x = (np.arange(nx) + 0.5) * CELL
    z = np.tile(profile(x), (ny, 1))
    return x, z


def test_profile_is_what_the_test_says():
    z_site, z_a, z_b = profile(np.array([SITE_X, A_X, B_X]))
    assert z_site == pytest.approx(370.0) and z_a == pytest.approx(38.5) and z_b == pytest.approx(150.0)
    assert profile(np.array([1200.0]))[0] > z_site          # a crest between the site and village B
    tan = tz.REACH_RULES["landslide"].tan_reach(3e5)
    # by the reach angle alone, BOTH villages are within reach of the crown (~ the crest, 400 m)
    assert (400 - z_a) / (SITE_X - A_X + 50) > tan and (400 - z_b) / (B_X - 1200) > tan


def test_runout_reaches_the_village_below_and_not_the_one_across_the_ridge():
    x, z = grid()
    ny = z.shape[0]
    site = (ny // 2, int(SITE_X // CELL))
    rows, cols = np.indices(z.shape)
    source = np.hypot((rows - site[0]) * CELL, (cols - site[1]) * CELL) <= 110.0
    tan = tz.REACH_RULES["landslide"].tan_reach(3e5)
    mask = runout_mask(z, CELL, site, source, tan)
    a, b = int(A_X // CELL), int(B_X // CELL)
    assert mask[site[0], a], "village A below the slope is reached"
    assert not mask[:, b].any(), "village B across the ridge is not reached"
    assert not mask[:, int(1250 // CELL):].any(), "nothing east of the crest"
    # the reach ends where the energy line meets the ground: crown 400 m, tan α → L = 360 / tan beyond the floor
    reach_x = x[mask[site[0]]].min()
    crown_x = 1200.0 - 12.5
    assert reach_x == pytest.approx(crown_x - (profile(np.array([crown_x]))[0] - 40) / tan, abs=4 * CELL)
    # control: the same slide on the east face, just over the crest, runs into valley B and not A
    east = (site[0], int(1240 // CELL))
    rows, cols = np.indices(z.shape)
    src_e = np.hypot((rows - east[0]) * CELL, (cols - east[1]) * CELL) <= 110.0
    mirror = runout_mask(z, CELL, east, src_e, tan)
    assert mirror[site[0], b] and not mirror[site[0], a]


def test_a_small_rockfall_stops_sooner_than_a_large_landslide():
    x, z = grid()
    site = (z.shape[0] // 2, int(SITE_X // CELL))
    src = np.zeros(z.shape, bool)
    src[site] = True
    small = runout_mask(z, CELL, site, src, tz.REACH_RULES["collapse"].tan_reach(3e3))
    large = runout_mask(z, CELL, site, src, tz.REACH_RULES["landslide"].tan_reach(3e6))
    assert small.sum() < large.sum()
    assert x[small[site[0]]].min() > x[large[site[0]]].min()


def test_reach_angle_rules_follow_volume():
    r = tz.REACH_RULES["landslide"]
    assert r.angle_deg(1e4) > r.angle_deg(1e5) > r.angle_deg(1e6)
    # Corominas (1996), all landslides: log10(H/L) = 0.047 − 0.085·log10(V): V = 1e5 m³ → H/L = 10^(−0.378)
    assert r.tan_reach(1e5) == pytest.approx(10 ** (0.047 - 0.085 * 5), rel=1e-9)
    assert tz.REACH_RULES["collapse"].angle_deg(1e9) == pytest.approx(27.5)     # the shadow-angle floor
    assert tz.representative_volume("landslide", "medium") == 3e5


# --------------------------------------------------------------------------------------------------
# Through assess_sites: a DEM GeoTIFF-like raster in EPSG:4549 and buildings as frames

def _xy_to_lonlat(x, y):
    from pyproj import Transformer

    tr = Transformer.from_crs(GK, "EPSG:4490", always_xy=True)
    return tr.transform(np.asarray(x, float), np.asarray(y, float))


X0, Y0 = 500000.0, 4480000.0      # the valley grid's lower-left corner in EPSG:4549


def _frames(points: dict[str, list[tuple[float, float, float]]], facilities=()):
    """Buildings (x, y in grid metres, occupants) per village, and facilities (x, y, type)."""
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import Point

    rows = []
    for village, pts in points.items():
        for i, (x, y, people) in enumerate(pts):
            lon, lat = _xy_to_lonlat(X0 + x, Y0 + y)
            rows.append({"building_id": f"{village}{i}", "village_code": village, "lon": float(lon), "lat": float(lat),
                         "residents": people, "occupants_day": people * 0.5, "occupants_night": float(people)})
    b = pd.DataFrame(rows)
    frows, geoms = [], []
    for x, y, kind in facilities:
        lon, lat = _xy_to_lonlat(X0 + x, Y0 + y)
        frows.append({"facility_type": kind, "facility_name": f"{kind}1", "people_day": 300.0, "people_night": 0.0})
        geoms.append(Point(float(lon), float(lat)))
    f = gpd.GeoDataFrame(frows or {"facility_type": [], "facility_name": [], "people_day": [], "people_night": []},
                         geometry=geoms, crs="EPSG:4490")
    return b, f


def _site(kind: str, x: float, y: float, **kw):
    import geopandas as gpd
    from shapely.geometry import Point

    lon, lat = _xy_to_lonlat(X0 + x, Y0 + y)
    row = {c: None for c in SITE_COLUMNS}
    row.update({"danger_uid": f"t:{kind}", "source_layer": "t", "source_id": kind, "name": kind, "kind": kind,
                "township_code": "211481001", "severity": 0.5, "severity_zh": "", "remediation": "untreated"})
    row.update(kw)
    return gpd.GeoDataFrame([row], geometry=[Point(float(lon), float(lat))], crs="EPSG:4490")


def _valley_ctx() -> ZoneContext:
    from affine import Affine

    _x, z = grid(nx=100, ny=40)
    tr = Affine(CELL, 0, X0, 0, -CELL, Y0 + z.shape[0] * CELL)
    return ZoneContext(GK, dem=Raster(z, tr, GK))


def test_landslide_above_a_village_threatens_its_houses_not_the_village_across_the_ridge():
    ymid = 20 * CELL
    houses = {"A": [(A_X, ymid + d, 4.0) for d in (-25.0, 0.0, 25.0)],
              "B": [(B_X, ymid + d, 6.0) for d in (-25.0, 0.0, 25.0)]}
    b, f = _frames(houses, facilities=[(A_X + 10, ymid, "school"), (B_X, ymid + 10, "clinic")])
    sites = _site("landslide", SITE_X, ymid, volume_m3=3e5, scale="medium", stability="unstable")
    a = assess_sites(sites, b, f, _valley_ctx())
    row = a.sites.iloc[0]
    assert row["zone_method"] == "runout"
    assert row["buildings"] == 3 and row["people"] == pytest.approx(12.0)     # village A: 3 houses × 4 (night)
    assert row["schools"] == 1 and row["hospitals"] == 0                      # the clinic is in village B
    assert row["reach_angle_deg"] == pytest.approx(tz.REACH_RULES["landslide"].angle_deg(3e5), abs=0.01)
    assert "威胁 12 人（房屋 3 栋）" in row["reason_zh"] and "学校 1 所" in row["reason_zh"]
    assert a.distinct_people == pytest.approx(12.0)
    z = a.zones.iloc[0]
    assert z.geometry.geom_type == "MultiPolygon" and z["danger_uid"] == row["danger_uid"]


def test_without_a_dem_a_landslide_falls_back_to_a_buffer_by_size():
    ctx = ZoneContext(GK)
    lon, lat = _xy_to_lonlat(X0, Y0)
    zone = threat_zone({"kind": "landslide", "scale": "large", "geometry": _point(lon, lat)}, ctx)
    assert zone.method == "buffer (no DEM)"
    assert zone.radius_m == tz.scale_buffer("landslide", "major")


def _point(lon, lat):
    from shapely.geometry import Point

    return Point(float(lon), float(lat))


def test_a_chemical_sites_buffer_counts_the_right_people():
    # a 3rd-level major hazard installation: 1000 m circle; houses at 300, 700, 990 m (in) and 1010, 1500 m (out)
    radius = tz.CHEMICAL_BUFFERS["major_3"].radius_m
    assert radius == 1000.0
    b, f = _frames({"V": [(300.0, 0.0, 10.0), (0.0, 700.0, 20.0), (-990.0, 0.0, 40.0), (0.0, -1010.0, 80.0),
                          (1500.0, 0.0, 160.0)]}, facilities=[(0.0, 500.0, "hospital"), (0.0, 1200.0, "school")])
    sites = _site("chemical", 0.0, 0.0, scale="major_3", severity=0.7)
    a = assess_sites(sites, b, f, ZoneContext(GK))
    row = a.sites.iloc[0]
    assert row["zone_method"] == "buffer" and row["zone_radius_m"] == radius
    assert row["buildings"] == 3
    assert row["people"] == pytest.approx(10 + 20 + 40)
    assert row["hospitals"] == 1 and row["schools"] == 0
    assert row["zone_area_km2"] == pytest.approx(math.pi, rel=0.01)


def test_weak_dyke_section_threatens_the_flooded_strip_behind_it():
    from affine import Affine

    # flood depth: a 300 m wide flooded strip along y ∈ [−150, 150] m, dry elsewhere; a dry hill at x > 1000
    n = 120
    depth = np.zeros((n, n))
    ys = Y0 + (n - np.arange(n) - 0.5) * 25.0 - 1500.0
    depth[np.abs(ys - Y0) <= 150.0, : 100] = 1.2
    tr = Affine(25.0, 0, X0 - 1500.0, 0, -25.0, Y0 + 1500.0)
    ctx = ZoneContext(GK, flood=Raster(depth, tr, GK), flood_layer="flood_depth_rp100")
    b, f = _frames({"W": [(200.0, 50.0, 5.0), (-800.0, -100.0, 7.0)],          # on the flooded strip
                    "D": [(0.0, 400.0, 11.0), (1200.0, 0.0, 13.0)]})         # dry: above it, on the hill
    sites = _site("dyke_weak_section", 0.0, 0.0, scale="4")
    a = assess_sites(sites, b, f, ctx, arrays={})
    row = a.sites.iloc[0]
    assert row["zone_method"] == "flood_strip"
    assert row["people"] == pytest.approx(12.0) and row["buildings"] == 2


# --------------------------------------------------------------------------------------------------
# Scoring and reasons

def _scored(**cols):
    import pandas as pd

    base = {"people": [0.0], "schools": [0], "hospitals": [0], "welfare_homes": [0], "severity": [0.5], "level": [3],
            "remediation": ["untreated"]}
    base.update({k: [v] for k, v in cols.items()})
    return score_rows(pd.DataFrame(base)).iloc[0]


def test_score_parts_add_up_and_order_sensibly():
    w = tz.SCORE_WEIGHTS
    assert w.total == 100
    full = _scored(people=1000.0, schools=2, severity=1.0, level=1, remediation="untreated")
    assert full["score"] == pytest.approx(100.0)
    treated = _scored(people=1000.0, schools=2, severity=1.0, level=1, remediation="treated")
    assert full["score"] - treated["score"] == pytest.approx(w.remediation * 0.9)
    more = _scored(people=300.0)
    fewer = _scored(people=30.0)
    assert more["score"] > fewer["score"]
    nobody = _scored(people=0.0, severity=1.0, level=1)
    assert nobody["score"] == pytest.approx((w.severity + w.risk + w.remediation) / 2)    # halved: nothing inside
    assert full["priority"] == 1 and nobody["priority"] == 3


def test_reason_text_names_people_facilities_level_and_status():
    row = {"people": 312.4, "buildings": 104, "facility_types": {"school": 1, "clinic": 1, "hotel": 1},
           "severity_zh": "不稳定、中型滑坡", "level": 1, "level_kind": "risk", "zone_level": 1,
           "remediation": "untreated", "reported_people": 300.0}
    text = reason_zh(row)
    assert text == "威胁 312 人（房屋 104 栋）、卫生院（室） 1 所、学校 1 所；不稳定、中型滑坡；位于高风险区；未治理"
    row.update(level=3, level_kind="hazard", reported_people=20.0)
    text = reason_zh(row)
    assert "位于中危险性区（致灾危险性等级，尚未做风险评估）" in text and "风险区" not in text.replace("危险性区", "")
    assert "上报威胁 20 人与估算 312 人相差较大，需现场核实" in text


# --------------------------------------------------------------------------------------------------
# A tiny county GeoPackage: reading every danger layer, and the command end to end

def tiny_county(d):
    """County gpkg (townships, villages, houses, facilities, danger layers) on the valley grid, a DEM
    GeoTIFF (EPSG:4490) and hazard layers; returns (gpkg, hazards dir)."""
    import geopandas as gpd
    import rasterio
    from affine import Affine
    from shapely.geometry import LineString, Point, box

    from hazards.io import make_dataarray, write_geotiff

    d.mkdir(parents=True, exist_ok=True)
    gpkg = d / "county.gpkg"
    lon0, lat0 = _xy_to_lonlat(X0, Y0)
    lon1, lat1 = _xy_to_lonlat(X0 + 2500, Y0 + 1000)
    t = box(float(lon0), float(lat0), float(lon1), float(lat1))
    gpd.GeoDataFrame({"code": ["211481001"], "name": ["甲镇"]}, geometry=[t], crs=4490).to_file(
        gpkg, layer="townships", driver="GPKG")
    gpd.GeoDataFrame({"code": ["211481001201"], "name": ["甲村"], "township_code": ["211481001"]}, geometry=[t],
                     crs=4490).to_file(gpkg, layer="villages", driver="GPKG")
    houses = []
    for v, x in (("211481001201", A_X), ("211481001201", B_X)):
        for dy in (-25.0, 0.0, 25.0):
            lo, la = _xy_to_lonlat(X0 + x, Y0 + 500 + dy)
            houses.append({"building_id": f"H{len(houses)}", "village_code": v, "use": "residence",
                           "structure_type": "brick_concrete", "floors": 1, "floor_area": 100.0,
                           "census_state": "received",
                           "geometry": box(float(lo) - 5e-5, float(la) - 5e-5, float(lo) + 5e-5, float(la) + 5e-5)})
    gpd.GeoDataFrame(houses, crs=4490).to_file(gpkg, layer="rural_house", driver="GPKG")
    import pandas as pd
    import pyogrio

    pyogrio.write_dataframe(pd.DataFrame({"village_code": ["211481001201"], "resident_population": [60.0],
                                          "census_state": ["received"]}), gpkg, layer="village_population")
    slon, slat = _xy_to_lonlat(X0 + SITE_X, Y0 + 500)
    gpd.GeoDataFrame([{"site_id": "DZ1", "site_name": "甲沟滑坡", "township_code": "211481001",
                       "village_code": "211481001201", "hazard_type": "landslide", "scale": "medium", "volume": 30.0,
                       "threatened_people": 30, "stability": "unstable", "monitoring": "none",
                       "census_uuid": "u1", "census_state": "received"}],
                     geometry=[Point(float(slon), float(slat))], crs=4490).to_file(gpkg, layer="geohazard_site",
                                                                                   driver="GPKG")
    # the same slope in the danger register (folded into DZ1) and a chemical plant near village B
    clon, clat = _xy_to_lonlat(X0 + B_X + 300, Y0 + 500)
    gpd.GeoDataFrame([
        {"danger_id": "YH1", "danger_name": "甲沟", "danger_type": "geohazard", "township_code": "211481001",
         "village_code": "211481001201", "scale": "large", "threatened_people": 30, "risk_level": "1",
         "remediation_status": "in_progress", "measures": "engineering", "census_uuid": "u2", "census_state": "received"},
        {"danger_id": "YH2", "danger_name": "化工厂", "danger_type": "chemical_vicinity", "township_code": "211481001",
         "village_code": "211481001201", "scale": "general", "threatened_people": 30, "risk_level": "2",
         "remediation_status": "untreated", "measures": "none", "census_uuid": "u3", "census_state": "received"},
        {"danger_id": "YH3", "danger_name": "作废", "danger_type": "other", "township_code": "211481001",
         "village_code": "211481001201", "scale": "general", "threatened_people": 1, "risk_level": "5",
         "remediation_status": "untreated", "measures": "none", "census_uuid": "u4", "census_state": "rejected"}],
        geometry=[Point(float(slon) + 1e-5, float(slat)), Point(float(clon), float(clat)), Point(float(clon), float(clat))],
        crs=4490).to_file(gpkg, layer="key_hidden_danger", driver="GPKG")
    # a dyke with one weak section (repeat stored as JSON, as the county gpkg does)
    wlon, wlat = _xy_to_lonlat(X0 + 300, Y0 + 500)
    gpd.GeoDataFrame([{"dyke_code": "DK1", "dyke_name": "甲河堤", "township_code": "211481001", "grade": "4",
                       "up_to_standard": "0", "protected_population": 500, "has_weak_sections": "1",
                       "weak_sections": json.dumps([{"weak_location": "K1+200", "weak_length_m": 300.0,
                                                     "weak_problem": "seepage",
                                                     "weak_point": {"type": "Point", "coordinates": [wlon, wlat]}}]),
                       "census_uuid": "u5", "census_state": "received"}],
                     geometry=[LineString([(float(lon0), float(wlat)), (float(lon1), float(wlat))])], crs=4490
                     ).to_file(gpkg, layer="dyke", driver="GPKG")
    # DEM in EPSG:4490 sampled from the valley profile (x from the projected longitude)
    res = 0.0002
    lons = np.arange(float(lon0) - 0.002, float(lon1) + 0.002, res)
    lats = np.arange(float(lat1) + 0.002, float(lat0) - 0.002, -res)
    LON, LAT = np.meshgrid(lons + res / 2, lats - res / 2)
    from pyproj import Transformer

    xx, _yy = Transformer.from_crs("EPSG:4490", GK, always_xy=True).transform(LON, LAT)
    dem = profile(xx - X0).astype("float32")
    tr = Affine(res, 0, lons[0], 0, -res, lats[0])
    (d / "terrain").mkdir(exist_ok=True)
    with rasterio.open(d / "terrain" / "dem.tif", "w", driver="GTiff", height=dem.shape[0], width=dem.shape[1],
                       count=1, dtype="float32", crs="EPSG:4490", transform=tr, nodata=-9999.0) as dst:
        dst.write(dem, 1)
    hz = d / "hazards"
    sus = np.where(dem > 200, 1, 4).astype("uint8")
    write_geotiff(make_dataarray(sus, tuple(tr)[:6], nodata=0, name="geo_susceptibility"), hz / "geo_susceptibility.tif")
    depth = np.where(dem < 45, 0.8, 0.0).astype("float32")
    write_geotiff(make_dataarray(depth, tuple(tr)[:6], nodata=-9999.0, name="flood_depth_rp100"),
                  hz / "flood_depth_rp100.tif")
    return gpkg, hz


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return tiny_county(tmp_path_factory.mktemp("county"))


def test_read_danger_sites_reads_every_layer_and_folds_the_same_slope(county):
    gpkg, _hz = county
    s = read_danger_sites(gpkg)
    assert sorted(s["danger_uid"]) == ["dyke:DK1#1", "geohazard_site:DZ1", "key_hidden_danger:YH2"]
    dz = s.set_index("danger_uid").loc["geohazard_site:DZ1"]
    assert dz["volume_m3"] == 30.0 * 1e4                    # 万 m³ → m³
    assert dz["also_reported_as"] == "YH1"
    assert dz["remediation"] == "in_progress"                # the register knows works are under way
    dk = s.set_index("danger_uid").loc["dyke:DK1#1"]
    assert dk["kind"] == "dyke_weak_section" and "未达标" in dk["severity_zh"]


def test_dangers_command_writes_layers_and_spreadsheet(county, tmp_path):
    import pyogrio
    from click.testing import CliRunner
    from openpyxl import load_workbook

    from census_cli.cmd_risk_extra import dangers

    gpkg, hz = county
    out = tmp_path / "list.xlsx"
    r = CliRunner().invoke(dangers, ["--gpkg", str(gpkg), "--hazards", str(hz), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["sites"] == 3 and summary["level_kind"] == "hazard"
    top = {t["danger_uid"]: t for t in summary["top"]}
    # DEM found at HAZARDS/../terrain/dem.tif: the slide reaches village A's 3 houses (60 residents / 6 houses)
    assert top["geohazard_site:DZ1"]["people"] == pytest.approx(30.0)
    layers = dict(pyogrio.list_layers(gpkg))
    assert layers["danger_remediation"] == "Point" and layers["danger_threat_zones"] == "MultiPolygon"
    lst = pyogrio.read_dataframe(gpkg, layer="danger_remediation")
    assert sorted(lst["rank_county"]) == [1, 2, 3]
    assert set(lst["level_kind"]) == {"hazard"}
    dz = lst.set_index("danger_uid").loc["geohazard_site:DZ1"]
    assert dz["level"] == 1 and dz["zone_method"] == "runout"
    wb = load_workbook(out)
    assert wb.sheetnames == ["全县", "甲镇", "说明"]
    ws = wb["全县"]
    assert ws.cell(2, 1).value == "全县排序" and ws.max_row == 2 + 3
    assert any("致灾危险性等级，不是风险等级" in (c.value or "") for c in wb["说明"]["A"])
    # re-running replaces, never duplicates
    r = CliRunner().invoke(dangers, ["--gpkg", str(gpkg), "--hazards", str(hz), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert len(pyogrio.read_dataframe(gpkg, layer="danger_remediation")) == 3
    assert "重点隐患 3 处" in r.stdout


def test_dangers_uses_the_risk_grid_when_the_assessment_has_run(county, tmp_path):
    import shutil

    import geopandas as gpd
    import pyogrio
    from click.testing import CliRunner

    from census_cli.cmd_risk_extra import dangers

    gpkg, hz = county
    g2 = tmp_path / "with_risk.gpkg"
    shutil.copy(gpkg, g2)
    t = pyogrio.read_dataframe(g2, layer="townships")
    grid = gpd.GeoDataFrame({"cell_id": ["c1"], "geological_level": [2], "flood_level": [4],
                             "comprehensive_level": [3]}, geometry=t.geometry.values, crs=4490)
    pyogrio.write_dataframe(grid, g2, layer="risk_grid")
    r = CliRunner().invoke(dangers, ["--gpkg", str(g2), "--hazards", str(hz), "--out", str(tmp_path / "l.xlsx"),
                                     "--json"])
    assert r.exit_code == 0, r.output
    lst = pyogrio.read_dataframe(g2, layer="danger_remediation").set_index("danger_uid")
    assert set(lst["level_kind"]) == {"risk"}
    assert lst.loc["geohazard_site:DZ1", "level"] == 2 and lst.loc["geohazard_site:DZ1", "level_source"] == \
        "risk_grid.geological_level"
    assert lst.loc["dyke:DK1#1", "level"] == 4 and lst.loc["key_hidden_danger:YH2", "level"] == 3
    assert "位于较高风险区" in lst.loc["geohazard_site:DZ1", "reason_zh"]


def test_dangers_command_usage_errors(tmp_path, county):
    from click.testing import CliRunner

    from census_cli.cmd_risk_extra import dangers

    gpkg, hz = county
    r = CliRunner().invoke(dangers, ["--gpkg", str(tmp_path / "none.gpkg"), "--hazards", str(hz), "--out", "x.xlsx"])
    assert r.exit_code == 2 and "--gpkg" in r.output
    r = CliRunner().invoke(dangers, ["--gpkg", str(gpkg), "--hazards", str(hz), "--dem", str(tmp_path / "no.tif"),
                                     "--out", str(tmp_path / "x.xlsx")])
    assert r.exit_code == 2 and "--dem" in r.output
    r = CliRunner().invoke(dangers, ["--help"])
    assert r.exit_code == 0 and "Example" in r.output and "census risk dangers" in r.output


def test_chemical_layers_map_to_buffers_by_level_and_grade():
    import geopandas as gpd
    from shapely.geometry import Point

    from risk.danger_sites import _chemical_rows

    ent = gpd.GeoDataFrame([
        {"enterprise_name": "甲化工", "credit_code": "C1", "township_code": "211481001", "major_hazard": "1",
         "major_hazard_level": "2", "max_storage_t": 500.0, "emergency_plan": "1", "people_within_1km": 800,
         "census_uuid": "e1"},
        {"enterprise_name": "乙加油站", "credit_code": "C2", "township_code": "211481001", "major_hazard": "0",
         "major_hazard_level": None, "max_storage_t": 40.0, "emergency_plan": "0", "people_within_1km": 50,
         "census_uuid": "e2"}], geometry=[Point(120.5, 40.5), Point(120.6, 40.5)], crs=4490)
    rows = _chemical_rows(ent, "hazardous_chemical_enterprise")
    assert [r["scale"] for r in rows] == ["major_2", "no_major"]
    assert [tz.CHEMICAL_BUFFERS[r["scale"]].radius_m for r in rows] == [1200.0, 300.0]
    assert [r["remediation"] for r in rows] == ["monitored", "untreated"]
    assert rows[0]["severity"] > rows[1]["severity"] and rows[0]["reported_people"] == 800
    site = gpd.GeoDataFrame([{"site_id": "S1", "site_name": "园区", "township_code": "211481001", "safety_grade": "A",
                              "major_danger_count": 2, "rectification_progress": "in_progress", "people_within_1km": 9,
                              "census_uuid": "s1"}], geometry=[Point(120.5, 40.5)], crs=4490)
    (r,) = _chemical_rows(site, "chemical_danger_site")
    assert r["scale"] == "grade_A" and r["remediation"] == "in_progress" and r["severity"] == 1.0
