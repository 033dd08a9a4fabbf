"""City-level assessment (市级风险评估与区划): every county of the city on one grid, aggregated to
townships and to county-level units.

The city GeoPackage (:mod:`geodb.city`) keeps the county layout (form layers, ``townships``,
``villages``), so :func:`risk.assess.assess_county` runs on it unchanged with city-wide hazard layers
(:mod:`hazards.mosaic`): one Gauss-Krüger grid across county borders, per-building, per-cell and
per-township risk. This module adds the county-level unit as a zoning unit, ``risk_counties``, with
**the same aggregation as townships** (:func:`risk.aggregate.finalize` over exact additive sums):

the sums are rebuilt from ``risk_buildings`` — every additive quantity is stored there, and the
value-weighted hazard × vulnerability of index hazards is recovered exactly from the stored building
index (for those hazards the building index is ∛(HV · LCC), so HV = index³ / LCC). The county breaks
are added to ``risk_breaks`` with scope ``counties``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from risk import outputs
from risk.assess import AssessmentResult, assess_county
from geodb import layers as L

COUNTY_LAYER = "risk_counties"


@dataclass
class CityAssessment:
    assessment: AssessmentResult
    counties: list[dict]          # per county: code, name, buildings, value, population, losses, levels
    level_counts: dict[str, dict[int, int]]

    def to_dict(self) -> dict:
        return {"assessment": self.assessment.to_dict(), "counties": self.counties, "county_levels": self.level_counts}


def _building_sums(gpkg: Path, ctx):
    """Per-building inputs of :func:`risk.aggregate.partial_sums`, rebuilt from ``risk_buildings``."""
    import pandas as pd

    from risk.compute import lack_of_coping_capacity

    df = L.read_dataframe(gpkg, "risk_buildings", read_geometry=False)
    b = pd.DataFrame({"value_cny": df["value_cny"], "residents": df["residents"], "capacity": df["capacity_index"],
                      "floor_area": df["floor_area"], "occupants_day": df["occupants_day"],
                      "occupants_night": df["occupants_night"]})
    res = pd.DataFrame({"total_loss": df["total_loss"]})
    lcc = lack_of_coping_capacity(df["capacity_index"].to_numpy(dtype="float64"))
    for hz in ctx.hazards:
        h = hz.id
        res[f"{h}_loss"] = df[f"{h}_loss"]
        res[f"{h}_people"] = df[f"{h}_people"]
        if not hz.is_loss:
            idx = df[f"{h}_index"].to_numpy(dtype="float64")
            res[f"_{h}_hv"] = idx ** 3 / lcc          # NaN stays NaN: no hazard value at that building
    if ctx.scenario_layer:
        res["earthquake_scenario_loss"] = df["earthquake_scenario_loss"]
    return b, res, df["township_code"].astype(str).str[:6].to_numpy()


def aggregate_counties(gpkg: str | Path, hazards_dir: str | Path, *, method: str = "fixed",
                       weights: dict[str, float] | None = None, run_id: str | None = None):
    """``risk_counties`` from ``risk_buildings`` (module doc); returns (frame, breaks)."""
    import geopandas as gpd
    import pandas as pd

    from exposure.footprints import STORAGE_CRS, gk_crs_for
    from hazards.registry import classify
    from risk.aggregate import finalize, partial_sums
    from risk.compute import RiskContext
    from risk.hazard_layers import load_hazard_layers, zonal_means

    gpkg = L.as_target(gpkg)
    stack = load_hazard_layers(hazards_dir)
    ctx = RiskContext.build(stack.hazards, stack.arrays, weights)
    b, res, county_of = _building_sums(gpkg, ctx)
    sums = partial_sums(b, res, county_of, ctx)
    counties = L.read_dataframe(gpkg, "counties")
    units = gpd.GeoDataFrame({"county_code": counties["code"].astype(str).to_numpy(),
                              "county_name": counties["name"].to_numpy()},
                             geometry=counties.geometry.values, crs=STORAGE_CRS)
    lon0 = float(np.mean(units.total_bounds[[0, 2]]))
    km2 = units.to_crs(gk_crs_for(lon0)).area.to_numpy() / 1e6
    towns = L.read_dataframe(gpkg, "risk_townships", read_geometry=False)
    tcap = pd.Series(towns["capacity_return_index"].to_numpy(), index=towns["township_code"].astype(str).str[:6])
    default_cap = units["county_code"].map(tcap.groupby(level=0).mean()).fillna(0.0).to_numpy()
    means = zonal_means(ctx.arrays, [hz.intensity_layer for hz in ctx.hazards], units)
    levels = {hz.id: classify(means[hz.intensity_layer], hz.intensity_layer, nodata=np.nan) for hz in ctx.hazards}
    out, breaks = finalize(units, sums, ctx, key="county_code", area_km2=km2, default_capacity=default_cap,
                           hazard_levels=levels, method=method)
    out["area_km2"] = km2
    if run_id:
        out["run_id"] = run_id
    outputs.write_features(gpkg, out, COUNTY_LAYER, "MultiPolygon",
                           description="风险评估：县级行政区 / risk per county-level unit")
    rows = [{"scope": "counties", "hazard": h, "method": zb.method, "breaks": json.dumps(list(zb.breaks)),
             "right_closed": int(zb.right_closed), "source_zh": zb.source_zh, "source_en": zb.source_en,
             "run_id": run_id} for h, zb in breaks]
    old = L.read_dataframe(gpkg, "risk_breaks", read_geometry=False)
    old = old[old["scope"] != "counties"]
    outputs.write_table(gpkg, pd.concat([old, pd.DataFrame(rows)], ignore_index=True), "risk_breaks",
                        description="风险分级断点 / zoning breaks")
    return out, breaks


def assess_city(gpkg, hazards_dir, grid_m: float = 1000, method: str = "fixed", engine: str = "pandas",
                progress: Callable[[int, int], None] | None = None, *,
                weights: dict[str, float] | None = None) -> CityAssessment:
    """Assess the whole city on one grid (buildings, cells, townships) and aggregate to counties."""
    r = assess_county(gpkg, hazards_dir, grid_m, method, engine, progress, weights=weights)
    frame, _ = aggregate_counties(gpkg, hazards_dir, method=method, weights=weights, run_id=r.run_id)
    loss_cols = [f"{h}_loss" for h in r.hazards if f"{h}_loss" in frame.columns]
    counties = []
    for _, row in frame.sort_values("county_code").iterrows():
        counties.append({
            "county": row["county_code"], "name": row["county_name"], "buildings": int(row["buildings"]),
            "value_cny": float(row["value_cny"]), "population": float(row["population"]),
            "total_loss": float(row["total_loss"]),
            "losses": {c.removesuffix("_loss"): float(np.nan_to_num(row[c])) for c in loss_cols},
            "comprehensive_index": float(row["comprehensive_index"]),
            "comprehensive_level": int(row["comprehensive_level"]), "prevention_zone": str(row["prevention_zone"]),
            "dominant_hazard": row["dominant_hazard"]})
    levels = {c.removesuffix("_level"): {int(k): int(v) for k, v in frame[c].value_counts().sort_index().items()}
              for c in frame.columns if c.endswith("_level") and not c.endswith("_hazard_level")}
    return CityAssessment(r, counties, levels)


__all__ = ["COUNTY_LAYER", "CityAssessment", "aggregate_counties", "assess_city"]
