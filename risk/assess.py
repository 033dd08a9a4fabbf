"""``census risk assess``: the whole county assessment, from the geodatabase and hazard layers to outputs.

Steps (each a function of its own module):

1. hazard layers (risk.hazard_layers) and exposure (exposure.buildings: value, residents, occupants);
2. capacity per township and village (exposure.capacity) → each building's capacity;
3. risk per building (risk.compute) — in one frame (``engine="pandas"``) or partitioned with
   dask-geopandas (``engine="dask"``, same numbers; per-building rows are written partition by partition);
4. sums per grid cell and township (risk.aggregate), hazard level of each area from coverage-weighted
   zonal means (hazards.zonal), indices, levels, prevention zones (risk.zoning);
5. layers into the county GeoPackage and GeoTIFFs (risk.outputs), run record and breaks.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from geodb import layers as L
from exposure.buildings import NOT_REJECTED, layer_names, load_exposure, read_layer
from exposure.capacity import township_capacity, village_capacity, weights_doc
from exposure.footprints import STORAGE_CRS, ExposureFileNotFound
from exposure.value import load_unit_costs
from hazards.registry import classify
from risk import outputs
from risk.aggregate import combine_sums, finalize, partial_sums
from risk.compute import RiskContext, building_risk
from risk.errors import RiskError
from risk.grid import cell_frame, county_cells, extend_for_points, make_grid, project
from risk.hazard_layers import load_hazard_layers, zonal_means
from risk.registry import LCC_FLOOR, RISK_HAZARD_IDS
from risk.zoning import METHODS, classify_levels

ENGINES = ("pandas", "dask")
CAPACITY_SHARE_TOWNSHIP = 0.5      # a building's capacity = 0.5 township index + 0.5 village index

BUILDING_ATTRS = ("census_uuid", "building_id", "form_id", "township_code", "village_code", "structure_type",
                  "floor_area", "value_cny", "residents", "occupants_day", "occupants_night")


@dataclass
class AssessmentResult:
    run_id: str
    gpkg: str
    hazards_dir: str
    grid_m: float
    method: str
    engine: str
    buildings: int
    cells: int
    townships: int
    villages: int
    hazards: list[str]
    missing_layers: dict[str, list[str]]
    value_cny: float
    population: float
    losses: dict[str, float]                 # CNY/yr per loss hazard, plus "total"
    people_exposed: dict[str, float]
    scenario_loss: float | None
    level_counts: dict[str, dict[str, dict[int, int]]]   # scope → hazard → level → count
    prevention_zones: dict[str, dict[str, int]]          # scope → zone → count
    facilities_high_risk: int
    rasters: list[str]
    elapsed_s: float
    notes: list[str] = field(default_factory=list)
    summary_zh: str = ""
    summary_en: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _progress(progress: Callable | None, total: int):
    state = {"done": 0}

    def step(n: int = 1) -> None:
        state["done"] += n
        if progress is not None:
            progress(min(state["done"], total), total)

    return step


# --------------------------------------------------------------------------------------------------
# capacity

def _capacities(gpkg: Path, townships, villages, village_pop: dict[str, float]):
    import pandas as pd

    tcodes = townships["code"].astype(str).tolist()
    vcodes = villages["code"].astype(str).tolist()
    tpop: dict[str, float] = {}
    for v, p in village_pop.items():
        tpop[v[:9]] = tpop.get(v[:9], 0.0) + p
    names = set(layer_names(gpkg))
    tdf = read_layer(gpkg, "township_capacity", where=NOT_REJECTED, geometry=False) \
        if "township_capacity" in names else pd.DataFrame({"township_code": []})
    vdf = read_layer(gpkg, "village_capacity", where=NOT_REJECTED, geometry=False) \
        if "village_capacity" in names else pd.DataFrame({"village_code": []})
    return township_capacity(tdf, tcodes, tpop), village_capacity(vdf, vcodes, village_pop)


# --------------------------------------------------------------------------------------------------
# per-building processing (shared by both engines)

def _process(part, ctx: RiskContext, run_id: str):
    """One slice of buildings → (output frame, grid sums, township sums)."""
    import geopandas as gpd

    res = building_risk(part, ctx)
    gsum = partial_sums(part, res, part["_cell"].to_numpy(), ctx)
    tsum = partial_sums(part, res, part["township_code"].astype(str).to_numpy(), ctx)
    keep = [c for c in res.columns if not c.startswith("_")]
    out = gpd.GeoDataFrame(part[list(BUILDING_ATTRS)].copy(), geometry=part.geometry.values, crs=STORAGE_CRS)
    for c in keep:
        out[c] = res[c].to_numpy()
    out["run_id"] = run_id
    return out, gsum, tsum


def _level_counts(frame, cols) -> dict[str, dict[int, int]]:
    return {c.removesuffix("_level"): {int(k): int(v) for k, v in frame[c].value_counts().sort_index().items()}
            for c in cols}


def _add_counts(acc: dict, more: dict) -> None:
    for h, counts in more.items():
        d = acc.setdefault(h, {})
        for k, v in counts.items():
            d[k] = d.get(k, 0) + v


def _run_pandas(b, ctx, gpkg: Path, run_id: str, write: bool):
    out, gsum, tsum = _process(b, ctx, run_id)
    counts = _level_counts(out, [c for c in out.columns if c.endswith("_level")])
    if write:
        outputs.write_features(gpkg, out, "risk_buildings", outputs.geometry_type_of(out, "Polygon"),
                               description="风险评估：逐栋房屋 / risk per building")
    return gsum, tsum, counts, out


def _run_dask(b, ctx, gpkg: Path, run_id: str, write: bool, npartitions: int | None):
    """Partitioned with dask-geopandas; partitions run two at a time on threads and are written in order."""
    import dask
    import dask_geopandas

    n = npartitions or max(2, min(64, math.ceil(len(b) / 50_000)))
    with dask.config.set({"dataframe.convert-string": False}):   # keep object columns exactly as pandas has them
        ddf = dask_geopandas.from_geopandas(b, npartitions=n)
    parts = ddf.to_delayed()
    tasks = [dask.delayed(_process)(p, ctx, run_id) for p in parts]
    gparts, tparts, counts = [], [], {}
    first = True
    geom_type = outputs.geometry_type_of(b, "Polygon")
    for i in range(0, len(tasks), 2):
        for out, gsum, tsum in dask.compute(*tasks[i:i + 2], scheduler="threads", num_workers=2):
            gparts.append(gsum)
            tparts.append(tsum)
            _add_counts(counts, _level_counts(out, [c for c in out.columns if c.endswith("_level")]))
            if write and len(out):
                outputs.write_features(gpkg, out, "risk_buildings", geom_type, append=not first,
                                       description="风险评估：逐栋房屋 / risk per building")
                first = False
    return combine_sums(gparts), combine_sums(tparts), counts, None


# --------------------------------------------------------------------------------------------------

def _area_hazard_levels(polys_4490, ctx: RiskContext) -> dict[str, np.ndarray]:
    """Hazard level of each area from the coverage-weighted mean of the hazard's intensity layer."""
    means = zonal_means(ctx.arrays, [hz.intensity_layer for hz in ctx.hazards], polys_4490)
    return {hz.id: classify(means[hz.intensity_layer], hz.intensity_layer, nodata=np.nan) for hz in ctx.hazards}


