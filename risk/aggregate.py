"""Aggregation of building risk to areas (grid cells, townships) and the area indices.

Two steps so that partitioned runs give the same numbers: :func:`partial_sums` turns any slice of
buildings into additive sums per area key (sums of partitions = sums of the whole), and
:func:`finalize` turns the summed table into indices, levels, prevention zones (docs/RISK_METHODS.md §6):

- loss hazards: ``H_loss`` = Σ building expected annual loss; HEV = loss-density score (CNY/yr/km²);
- index hazards: HEV = √(E × HV̄), E the exposure score of the area (value and resident density) and
  HV̄ the value-weighted mean of building hazard score × vulnerability;
- capacity: resident-weighted mean of the buildings' capacity (buildings' mean if nobody lives there,
  the area's default when it has no building); LCC and R = HEV^(2/3)·LCC^(1/3) as for buildings;
- comprehensive: HEV = W_loss × score(Σ losses / km²) + Σ w_h HEV_h over index hazards.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from risk.compute import (
    RiskContext,
    goalpost_score,
    lack_of_coping_capacity,
    risk_index,
)
from risk.registry import AREA_LOSS_DENSITY, PEOPLE_DENSITY, VALUE_DENSITY
from risk.zoning import ZoningBreaks, classify_levels, prevention_zone

BASE_SUMS = ("floor_area", "value_cny", "residents", "occupants_day", "occupants_night")


def sum_columns(ctx: RiskContext) -> list[str]:
    cols = ["buildings", *BASE_SUMS, "total_loss", "_cap_pop", "_cap_sum"]
    if ctx.scenario_layer:
        cols.append("earthquake_scenario_loss")
    for hz in ctx.hazards:
        cols += [f"{hz.id}_loss", f"{hz.id}_people"]
        if not hz.is_loss:
            cols += [f"_{hz.id}_vhv", f"_{hz.id}_vw"]
    return cols


def partial_sums(buildings, results, key, ctx: RiskContext):
    """Sums per area key for one slice of buildings (attribute frame + :func:`building_risk` output)."""
    import pandas as pd

    value = np.nan_to_num(buildings["value_cny"].to_numpy(dtype="float64"), nan=0.0)
    residents = np.nan_to_num(buildings["residents"].to_numpy(dtype="float64"), nan=0.0)
    cap = np.nan_to_num(buildings["capacity"].to_numpy(dtype="float64"), nan=0.0)
    cols: dict[str, np.ndarray] = {"buildings": np.ones(len(buildings))}
    for c in BASE_SUMS:
        cols[c] = np.nan_to_num(buildings[c].to_numpy(dtype="float64"), nan=0.0)
    cols["total_loss"] = results["total_loss"].to_numpy(dtype="float64")
    cols["_cap_pop"] = residents * cap
    cols["_cap_sum"] = cap
    if ctx.scenario_layer:
        cols["earthquake_scenario_loss"] = np.nan_to_num(results["earthquake_scenario_loss"].to_numpy(dtype="float64"))
    for hz in ctx.hazards:
        h = hz.id
        cols[f"{h}_loss"] = np.nan_to_num(results[f"{h}_loss"].to_numpy(dtype="float64"))
        cols[f"{h}_people"] = np.nan_to_num(results[f"{h}_people"].to_numpy(dtype="float64"))
        if not hz.is_loss:
            hv = results[f"_{h}_hv"].to_numpy(dtype="float64")
            ok = np.isfinite(hv)
            cols[f"_{h}_vhv"] = np.where(ok, value * np.nan_to_num(hv), 0.0)
            cols[f"_{h}_vw"] = np.where(ok, value, 0.0)
    codes, uniques = pd.factorize(np.asarray(key), sort=True)
    m = len(uniques)
    sums = {c: np.bincount(codes, weights=v, minlength=m) for c, v in cols.items()}   # one pass per column
    return pd.DataFrame(sums, index=pd.Index(uniques, name="key"))


def combine_sums(parts):
    """Sum several :func:`partial_sums` tables (e.g. one per partition)."""
    import pandas as pd

    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return None
    return pd.concat(parts).groupby(level=0, sort=True).sum()


def finalize(areas, sums, ctx: RiskContext, *, key: str, area_km2: np.ndarray, default_capacity: np.ndarray,
             hazard_levels: Mapping[str, np.ndarray], method: str = "fixed",
             ) -> tuple[object, list[tuple[str, ZoningBreaks]]]:
    """Areas (frame with ``key``) + their sums → risk columns, levels, prevention zone, dominant hazard.

    ``hazard_levels[h]`` is the hazard level (1–5, 0 no data) of each area's mean intensity. Returns the
    frame and the breaks used per hazard ((hazard id or "comprehensive", breaks) list).
    """
    import pandas as pd

    out = areas.copy()
    s = sums.reindex(out[key].to_numpy()).fillna(0.0) if sums is not None else \
        pd.DataFrame(0.0, index=out[key].to_numpy(), columns=sum_columns(ctx))
    for c in sum_columns(ctx):
        if c not in s.columns:
            s[c] = 0.0
    km2 = np.asarray(area_km2, dtype="float64")
    out["buildings"] = s["buildings"].to_numpy().astype(np.int64)
    for c in ("floor_area", "value_cny", "occupants_day", "occupants_night"):
        out[c] = s[c].to_numpy()
    out["population"] = s["residents"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = np.where(s["residents"] > 0, s["_cap_pop"] / s["residents"],
                       np.where(s["buildings"] > 0, s["_cap_sum"] / s["buildings"], default_capacity))
        e_value = goalpost_score(np.where(km2 > 0, s["value_cny"].to_numpy() / km2, 0.0), VALUE_DENSITY)
        e_people = goalpost_score(np.where(km2 > 0, s["residents"].to_numpy() / km2, 0.0), PEOPLE_DENSITY)
    out["capacity_index"] = cap
    lcc = lack_of_coping_capacity(cap)
    exposure = 0.5 * e_value + 0.5 * e_people
    out["exposure_score"] = exposure
    breaks: list[tuple[str, ZoningBreaks]] = []
    risk_levels, haz_levels = [], []
    index_part = np.zeros(len(out))
    contrib = []
    total = s["total_loss"].to_numpy()
    for hz in ctx.hazards:
        h = hz.id
        if hz.is_loss:
            loss = s[f"{h}_loss"].to_numpy()
            out[f"{h}_loss"] = loss
            with np.errstate(divide="ignore", invalid="ignore"):
                hev = goalpost_score(np.where(km2 > 0, loss / km2, 0.0), AREA_LOSS_DENSITY)
            contrib.append(("loss", loss))
        else:
            out[f"{h}_loss"] = np.nan
            with np.errstate(divide="ignore", invalid="ignore"):
                hv = np.where(s[f"_{h}_vw"] > 0, s[f"_{h}_vhv"] / s[f"_{h}_vw"], 0.0)
            hev = np.sqrt(exposure * hv)
            index_part += ctx.weights[h] * hev
            contrib.append(("index", ctx.weights[h] * hev))
        out[f"{h}_people"] = s[f"{h}_people"].to_numpy()
        idx = risk_index(hev, lcc)
        lv, zb = classify_levels(idx, method)
        out[f"{h}_index"] = idx
        out[f"{h}_level"] = lv
        out[f"{h}_hazard_level"] = np.asarray(hazard_levels.get(h, np.zeros(len(out))), dtype=np.int8)
        breaks.append((h, zb))
        risk_levels.append(lv)
        haz_levels.append(out[f"{h}_hazard_level"].to_numpy())
    if ctx.scenario_layer:
        out["earthquake_scenario_loss"] = s["earthquake_scenario_loss"].to_numpy()
    out["total_loss"] = total
    with np.errstate(divide="ignore", invalid="ignore"):
        loss_score = goalpost_score(np.where(km2 > 0, total / km2, 0.0), AREA_LOSS_DENSITY)
    hev_comp = ctx.loss_weight * loss_score + index_part
    comp = risk_index(hev_comp, lcc)
    clv, czb = classify_levels(comp, method)
    out["comprehensive_index"] = comp
    out["comprehensive_level"] = clv
    breaks.append(("comprehensive", czb))
    if ctx.hazards:
        out["prevention_zone"] = prevention_zone(clv, np.stack(risk_levels, axis=-1), np.stack(haz_levels, axis=-1))
    else:
        out["prevention_zone"] = "general"
    out["dominant_hazard"] = _dominant(ctx, contrib, total, loss_score)
    return out, breaks


def _dominant(ctx: RiskContext, contrib, total, loss_score) -> np.ndarray:
    ids = [h.id for h in ctx.hazards]
    if not ids:
        return np.full(len(total), None, dtype=object)
    cols = []
    for kind, c in contrib:
        if kind == "loss":
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(total > 0, c / total, 0.0)
            c = ctx.loss_weight * loss_score * share
        cols.append(c)
    m = np.stack(cols, axis=-1)
    names = np.asarray(ids, dtype=object)[np.argmax(m, axis=-1)]
    return np.where(m.max(axis=-1) > 0, names, None)
