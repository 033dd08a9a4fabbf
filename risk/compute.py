"""Risk per building: sample hazards, damage, expected annual loss, people exposed, indices and levels.

:func:`building_risk` works on any slice of the buildings (a whole county or one dask partition) and
returns one row per input row, so partitioned and single-frame runs give the same numbers. Scores and
formulas: docs/RISK_METHODS.md §5–§6.

Per hazard H the frame gets ``H_intensity``, ``H_loss`` (CNY/yr, loss hazards), ``H_people``,
``H_index``, ``H_level`` and the helper columns ``_H_hv`` (hazard × vulnerability per unit value, index
hazards) and ``_H_hlevel`` (hazard level of the intensity) used by the area aggregation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hazards.registry import classify
from hazards.sampling import sample_many
from risk import vulnerability as vul
from risk.eal import expected_annual_loss
from risk.registry import (
    BUILDING_LOSS_RATIO,
    LCC_FLOOR,
    PEOPLE_EXPOSED_MAX_LEVEL,
    Goalpost,
    RiskHazard,
    comprehensive_weights,
)
from risk.zoning import classify_levels

# attribute columns building_risk reads
INPUT_COLUMNS = ("lon", "lat", "value_cny", "floors", "structure_type", "setting", "use", "year_band",
                 "seismic_measures", "professional_design", "retrofitted", "design_code",
                 "fortification_intensity", "residents", "occupants_day", "occupants_night", "capacity")


# attributes that decide a building's vulnerability classes; rows sharing them are classified once
CLASS_ATTRS = ("structure_type", "floors", "setting", "use", "year_band", "seismic_measures", "professional_design",
               "retrofitted", "design_code", "fortification_intensity")


def building_classes(df, index_hazards) -> dict[str, np.ndarray]:
    """Census taxonomy, HAZUS occupancy, flood sector and index-hazard vulnerability per building,
    computed once per distinct combination of :data:`CLASS_ATTRS` and broadcast back."""
    import pandas as pd

    n = len(df)
    cols = [df[c] if c in df.columns else np.full(n, None, dtype=object) for c in CLASS_ATTRS]
    codes, combos = vul.group_codes(*cols)
    u = pd.DataFrame(combos, columns=list(CLASS_ATTRS))
    if n == 0:
        empty = np.zeros(0, dtype=object)
        return {"taxonomy": empty, "occupancy": empty, "sector": empty, "eq_groups": (np.zeros(0, np.int64), []),
                **{f"vuln_{h}": np.zeros(0) for h in index_hazards}}
    occ, sec = vul.occupancy_and_sector(u["setting"], u["use"])
    tax = vul.census_taxonomy(u)
    eq_code, eq_combos = vul.group_codes(tax, occ)          # few rows: the distinct attribute combinations
    out = {"taxonomy": tax[codes], "occupancy": occ[codes], "sector": sec[codes],
           "eq_groups": (eq_code[codes], eq_combos)}
    for h in index_hazards:
        out[f"vuln_{h}"] = vul.index_vulnerability(h, u)[codes]
    return out


@dataclass(frozen=True)
class RiskContext:
    """What every partition needs: assessable hazards, their rasters, the weights."""

    hazards: tuple[RiskHazard, ...]
    arrays: Mapping[str, Any]
    weights: Mapping[str, float]          # normalised over ``hazards``
    scenario_layer: str | None = "eq_pga_scenario"

    @classmethod
    def build(cls, hazards, arrays, weights: Mapping[str, float] | None = None) -> RiskContext:
        w = dict(weights or comprehensive_weights())
        w = {h.id: float(w.get(h.id, 0.0)) for h in hazards}
        total = sum(w.values()) or 1.0
        scen = "eq_pga_scenario" if "eq_pga_scenario" in arrays and any(h.id == "earthquake" for h in hazards) else None
        return cls(tuple(hazards), arrays, {k: v / total for k, v in w.items()}, scen)

    @property
    def loss_weight(self) -> float:
        return sum(self.weights[h.id] for h in self.hazards if h.is_loss)


def goalpost_score(x, gp: Goalpost) -> np.ndarray:
    """clip((log10 x − log10 lo)/(log10 hi − log10 lo), 0, 1); x ≤ 0 → 0; NaN stays NaN."""
    x = np.asarray(x, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (np.log10(np.where(x > 0, x, 1.0)) - np.log10(gp.lo)) / (np.log10(gp.hi) - np.log10(gp.lo))
    s = np.where(x > 0, np.clip(s, 0.0, 1.0), 0.0)
    return np.where(np.isnan(x), np.nan, s)


def lack_of_coping_capacity(capacity) -> np.ndarray:
    """LCC = floor + (1 − floor)(1 − C), C the 0–1 capacity index (missing → 0)."""
    c = np.clip(np.nan_to_num(np.asarray(capacity, dtype="float64"), nan=0.0), 0.0, 1.0)
    return LCC_FLOOR + (1.0 - LCC_FLOOR) * (1.0 - c)


def risk_index(hev, lcc) -> np.ndarray:
    """INFORM-style geometric mean R = HEV^(2/3) · LCC^(1/3).

    INFORM: R = HE^(1/3) · V^(1/3) · LCC^(1/3). HEV is the joint hazard-and-exposure × vulnerability score
    (for index hazards the geometric mean √(HE·V), for loss hazards the loss score), so it carries the
    weight of both dimensions.
    """
    hev = np.clip(np.asarray(hev, dtype="float64"), 0.0, None)
    return np.cbrt(hev * hev * np.asarray(lcc, dtype="float64"))


def hazard_score(levels) -> np.ndarray:
    """Hazard class score (6 − level)/5: level 1 → 1.0 … level 5 → 0.2; no data (0) → NaN."""
    lv = np.asarray(levels, dtype="float64")
    return np.where(lv > 0, (6.0 - lv) / 5.0, np.nan)


def _hazard_loss(hz: RiskHazard, samples: Mapping[str, np.ndarray], df, value: np.ndarray,
                 derived: Mapping[str, np.ndarray]) -> np.ndarray:
    """Expected annual loss in CNY of a loss hazard, integrated over its curve points."""
    inten = np.stack([samples[p.layer] * p.factor for p in hz.curve], axis=-1)   # (n, k)
    if hz.id == "earthquake":
        ratio = vul.eq_mean_damage_ratio(inten, derived["taxonomy"], derived["occupancy"], groups=derived["eq_groups"])
    elif hz.id in ("flood", "storm_surge"):
        ratio = vul.flood_damage_ratio(inten, derived["sector"], df["floors"].to_numpy(dtype="float64"))
    elif hz.id == "wind":
        ratio = vul.wind_curve()(inten)
    else:  # a loss hazard without a curve family is a registry error, not user input
        raise ValueError(f"no damage model for loss hazard {hz.id}")
    rps = [p.return_period for p in hz.curve]
    return expected_annual_loss(ratio * value[:, None], rps, zero_loss_return_period=hz.zero_loss_return_period)


def building_risk(df, ctx: RiskContext):
    """Per-building risk columns for the buildings in ``df`` (a pandas frame with :data:`INPUT_COLUMNS`)."""
    import pandas as pd

    n = len(df)
    out: dict[str, np.ndarray] = {}
    lon = df["lon"].to_numpy(dtype="float64")
    lat = df["lat"].to_numpy(dtype="float64")
    layers = {lid: ctx.arrays[lid] for h in ctx.hazards
              for lid in dict.fromkeys((h.intensity_layer, *(p.layer for p in h.curve)))}
    if ctx.scenario_layer:
        layers[ctx.scenario_layer] = ctx.arrays[ctx.scenario_layer]
    samples = sample_many(layers, lon, lat) if n else {k: np.zeros(0) for k in layers}
    value = np.nan_to_num(df["value_cny"].to_numpy(dtype="float64"), nan=0.0)
    people = np.maximum(np.nan_to_num(df["occupants_day"].to_numpy(dtype="float64"), nan=0.0),
                        np.nan_to_num(df["occupants_night"].to_numpy(dtype="float64"), nan=0.0))
    lcc = lack_of_coping_capacity(df["capacity"].to_numpy(dtype="float64"))
    derived = building_classes(df, [h.id for h in ctx.hazards if not h.is_loss])
    taxonomy, occupancy = derived["taxonomy"], derived["occupancy"]
    out["eq_taxonomy"] = taxonomy

    total_loss = np.zeros(n)
    index_part = np.zeros(n)
    contrib: dict[str, np.ndarray] = {}
    for hz in ctx.hazards:
        h = hz.id
        inten = samples[hz.intensity_layer]
        valid = np.isfinite(inten)
        hlevel = classify(inten, hz.intensity_layer, nodata=np.nan)
        out[f"{h}_intensity"] = inten
        out[f"_{h}_hlevel"] = hlevel
        out[f"{h}_people"] = np.where((hlevel >= 1) & (hlevel <= PEOPLE_EXPOSED_MAX_LEVEL), people, 0.0)
        if hz.is_loss:
            eal = _hazard_loss(hz, samples, df, value, derived)
            eal = np.where(valid, eal, np.nan)
            out[f"{h}_loss"] = eal
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(value > 0, np.nan_to_num(eal) / value, 0.0)
            hev = np.where(valid, goalpost_score(ratio, BUILDING_LOSS_RATIO), np.nan)
            total_loss += np.nan_to_num(eal)
            contrib[h] = np.nan_to_num(eal)
        else:
            hv = np.nan_to_num(hazard_score(hlevel)) * derived[f"vuln_{h}"]
            hv = np.where(valid, hv, np.nan)
            out[f"{h}_loss"] = np.full(n, np.nan)
            out[f"_{h}_hv"] = hv
            hev = np.sqrt(hv)                          # √(HE·V) with exposure score 1: the building itself
            index_part += ctx.weights[h] * np.nan_to_num(hev)
            contrib[h] = ctx.weights[h] * np.nan_to_num(hev)
        idx = risk_index(hev, lcc)
        out[f"{h}_index"] = idx
        out[f"{h}_level"] = classify_levels(idx, "fixed")[0]
    if ctx.scenario_layer:
        scen = samples[ctx.scenario_layer]
        ratio = vul.eq_mean_damage_ratio(scen, taxonomy, occupancy, groups=derived["eq_groups"])
        out["earthquake_scenario_intensity"] = scen
        out["earthquake_scenario_loss"] = np.where(np.isfinite(scen), ratio * value, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss_score = goalpost_score(np.where(value > 0, total_loss / value, 0.0), BUILDING_LOSS_RATIO)
    hev_comp = ctx.loss_weight * loss_score + index_part
    out["total_loss"] = total_loss
    out["comprehensive_index"] = risk_index(hev_comp, lcc)
    out["comprehensive_level"] = classify_levels(out["comprehensive_index"], "fixed")[0]
    out["dominant_hazard"] = dominant(contrib, ctx, loss_score, total_loss)
    out["capacity_index"] = df["capacity"].to_numpy(dtype="float64")
    return pd.DataFrame(out, index=df.index, copy=False)


def dominant(contrib: Mapping[str, np.ndarray], ctx: RiskContext, loss_score, total_loss) -> np.ndarray:
    """Hazard with the largest share of the comprehensive score (loss hazards split the loss part by
    their share of the total loss); None where nothing contributes."""
    ids = [h.id for h in ctx.hazards]
    if not ids:
        return np.array([], dtype=object)
    cols = []
    for hz in ctx.hazards:
        c = contrib[hz.id]
        if hz.is_loss:
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(total_loss > 0, c / total_loss, 0.0)
            c = ctx.loss_weight * np.nan_to_num(loss_score) * share
        cols.append(c)
    m = np.stack(cols, axis=-1)
    best = np.argmax(m, axis=-1)
    names = np.asarray(ids, dtype=object)[best]
    return np.where(m.max(axis=-1) > 0, names, None)
