"""Disaster-reduction capacity index per township and per village (综合减灾能力指数).

From the census capacity returns (``township_capacity``, ``village_capacity``): each indicator is a raw
figure per resident or a 0/1 fact, min–max normalised across the county's units, then combined with the
weights below into a 0–1 index (1 = the best-equipped unit in the county). An indicator that has the same
value everywhere carries no information: it is dropped and the other weights renormalised (if every
indicator is constant the index is 0.5). A unit without a return scores 0 — no evidence of capacity.
The risk assessment uses it as lack of coping capacity (risk.registry.LCC_FLOOR, docs/RISK_METHODS.md §7).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

REFERENCE_YEAR = 2020
PLAN_RECENT_YEARS = 3     # a plan revised in 2018–2020 counts fully, an older one half


@dataclass(frozen=True)
class Indicator:
    id: str
    weight: float
    name_zh: str
    name_en: str
    how: str


TOWNSHIP_INDICATORS: tuple[Indicator, ...] = (
    Indicator("staff", 0.15, "减灾工作人员", "disaster-management staff",
              "(full-time + 0.5 × part-time + information officers) per 10 000 residents"),
    Indicator("plan", 0.10, "应急预案", "emergency plan", "1 if revised 2018–2020, 0.5 if older, 0 if none"),
    Indicator("drills", 0.10, "应急演练", "drills", "2020 drill participants per resident"),
    Indicator("training", 0.10, "培训", "training", "2020 trainees per resident"),
    Indicator("shelter", 0.20, "避难场所", "shelter places", "shelter places per resident, capped at 1"),
    Indicator("warning", 0.15, "预警手段", "warning means", "number of distinct warning means, capped at 5"),
    Indicator("reserves", 0.10, "物资储备", "material reserves",
              "0.5 × has warehouse + 0.5 × min(distinct item types / 5, 1)"),
    Indicator("rescue", 0.10, "救援队伍", "rescue teams", "rescue-team members per 1 000 residents"),
)

VILLAGE_INDICATORS: tuple[Indicator, ...] = (
    Indicator("staff", 0.10, "减灾工作人员", "disaster-management staff",
              "(full-time + 0.5 × part-time + information officers) per 1 000 residents"),
    Indicator("plan", 0.10, "应急预案", "emergency plan", "1 if revised 2018–2020, 0.5 if older, 0 if none"),
    Indicator("risk_map", 0.05, "风险地图", "risk map", "1 if the village has a hazard/risk map"),
    Indicator("vulnerable_list", 0.05, "弱势人群清单", "vulnerable-people list", "1 if kept"),
    Indicator("drills", 0.10, "应急演练", "drills", "2020 drill participants per resident"),
    Indicator("shelter", 0.20, "避难场所", "shelter places", "shelter places per resident, capped at 1"),
    Indicator("warning", 0.15, "预警手段", "warning means", "number of distinct warning means, capped at 5"),
    Indicator("reserves", 0.10, "物资储备", "material reserves",
              "0.5 × has warehouse + 0.5 × min(distinct item types / 5, 1)"),
    Indicator("rescue", 0.10, "救援队伍", "rescue teams", "rescue-team members per 1 000 residents"),
    Indicator("demo", 0.05, "综合减灾示范社区", "demonstration community",
              "national 1, provincial 0.8, municipal 0.6, none 0"),
)


def _num(df, col: str) -> np.ndarray:
    import pandas as pd

    if col not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype="float64")


def _flag(df, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.zeros(len(df))
    return df[col].astype(str).isin(["1", "1.0", "True", "true"]).to_numpy(dtype="float64")


def _per(numer: np.ndarray, pop: np.ndarray, scale: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pop > 0, numer / pop * scale, np.nan)


def _plan(df) -> np.ndarray:
    has = _flag(df, "emergency_plan")
    year = _num(df, "plan_revised_year")
    recent = np.where(np.isfinite(year) & (year > REFERENCE_YEAR - PLAN_RECENT_YEARS), 1.0, 0.5)
    return has * recent


def _warning(df) -> np.ndarray:
    if "warning_means" not in df.columns:
        return np.zeros(len(df))
    return np.array([min(len(set(str(v).split())), 5) if v not in (None, "") and v == v else 0
                     for v in df["warning_means"]], dtype="float64")


def _repeat(df, col: str) -> list[list[dict]]:
    out = []
    for v in (df[col] if col in df.columns else [None] * len(df)):
        if isinstance(v, list):
            out.append(v)
        elif isinstance(v, str) and v.strip():
            try:
                items = json.loads(v)
            except json.JSONDecodeError:
                items = []
            out.append(items if isinstance(items, list) else [])
        else:
            out.append([])
    return out


def _reserves(df) -> np.ndarray:
    types = np.array([len({str(i.get("item_type")) for i in items if isinstance(i, dict) and i.get("item_type")})
                      for items in _repeat(df, "reserve_items")], dtype="float64")
    return 0.5 * _flag(df, "has_warehouse") + 0.5 * np.minimum(types / 5.0, 1.0)


def _team_members(df) -> np.ndarray:
    total = _num(df, "team_members_total")
    listed = np.array([sum(float(i.get("team_members") or 0) for i in items if isinstance(i, dict))
                       for items in _repeat(df, "rescue_teams")], dtype="float64")
    return np.where(np.isfinite(total), total, listed)


def _staff(df) -> np.ndarray:
    return (np.nan_to_num(_num(df, "fulltime_staff")) + 0.5 * np.nan_to_num(_num(df, "parttime_staff"))
            + np.nan_to_num(_num(df, "info_officers")))


_DEMO = {"national": 1.0, "provincial": 0.8, "municipal": 0.6}


def township_raw(df, population: np.ndarray) -> dict[str, np.ndarray]:
    """Raw township indicators (before normalisation) for rows of ``township_capacity``."""
    return {
        "staff": _per(_staff(df), population, 1e4),
        "plan": _plan(df),
        "drills": _per(np.nan_to_num(_num(df, "drill_participants_2020")), population, 1.0),
        "training": _per(np.nan_to_num(_num(df, "trainees_2020")), population, 1.0),
        "shelter": np.minimum(_per(np.nan_to_num(_num(df, "shelters_capacity")), population, 1.0), 1.0),
        "warning": _warning(df),
        "reserves": _reserves(df),
        "rescue": _per(_team_members(df), population, 1e3),
    }


def village_raw(df, population: np.ndarray) -> dict[str, np.ndarray]:
    """Raw village indicators for rows of ``village_capacity``."""
    demo = np.array([_DEMO.get(str(lvl), 0.6) if flag else 0.0
                     for flag, lvl in zip(_flag(df, "demo_community"),
                                          df["demo_level"] if "demo_level" in df.columns else [None] * len(df))])
    return {
        "staff": _per(_staff(df), population, 1e3),
        "plan": _plan(df),
        "risk_map": _flag(df, "risk_map"),
        "vulnerable_list": _flag(df, "vulnerable_list"),
        "drills": _per(np.nan_to_num(_num(df, "drill_participants_2020")), population, 1.0),
        "shelter": np.minimum(_per(np.nan_to_num(_num(df, "shelters_capacity")), population, 1.0), 1.0),
        "warning": _warning(df),
        "reserves": _reserves(df),
        "rescue": _per(_team_members(df), population, 1e3),
        "demo": demo,
    }


def minmax(x: np.ndarray) -> np.ndarray | None:
    """(x − min)/(max − min) over finite values; NaN → 0; ``None`` when the indicator is constant."""
    x = np.asarray(x, dtype="float64")
    finite = np.isfinite(x)
    if not finite.any():
        return None
    lo, hi = float(x[finite].min()), float(x[finite].max())
    if hi <= lo:
        return None
    return np.where(finite, (x - lo) / (hi - lo), 0.0)


def combine(raw: Mapping[str, np.ndarray], indicators: tuple[Indicator, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted sum of min–max scores; constant indicators dropped and weights renormalised."""
    n = len(next(iter(raw.values()))) if raw else 0
    scores: dict[str, np.ndarray] = {}
    total_w = 0.0
    index = np.zeros(n)
    for ind in indicators:
        s = minmax(raw[ind.id])
        if s is None:
            continue
        scores[ind.id] = s
        index += ind.weight * s
        total_w += ind.weight
    if total_w == 0:
        return np.full(n, 0.5), scores
    return index / total_w, scores


