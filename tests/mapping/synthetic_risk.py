"""Synthetic ``risk_*`` layers that follow the risk outputs contract exactly, for testing maps and the report
before (and independently of) the real assessment.

:func:`write_synthetic_risk` adds ``risk_grid``, ``risk_townships``, ``risk_breaks`` and ``risk_runs`` to a
county GeoPackage: 1 km cells built in the county's Gauss-Krüger zone and stored in EPSG:4490, exposure
counted from the county's own house records, smooth plausible hazard fields, indices, five levels by the
fixed 0.2/0.4/0.6/0.8 breaks, a prevention zone by a simple documented rule, and one run row.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import numpy as np

FIXED_BREAKS = (0.2, 0.4, 0.6, 0.8)
LOSS_HAZARDS = ("earthquake", "flood", "storm_surge", "wind")


def _levels(index: np.ndarray) -> np.ndarray:
    """1 (highest) … 5 by the fixed breaks; NaN → 0."""
    lv = 5 - np.digitize(np.nan_to_num(index, nan=0.0), FIXED_BREAKS)
    return np.where(np.isnan(index), 0, lv).astype("int64")


def _prevention(comp_level: np.ndarray, max_hazard_level_1: np.ndarray) -> np.ndarray:
    # key: comprehensive level 1–2; secondary: level 3, or any single hazard at level 1; general: the rest
    out = np.where(comp_level <= 2, "key", np.where((comp_level == 3) | max_hazard_level_1, "secondary", "general"))
    return np.where(comp_level == 0, None, out).astype(object)


def _field(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth 0–1 field over normalised coordinates: two bumps and a gentle tilt."""
    out = np.zeros_like(x)
    for _ in range(2):
        cx, cy, s = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.2, 0.45)
        out += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
    out += rng.uniform(-0.4, 0.4) * x + rng.uniform(-0.4, 0.4) * y
    out = (out - out.min()) / max(out.max() - out.min(), 1e-9)
    return out


