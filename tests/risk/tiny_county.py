"""A tiny synthetic county geodatabase and hazard folder, built in code for the risk tests.

Two townships side by side (A west, B east), two villages each, a dozen buildings, capacity returns, village
population, three facilities; hazard rasters on a 0.001° grid. The western strip (lon < 120.010) is flooded
1 m deep at every return period, so a flooded one-storey residential building has the hand-computable
expected annual loss 0.494 × value × 0.3 (see test_risk_assess.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TOWNSHIPS = {"211481001": (120.00, 120.02), "211481002": (120.02, 120.04)}
LAT0, LAT1, LATM = 40.00, 40.02, 40.01
FLOOD_EDGE = 120.010
VILLAGE_POP = {"211481001001": 300.0, "211481001002": 200.0, "211481002001": 400.0, "211481002002": 100.0}


def _box(lon, lat, half=0.0001):
    import shapely

    return shapely.box(lon - half, lat - half, lon + half, lat + half)


def village_of(lon: float, lat: float) -> str:
    t = "211481001" if lon < 120.02 else "211481002"
    return t + ("001" if lat < LATM else "002")


# (id, lon, lat, form, use, structure, floors, floor_area, year_band, extra)
BUILDINGS = [
    ("R1", 120.005, 40.005, "rural_house", "residence", "brick_concrete", 1, 100.0, "3", {"seismic_measures": "none"}),
    ("R2", 120.006, 40.015, "rural_house", "residence", "masonry", 1, 120.0, "1", {"seismic_measures": "none"}),
    ("R3", 120.015, 40.005, "rural_house", "residence", "brick_concrete", 2, 200.0, "4",
     {"seismic_measures": "ring_beam tie_column rc_slab", "professional_design": "1"}),
    ("R4", 120.016, 40.016, "rural_house", "commerce", "rc_frame", 2, 300.0, "5", {"seismic_measures": "ring_beam"}),
    ("R5", 120.025, 40.005, "rural_house", "residence", "earth_wood", 1, 80.0, "1", {"seismic_measures": "none"}),
    ("R6", 120.026, 40.006, "rural_house", "residence", "wood", 1, 90.0, "2", {"seismic_measures": "none"}),
    ("R7", 120.035, 40.015, "rural_house", "residence", "brick_concrete", 1, 110.0, "6",
     {"seismic_measures": "ring_beam tie_column", "retrofitted": "1"}),
    ("RX", 120.036, 40.016, "rural_house", "residence", "masonry", 1, 999.0, "2",
     {"seismic_measures": "none", "census_state": "rejected"}),
    ("U1", 120.012, 40.012, "urban_house", "residence", "rc_frame", 6, 3000.0, "5", {"design_code": "gb50011_2010"}),
    ("U2", 120.008, 40.011, "urban_house", "education", "brick_concrete", 3, 1500.0, "3", {"design_code": "gbj11_89"}),
    ("U3", 120.032, 40.004, "urban_house", "office", "steel", 4, 2000.0, "4", {"design_code": "gb50011_2001"}),
    ("U4", 120.033, 40.014, "urban_house", "residence", "brick_concrete", 5, 2500.0, "2", {"design_code": "unknown"}),
]


def raster_values(layer: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    if layer.startswith("flood_depth_rp"):
        return np.where(lon < FLOOD_EDGE, 1.0, 0.0)
    return {
        "eq_pga_475": 0.10 + 0.10 * (lon > 120.02),
        "eq_pga_scenario": np.full(lon.shape, 0.15),
        "storm_surge_depth": np.where(lat < 40.002, 0.6, 0.0),
        "wind_gust": np.full(lon.shape, 30.0),
        "geo_susceptibility": np.where(lat > 40.015, 2, 4),
        "rainstorm": np.full(lon.shape, 160.0),
        "drought": np.full(lon.shape, 0.5),
        "fire_danger": np.where(lon > 120.03, 0.7, 0.3),
    }[layer]


def write_hazards(directory: Path) -> Path:
    from affine import Affine

    from hazards.io import make_dataarray, write_geotiff
    from hazards.registry import get_layer

    directory.mkdir(parents=True, exist_ok=True)
    res = 0.001
    west, north, width, height = 119.99, 40.03, 60, 40
    lon = west + (np.arange(width) + 0.5) * res
    lat = north - (np.arange(height) + 0.5) * res
    LON, LAT = np.meshgrid(lon, lat)
    tr = Affine(res, 0, west, 0, -res, north)
    for layer in ("eq_pga_475", "eq_pga_scenario", "flood_depth_rp10", "flood_depth_rp20", "flood_depth_rp50",
                  "flood_depth_rp100", "storm_surge_depth", "wind_gust", "geo_susceptibility", "rainstorm",
                  "drought", "fire_danger"):
        spec = get_layer(layer)
        arr = np.asarray(raster_values(layer, LON, LAT)).astype(spec.dtype)
        da = make_dataarray(arr, tr, nodata=spec.nodata, name=layer, attrs={"layer_id": layer})
        write_geotiff(da, directory / f"{layer}.tif")
    return directory


def write_county(path: Path) -> Path:
    import geopandas as gpd
    import pandas as pd
    import shapely

    from geodb import gpkg

    crs = "EPSG:4490"
    path.parent.mkdir(parents=True, exist_ok=True)
    tw = gpd.GeoDataFrame({"code": list(TOWNSHIPS), "name": ["甲镇", "乙镇"]},
                          geometry=[shapely.MultiPolygon([shapely.box(a, LAT0, b, LAT1)]) for a, b in TOWNSHIPS.values()],
                          crs=crs)
    vrows = []
    for t, (a, b) in TOWNSHIPS.items():
        vrows.append((t + "001", f"{t}南村", t, shapely.box(a, LAT0, b, LATM)))
        vrows.append((t + "002", f"{t}北村", t, shapely.box(a, LATM, b, LAT1)))
    vil = gpd.GeoDataFrame({"code": [r[0] for r in vrows], "name": [r[1] for r in vrows],
                            "township_code": [r[2] for r in vrows]},
                           geometry=[shapely.MultiPolygon([r[3]]) for r in vrows], crs=crs)
    county = gpd.GeoDataFrame({"code": ["211481"], "name": ["测试县"]},
                              geometry=[shapely.MultiPolygon([shapely.box(120.0, LAT0, 120.04, LAT1)])], crs=crs)
    gpkg.write_layer(path, county, "county", geometry_type="MultiPolygon")
    gpkg.write_layer(path, tw, "townships", geometry_type="MultiPolygon")
    gpkg.write_layer(path, vil, "villages", geometry_type="MultiPolygon")
    for form in ("rural_house", "urban_house"):
        rows, geoms = [], []
        for bid, lon, lat, f, use, st, floors, area, band, extra in BUILDINGS:
            if f != form:
                continue
            v = village_of(lon, lat)
            row = {"building_id": bid, "village_code": v, "use": use, "structure_type": st, "floors": floors,
                   "floor_area": area, "year_built": 1975 + 7 * int(band), "year_band": band,
                   "professional_design": extra.get("professional_design", "0" if form == "rural_house" else "1"),
                   "retrofitted": extra.get("retrofitted", "0"), "census_uuid": f"uuid-{bid}",
                   "census_state": extra.get("census_state", "received"), "census_township": v[:9]}
            if form == "rural_house":
                row["seismic_measures"] = extra.get("seismic_measures", "none")
                row["construction_method"] = "self"
            else:
                row.update(township_code=v[:9], design_code=extra.get("design_code"), fortification_intensity="7")
            rows.append(row)
            geoms.append(_box(lon, lat))
        gpkg.write_layer(path, gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=crs), form,
                         geometry_type="Polygon")
    pop = pd.DataFrame({"village_code": list(VILLAGE_POP), "township_code": [v[:9] for v in VILLAGE_POP],
                        "resident_population": list(VILLAGE_POP.values()), "census_state": "received"})
    gpkg.write_layer(path, pop, "village_population")
    tcap = pd.DataFrame({
        "township_code": list(TOWNSHIPS), "fulltime_staff": [10, 2], "parttime_staff": [4, 2], "info_officers": [2, 1],
        "emergency_plan": ["1", "0"], "plan_revised_year": [2020, None], "drills_2020": [3, 0],
        "drill_participants_2020": [250, 0], "trainees_2020": [100, 10], "shelters_count": [2, 0],
        "shelters_capacity": [400, 0], "warning_means": ["broadcast sms wechat", "gong"], "has_warehouse": ["1", "0"],
        "reserve_items": [json.dumps([{"item_type": "tent", "item_quantity": 20}]), "[]"],
        "rescue_teams": [json.dumps([{"team_type": "medical", "team_members": 20}]), "[]"],
        "team_members_total": [20, 0], "census_state": "received"})
    gpkg.write_layer(path, gpd.GeoDataFrame(tcap, geometry=[shapely.Point(120.01, 40.01), shapely.Point(120.03, 40.01)],
                                            crs=crs), "township_capacity", geometry_type="Point")
    vcap = pd.DataFrame({
        "village_code": list(VILLAGE_POP), "township_code": [v[:9] for v in VILLAGE_POP],
        "resident_population": list(VILLAGE_POP.values()), "fulltime_staff": [2, 1, 3, 0], "parttime_staff": [1, 1, 0, 0],
        "info_officers": [1, 1, 1, 0], "emergency_plan": ["1", "1", "1", "0"], "plan_revised_year": [2019, 2010, 2020, None],
        "risk_map": ["1", "0", "1", "0"], "vulnerable_list": ["1", "0", "0", "0"], "drills_2020": [1, 0, 2, 0],
        "drill_participants_2020": [50, 0, 120, 0], "shelters_count": [1, 0, 1, 0], "shelters_capacity": [100, 0, 300, 0],
        "warning_means": ["broadcast", "gong", "sms wechat broadcast", ""], "has_warehouse": ["0", "0", "1", "0"],
        "reserve_items": ["[]", "[]", json.dumps([{"item_type": "sandbag", "item_quantity": 100}]), "[]"],
        "rescue_teams": ["[]", "[]", json.dumps([{"team_type": "volunteer", "team_members": 15}]), "[]"],
        "demo_community": ["0", "0", "1", "0"], "demo_level": [None, None, "provincial", None], "census_state": "received"})
    gpkg.write_layer(path, gpd.GeoDataFrame(vcap, geometry=[shapely.Point(120.01, 40.005)] * 4, crs=crs),
                     "village_capacity", geometry_type="Point")
    fac = pd.DataFrame({"facility_id": ["F1", "F2", "F3"], "facility_type": ["school", "hospital", "clinic"],
                        "students": [400, None, None], "boarding": ["1", None, None], "staff": [30, 50, 2],
                        "beds": [None, 100, 4], "census_state": "received"})
    gpkg.write_layer(path, gpd.GeoDataFrame(fac, geometry=[shapely.Point(120.008, 40.011), shapely.Point(120.032, 40.004),
                                                           shapely.Point(120.016, 40.016)], crs=crs),
                     "public_facility", geometry_type="Point")
    return path


def build(tmp: Path) -> tuple[Path, Path]:
    """(county gpkg, hazards dir) under ``tmp``."""
    return write_county(tmp / "county" / "211481.gpkg"), write_hazards(tmp / "hazards")