def _breaks_rows(scope: str, breaks, run_id: str) -> list[dict]:
    return [{"scope": scope, "hazard": h, "method": zb.method, "breaks": json.dumps(list(zb.breaks)),
             "right_closed": int(zb.right_closed), "source_zh": zb.source_zh, "source_en": zb.source_en,
             "run_id": run_id} for h, zb in breaks]


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("census-toolkit")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def assess_county(gpkg, hazards_dir, grid_m: float = 1000, method: str = "fixed", engine: str = "pandas",
                  progress: Callable[[int, int], None] | None = None, *, weights: dict[str, float] | None = None,
                  npartitions: int | None = None, write: bool = True) -> AssessmentResult:
    """Assess every hazard for the county in ``gpkg`` with the layers in ``hazards_dir`` (module doc).

    ``method`` zones grid cells and townships (buildings always use the fixed thresholds, so a building's
    level does not depend on its neighbours); ``progress(done, total)`` is called after each step.
    """
    import geopandas as gpd
    import pandas as pd

    t0 = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    gpkg = L.as_target(gpkg)
    if not L.exists(gpkg):
        raise ExposureFileNotFound(gpkg)
    if method not in METHODS:
        raise RiskError(f"未知的分级方法“{method}”；可用：{', '.join(METHODS)}",
                        f"unknown classification method '{method}'; use one of {', '.join(METHODS)}")
    if engine not in ENGINES:
        raise RiskError(f"未知的计算引擎“{engine}”；可用：{', '.join(ENGINES)}",
                        f"unknown engine '{engine}'; use one of {', '.join(ENGINES)}")
    step = _progress(progress, 7)
    run_id = uuid.uuid4().hex[:12]
    notes: list[str] = []

    stack = load_hazard_layers(hazards_dir)
    ctx = RiskContext.build(stack.hazards, stack.arrays, weights)
    for h, layers in stack.missing.items():
        notes.append(f"{h}: missing layers {', '.join(layers)}"
                     + ("" if h in [x.id for x in stack.hazards] else " — not assessed"))
    exposure = load_exposure(gpkg)
    notes += exposure.notes
    townships = read_layer(gpkg, "townships")
    villages = read_layer(gpkg, "villages")
    step()

    tcap, vcap = _capacities(gpkg, townships, villages, exposure.village_population)
    if (~tcap["has_return"]).any():
        notes.append(f"{int((~tcap['has_return']).sum())} townships without a capacity return (capacity 0)")
    b = exposure.buildings
    located = np.isfinite(b["lon"].to_numpy()) & np.isfinite(b["lat"].to_numpy())
    if not located.all():
        notes.append(f"{int((~located).sum())} buildings without a footprint are left out")
        b = b.loc[located].reset_index(drop=True)
    tmap = dict(zip(tcap["township_code"], tcap["capacity_index"]))
    vmap = dict(zip(vcap["village_code"], vcap["capacity_index"]))
    known_t = set(townships["code"].astype(str))
    unknown = ~b["township_code"].astype(str).isin(known_t)
    if unknown.any():
        from exposure.footprints import join_divisions

        fixed = join_divisions(b.loc[unknown, ["geometry"]], townships, villages)
        b.loc[unknown, "township_code"] = fixed["township_code"].to_numpy()
        notes.append(f"{int(unknown.sum())} buildings placed in their township by location")
    b["township_code"] = b["township_code"].astype(str)
    b["capacity"] = (CAPACITY_SHARE_TOWNSHIP * b["township_code"].map(tmap).fillna(0.0).to_numpy()
                     + (1 - CAPACITY_SHARE_TOWNSHIP) * b["village_code"].astype(str).map(vmap).fillna(0.0).to_numpy())
    spec = make_grid(townships, grid_m)
    x, y = project(b["lon"].to_numpy(), b["lat"].to_numpy(), spec.crs)
    spec = extend_for_points(spec, x, y)
    b["_cell"] = spec.keys(x, y)
    step()

    if engine == "pandas" or len(b) == 0:     # nothing to partition: one (possibly empty) frame
        gsum, tsum, bcounts, _ = _run_pandas(b, ctx, gpkg, run_id, write)
    else:
        gsum, tsum, bcounts, _ = _run_dask(b, ctx, gpkg, run_id, write, npartitions)
    step()

    keys = np.union1d(county_cells(spec, townships), np.unique(b["_cell"].to_numpy()))
    cells = cell_frame(spec, keys, townships)
    cells4490 = cells.to_crs(STORAGE_CRS)
    cell_default = cells["township_code"].map(tmap).fillna(0.0).to_numpy()
    grid, gbreaks = finalize(cells4490, gsum, ctx, key="key", area_km2=cells["area_km2"].to_numpy(),
                             default_capacity=cell_default, hazard_levels=_area_hazard_levels(cells4490, ctx),
                             method=method)
    step()

    tw = gpd.GeoDataFrame({"township_code": townships["code"].astype(str).to_numpy(),
                           "township_name": townships["name"].to_numpy() if "name" in townships.columns else None},
                          geometry=townships.geometry.values, crs=STORAGE_CRS)
    t_area = tw.to_crs(spec.crs).area.to_numpy() / 1e6
    tw_out, tbreaks = finalize(tw, tsum, ctx, key="township_code", area_km2=t_area,
                               default_capacity=tw["township_code"].map(tmap).fillna(0.0).to_numpy(),
                               hazard_levels=_area_hazard_levels(tw, ctx), method=method)
    tw_out["area_km2"] = t_area
    tw_out["capacity_return_index"] = tw_out["township_code"].map(tmap).fillna(0.0).to_numpy()
    extra_t = sorted(set(tsum.index) - known_t) if tsum is not None else []
    if extra_t:
        notes.append(f"buildings of unknown townships {extra_t} are counted in the grid but not in risk_townships")
    vil = gpd.GeoDataFrame({
        "village_code": villages["code"].astype(str).to_numpy(),
        "township_code": (villages["township_code"].astype(str).to_numpy() if "township_code" in villages.columns
                          else villages["code"].astype(str).str[:9].to_numpy()),
        "village_name": villages["name"].to_numpy() if "name" in villages.columns else None},
        geometry=villages.geometry.values, crs=STORAGE_CRS)
    vil["population"] = vil["village_code"].map(exposure.village_population).astype("float64").to_numpy()
    vil["capacity_index"] = vil["village_code"].map(vmap).fillna(0.0).to_numpy()
    vil["has_capacity_return"] = vil["village_code"].map(dict(zip(vcap["village_code"], vcap["has_return"]))) \
        .fillna(False).astype(np.int32).to_numpy()
    vil["run_id"] = run_id
    step()

    rasters: list[Path] = []
    bbreaks = [(h, classify_levels(np.zeros(0), "fixed")[1]) for h in (*[x.id for x in ctx.hazards], "comprehensive")]
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    unit_costs = load_unit_costs()
    run_notes = {
        "unit_costs": {"source_zh": unit_costs.source_zh, "source_en": unit_costs.source_en,
                       "price_year": unit_costs.price_year},
        "weights": dict(ctx.weights),
        "capacity": {"formula": f"C_building = {CAPACITY_SHARE_TOWNSHIP} C_township + "
                                f"{1 - CAPACITY_SHARE_TOWNSHIP} C_village; LCC = {LCC_FLOOR} + "
                                f"{1 - LCC_FLOOR} (1 − C); R = HEV^(2/3) · LCC^(1/3)",
                     "indicators": weights_doc()},
        "hazard_sources": {h.id: {"source": h.source, "curve": h.curve_source} for h in ctx.hazards},
        "notes": notes,
    }
    if write:
        grid_w = grid.drop(columns=["key"])
        grid_w["run_id"] = run_id
        outputs.write_features(gpkg, grid_w, "risk_grid", "Polygon", description="风险评估：格网 / risk grid")
        tw_w = tw_out.copy()
        tw_w["run_id"] = run_id
        outputs.write_features(gpkg, tw_w, "risk_townships", "MultiPolygon",
                               description="风险评估：乡镇 / risk per township")
        outputs.write_features(gpkg, vil, "risk_villages", "MultiPolygon",
                               description="村（社区）人口与减灾能力 / villages: population and capacity")
        rows = _breaks_rows("buildings", bbreaks, run_id) + _breaks_rows("grid", gbreaks, run_id) \
            + _breaks_rows("townships", tbreaks, run_id)
        outputs.write_table(gpkg, pd.DataFrame(rows), "risk_breaks", description="风险分级断点 / zoning breaks")
        outputs.write_table(gpkg, pd.DataFrame([{
            "run_id": run_id, "started_at": started, "finished_at": finished, "hazards_dir": str(hazards_dir),
            "grid_m": float(grid_m), "method": method, "engine": engine, "buildings": len(b),
            "toolkit_version": _version(), "notes": json.dumps(run_notes, ensure_ascii=False)}]),
            "risk_runs", description="风险评估运行记录 / risk assessment runs")
        rasters = outputs.write_rasters(L.side_dir(gpkg) / "risk", spec, grid, [h.id for h in ctx.hazards],
                                        [h.id for h in ctx.hazards if h.is_loss], run_id)
    step()

    fac_high, fac_people = _facilities_in_high_cells(exposure.facilities, spec, grid)
    loss_ids = [h.id for h in ctx.hazards if h.is_loss]
    losses = {h: float(grid[f"{h}_loss"].sum()) for h in loss_ids}
    losses["total"] = float(grid["total_loss"].sum())
    result = AssessmentResult(
        run_id=run_id, gpkg=str(gpkg), hazards_dir=str(hazards_dir), grid_m=float(grid_m), method=method,
        engine=engine, buildings=len(b), cells=len(grid), townships=len(tw_out),
        villages=len(vil), hazards=[h.id for h in ctx.hazards],
        missing_layers={k: list(v) for k, v in stack.missing.items()},
        value_cny=float(grid["value_cny"].sum()), population=float(grid["population"].sum()), losses=losses,
        people_exposed={h.id: float(grid[f"{h.id}_people"].sum()) for h in ctx.hazards},
        scenario_loss=float(grid["earthquake_scenario_loss"].sum()) if ctx.scenario_layer else None,
        level_counts={"buildings": bcounts,
                      "grid": _level_counts(grid, [c for c in grid.columns if c.endswith("_level")
                                                   and not c.endswith("_hazard_level")]),
                      "townships": _level_counts(tw_out, [c for c in tw_out.columns if c.endswith("_level")
                                                          and not c.endswith("_hazard_level")])},
        prevention_zones={"grid": {str(k): int(v) for k, v in grid["prevention_zone"].value_counts().items()},
                          "townships": {str(k): int(v) for k, v in tw_out["prevention_zone"].value_counts().items()}},
        facilities_high_risk=fac_high, rasters=[str(p) for p in rasters],
        elapsed_s=round(time.perf_counter() - t0, 2), notes=notes)
    result.summary_zh, result.summary_en = _summaries(result, tw_out, fac_people)
    step()
    return result