def write_synthetic_risk(gpkg: str | Path, *, grid_m: float = 1000.0, seed: int = 7,
                         hazards_dir: str | Path = "/nonexistent/hazards") -> dict:
    """Write the four risk layers into ``gpkg``; returns a small summary (cell and township counts)."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    import shapely
    from pyproj import Transformer

    from exposure.footprints import gk_crs_for
    from geodb.gpkg import write_layer
    from risk.registry import RISK_HAZARDS, comprehensive_weights

    rng = np.random.default_rng(seed)
    gpkg = Path(gpkg)
    county = shapely.union_all(pyogrio.read_dataframe(gpkg, layer="county").geometry.values)
    towns = pyogrio.read_dataframe(gpkg, layer="townships")
    gk = gk_crs_for(county.centroid.x)
    to_gk = Transformer.from_crs("EPSG:4490", gk, always_xy=True)
    to_geo = Transformer.from_crs(gk, "EPSG:4490", always_xy=True)
    county_gk = shapely.transform(county, lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1])))
    minx, miny, maxx, maxy = county_gk.bounds
    x0, y0 = np.floor(minx / grid_m) * grid_m, np.floor(miny / grid_m) * grid_m
    nx, ny = int(np.ceil((maxx - x0) / grid_m)), int(np.ceil((maxy - y0) / grid_m))
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny))
    ix, iy = ix.ravel(), iy.ravel()
    cells_gk = shapely.box(x0 + ix * grid_m, y0 + iy * grid_m, x0 + (ix + 1) * grid_m, y0 + (iy + 1) * grid_m)
    keep = shapely.intersects(cells_gk, county_gk)
    cells_gk, ix, iy = cells_gk[keep], ix[keep], iy[keep]
    cells = shapely.transform(cells_gk, lambda xy: np.column_stack(to_geo.transform(xy[:, 0], xy[:, 1])))
    n = len(cells)

    # township by majority of area
    tgeoms = towns.geometry.values
    best = np.full(n, -1.0)
    tcode = np.empty(n, dtype=object)
    for code, g in zip(towns["code"].astype(str), tgeoms):
        a = shapely.area(shapely.intersection(cells, g))
        better = a > best
        best[better] = a[better]
        tcode[better] = code

    # exposure from the county's house records
    frames = []
    for layer in ("rural_house", "urban_house"):
        info = dict(pyogrio.list_layers(gpkg))
        if layer in info:
            df = pyogrio.read_dataframe(gpkg, layer=layer, columns=["floor_area"])
            df = df[df.geometry.notna()]
            frames.append(df)
    houses = pd.concat(frames, ignore_index=True) if frames else None
    buildings = np.zeros(n)
    floor = np.zeros(n)
    if houses is not None and len(houses):
        c = shapely.centroid(houses.geometry.values)
        hx, hy = to_gk.transform(shapely.get_x(c), shapely.get_y(c))
        hi = np.floor((np.asarray(hx) - x0) / grid_m).astype(int)
        hj = np.floor((np.asarray(hy) - y0) / grid_m).astype(int)
        lookup = {(a, b): k for k, (a, b) in enumerate(zip(ix, iy))}
        fa = pd.to_numeric(houses["floor_area"], errors="coerce").fillna(0).to_numpy()
        for a, b, f in zip(hi, hj, fa):
            k = lookup.get((a, b))
            if k is not None:
                buildings[k] += 1
                floor[k] += f
    value = floor * 2200.0
    population = floor / 35.0
    expo = np.clip(np.log10(1 + floor) / 5.0, 0, 1)

    xn = (ix + 0.5) / max(nx, 1)
    yn = (iy + 0.5) / max(ny, 1)
    cols: dict[str, np.ndarray] = {}
    weights = comprehensive_weights()
    comp = np.zeros(n)
    for h in RISK_HAZARDS:
        hazard = _field(xn, yn, rng)
        index = np.clip(hazard * (0.45 + 0.55 * expo) + rng.normal(0, 0.03, n), 0, 1)
        cols[f"{h.id}_loss"] = value * index * 2e-4 if h.is_loss else np.full(n, np.nan)
        cols[f"{h.id}_index"] = index
        cols[f"{h.id}_level"] = _levels(index)
        cols[f"{h.id}_hazard_level"] = _levels(hazard)
        comp += weights[h.id] * index
    comp = np.clip(comp / max(comp.max(), 1e-9) * 0.95, 0, 1)
    hazard_ids = [h.id for h in RISK_HAZARDS]
    stack = np.column_stack([weights[h] * cols[f"{h}_index"] for h in hazard_ids])
    dominant = np.asarray(hazard_ids, dtype=object)[stack.argmax(axis=1)]
    any1 = np.column_stack([cols[f"{h}_level"] == 1 for h in hazard_ids]).any(axis=1)
    comp_level = _levels(comp)
    grid = gpd.GeoDataFrame({
        "cell_id": [f"{a:04d}_{b:04d}" for a, b in zip(ix, iy)], "township_code": tcode.astype(str),
        "buildings": buildings.astype("int64"), "floor_area": floor, "value_cny": value, "population": population,
        **cols, "comprehensive_index": comp, "comprehensive_level": comp_level,
        "prevention_zone": _prevention(comp_level, any1), "dominant_hazard": dominant,
    }, geometry=cells, crs="EPSG:4490")

    # townships: sums of exposure and loss, value-weighted indices
    trows = []
    for code, name, g in zip(towns["code"].astype(str), towns["name"], tgeoms):
        m = grid["township_code"] == code
        sub = grid[m]
        w = sub["value_cny"].to_numpy() + 1.0
        row = {"township_code": code, "township_name": name, "buildings": int(sub["buildings"].sum()),
               "floor_area": float(sub["floor_area"].sum()), "value_cny": float(sub["value_cny"].sum()),
               "population": float(sub["population"].sum()), "capacity_index": float(rng.uniform(0.3, 0.9))}
        for h in RISK_HAZARDS:
            idx = float(np.average(sub[f"{h.id}_index"], weights=w)) if len(sub) else np.nan
            row[f"{h.id}_loss"] = float(sub[f"{h.id}_loss"].sum()) if h.is_loss else np.nan
            row[f"{h.id}_index"] = idx
            row[f"{h.id}_level"] = int(_levels(np.array([idx]))[0])
        ci = float(np.average(sub["comprehensive_index"], weights=w)) if len(sub) else np.nan
        row["comprehensive_index"] = ci
        row["comprehensive_level"] = int(_levels(np.array([ci]))[0])
        lv1 = any(row[f"{h.id}_level"] == 1 for h in RISK_HAZARDS)
        row["prevention_zone"] = _prevention(np.array([row["comprehensive_level"]]), np.array([lv1]))[0]
        row["dominant_hazard"] = max(hazard_ids, key=lambda h: weights[h] * row[f"{h}_index"])
        trows.append((row, shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g))
    rt = gpd.GeoDataFrame([r for r, _ in trows], geometry=[g for _, g in trows], crs="EPSG:4490")

    run_id = str(uuid.UUID(int=int(rng.integers(0, 2**62))))
    breaks = []
    for scope in ("grid", "townships"):
        for hz in (*hazard_ids, "comprehensive"):
            breaks.append({"scope": scope, "hazard": hz, "method": "fixed", "breaks": json.dumps(list(FIXED_BREAKS)),
                           "source_zh": "风险指数等间距五级（固定阈值）", "source_en": "equal-interval fixed thresholds",
                           "run_id": run_id})
    now = dt.datetime(2021, 6, 30, 8, 0, tzinfo=dt.UTC)
    runs = pd.DataFrame([{
        "run_id": run_id, "started_at": now.isoformat(), "finished_at": (now + dt.timedelta(seconds=42)).isoformat(),
        "hazards_dir": str(hazards_dir), "grid_m": float(grid_m), "method": "fixed", "engine": "synthetic-test",
        "buildings": int(buildings.sum()), "toolkit_version": "0.1.0",
        "notes": json.dumps({"weights": weights, "capacity_formula": "synthetic",
                             "unit_costs": "synthetic 2200 CNY/m²",
                             "prevention_rule": "综合风险一、二级为重点防治区；三级或任一灾种一级为次重点防治区；其余为一般防治区"},
                            ensure_ascii=False)}])
    write_layer(gpkg, grid, "risk_grid", geometry_type="Polygon")
    write_layer(gpkg, rt, "risk_townships", geometry_type="MultiPolygon")
    write_layer(gpkg, pd.DataFrame(breaks), "risk_breaks")
    write_layer(gpkg, runs, "risk_runs")
    return {"cells": n, "townships": len(rt), "run_id": run_id}