def _capacity_frame(df, key: str, codes, population: Mapping[str, float], raw_fn: Callable,
                    indicators: tuple[Indicator, ...], pop_col: str | None = None):
    import pandas as pd

    df = df.drop_duplicates(subset=[key], keep="last").reset_index(drop=True)
    pop = np.array([population.get(str(c), np.nan) for c in df[key]], dtype="float64")
    if pop_col and pop_col in df.columns:
        own = _num(df, pop_col)
        pop = np.where(np.isfinite(pop), pop, own)
    index, scores = combine(raw_fn(df, pop), indicators) if len(df) else (np.zeros(0), {})
    got = pd.DataFrame({key: df[key].astype(str).to_numpy(), "capacity_index": index,
                        **{f"cap_{k}": v for k, v in scores.items()}})
    allc = pd.DataFrame({key: [str(c) for c in codes]})
    out = allc.merge(got, on=key, how="left")
    out["has_return"] = out["capacity_index"].notna()
    out["capacity_index"] = out["capacity_index"].fillna(0.0)
    return out


def township_capacity(df, township_codes, population: Mapping[str, float]):
    """Capacity index per township code (all of ``township_codes``; no return → 0, ``has_return`` False).

    ``population`` maps township code → residents (sum of its villages' resident population).
    """
    return _capacity_frame(df, "township_code", township_codes, population, township_raw, TOWNSHIP_INDICATORS)


def village_capacity(df, village_codes, population: Mapping[str, float]):
    """Capacity index per village code; residents from ``population`` or the form's own figure."""
    return _capacity_frame(df, "village_code", village_codes, population, village_raw, VILLAGE_INDICATORS,
                           pop_col="resident_population")


def weights_doc() -> dict:
    """Indicator weights and definitions, for the run notes."""
    return {"township": {i.id: {"weight": i.weight, "how": i.how} for i in TOWNSHIP_INDICATORS},
            "village": {i.id: {"weight": i.weight, "how": i.how} for i in VILLAGE_INDICATORS},
            "normalisation": "min–max across the county's units; constant indicators dropped; no return → 0"}