def _facilities_in_high_cells(facilities, spec, grid) -> tuple[int, float]:
    """Facilities in cells of comprehensive level 1–2 and the people there by day."""
    if len(facilities) == 0:
        return 0, 0.0
    import shapely

    pts = facilities.geometry.values
    x, y = project(shapely.get_x(pts), shapely.get_y(pts), spec.crs)
    keys = spec.keys(x, y)
    high = set(grid.loc[grid["comprehensive_level"].between(1, 2), "key"].astype(np.int64))
    sel = np.isin(keys, list(high))
    return int(sel.sum()), float(facilities["people_day"].to_numpy()[sel].sum())


def _money(v: float) -> tuple[str, str]:
    return f"{v / 1e4:,.1f} 万元", f"CNY {v / 1e6:,.2f} million"


def _summaries(r: AssessmentResult, townships, fac_people: float) -> tuple[str, str]:
    from risk.registry import get_risk_hazard

    tot_zh, tot_en = _money(r.losses.get("total", 0.0))
    parts_zh = "，".join(f"{get_risk_hazard(h).name_zh} {_money(v)[0]}" for h, v in r.losses.items() if h != "total")
    parts_en = ", ".join(f"{get_risk_hazard(h).name_en} {_money(v)[1]}" for h, v in r.losses.items() if h != "total")
    gl = r.level_counts["grid"].get("comprehensive", {})
    hi = gl.get(1, 0) + gl.get(2, 0)
    top = townships.sort_values("comprehensive_index", ascending=False).head(3)
    top_zh = "、".join(f"{n or c}" for n, c in zip(top["township_name"], top["township_code"]))
    top_en = ", ".join(f"{n} ({c})" if n else f"{c}" for n, c in zip(top["township_name"], top["township_code"]))
    key_cells = r.prevention_zones["grid"].get("key", 0)
    missing = [h for h in RISK_HAZARD_IDS if h not in r.hazards]
    zh = (f"评估 {r.buildings} 栋房屋（资产 {_money(r.value_cny)[0]}，常住人口 {r.population:,.0f} 人），"
          f"{len(r.hazards)} 个灾种；年期望损失合计 {tot_zh}（{parts_zh}）。"
          f"{r.cells} 个 {r.grid_m:g} m 格网中综合风险高/较高 {hi} 个，重点防治区 {key_cells} 个；"
          f"综合风险最高的乡镇：{top_zh}。高风险格网内有公共服务设施 {r.facilities_high_risk} 处（白天约 {fac_people:,.0f} 人）。"
          + (f"缺少图层、未评估：{', '.join(missing)}。" if missing else "")
          + f"用时 {r.elapsed_s:.1f} 秒。")
    en = (f"Assessed {r.buildings} buildings (value {_money(r.value_cny)[1]}, {r.population:,.0f} residents) for "
          f"{len(r.hazards)} hazards; expected annual loss {tot_en} ({parts_en}). "
          f"Of {r.cells} cells of {r.grid_m:g} m, {hi} have high or fairly high comprehensive risk and {key_cells} are "
          f"key prevention zones; highest-risk townships: {top_en}. {r.facilities_high_risk} public facilities "
          f"(about {fac_people:,.0f} people by day) lie in high-risk cells. "
          + (f"Not assessed (missing layers): {', '.join(missing)}. " if missing else "")
          + f"Took {r.elapsed_s:.1f} s.")
    return zh, en


__all__ = ["ENGINES", "AssessmentResult", "assess_county"]
