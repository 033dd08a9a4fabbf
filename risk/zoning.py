"""Five-level zoning of risk indices and the prevention zoning rule (docs/RISK_METHODS.md §8).

Levels 1..5 = 高 较高 中 较低 低 (1 = highest risk), 0 = no data; names and colours from
hazards.registry.RISK_LEVELS. Three ways to place the four inner breaks:

- ``fixed`` (default): :data:`risk.registry.FIXED_INDEX_BREAKS` on the 0–1 index, lower edge inclusive
  (≥ 0.8 → 1, …, < 0.2 → 5) — comparable between counties and runs;
- ``fisher_jenks``: exact Fisher–Jenks natural breaks (mapclassify.FisherJenks, never the sampled
  variant); ``quantiles``: mapclassify.Quantiles. Both take mapclassify's classes as they are (upper
  edge inclusive) and are computed over the positive values only: a unit with index 0 (nothing exposed)
  is level 5 and does not pull the breaks. With fewer than 5 distinct positive values the fixed
  thresholds are used and the breaks record says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hazards.registry import NODATA_LEVEL, RISK_LEVELS
from risk.errors import RiskError
from risk.registry import FIXED_INDEX_BREAKS

METHODS = ("fixed", "fisher_jenks", "quantiles")
LEVEL_NAMES = {lvl: (zh, en) for lvl, zh, en, _c in RISK_LEVELS}


@dataclass(frozen=True)
class ZoningBreaks:
    method: str
    breaks: tuple[float, ...]          # 4 inner edges, ascending
    source_zh: str
    source_en: str
    right_closed: bool = False         # True: a value equal to an edge belongs to the lower class (mapclassify)

    def to_dict(self) -> dict:
        return {"method": self.method, "breaks": list(self.breaks), "source_zh": self.source_zh,
                "source_en": self.source_en, "right_closed": self.right_closed}


def _fixed(breaks) -> ZoningBreaks:
    return ZoningBreaks("fixed", tuple(float(b) for b in breaks),
                        "固定阈值：指数 ≥0.8 为 1 级（高），0.6–0.8 为 2 级，0.4–0.6 为 3 级，0.2–0.4 为 4 级，<0.2 为 5 级",
                        "fixed thresholds: index ≥0.8 level 1 (high), 0.6–0.8 2, 0.4–0.6 3, 0.2–0.4 4, <0.2 5")


def levels_from_breaks(values, zb: ZoningBreaks) -> np.ndarray:
    """Levels (int8) for ``values`` under ``zb``; NaN → 0."""
    v = np.asarray(values, dtype="float64")
    nan = np.isnan(v)
    bins = np.digitize(np.where(nan, 0.0, v), np.asarray(zb.breaks, dtype="float64"), right=zb.right_closed)
    return np.where(nan, NODATA_LEVEL, 5 - bins).astype(np.int8)


def classify_levels(values, method: str = "fixed", breaks=None) -> tuple[np.ndarray, ZoningBreaks]:
    """Five risk levels for ``values`` (1 = highest) and how the breaks were made.

    ``breaks`` (4 ascending inner edges) overrides the fixed thresholds for ``method="fixed"``.
    """
    if method not in METHODS:
        raise RiskError(f"未知的分级方法“{method}”；可用：{', '.join(METHODS)}",
                        f"unknown classification method '{method}'; use one of {', '.join(METHODS)}")
    v = np.asarray(values, dtype="float64")
    if method == "fixed":
        b = FIXED_INDEX_BREAKS if breaks is None else tuple(breaks)
        if len(b) != 4 or list(b) != sorted(b):
            raise RiskError(f"分级阈值必须是 4 个递增的数：{list(b)}", f"breaks must be 4 ascending numbers: {list(b)}")
        zb = _fixed(b)
        return levels_from_breaks(v, zb), zb
    import mapclassify

    pos = v[np.isfinite(v) & (v > 0)]
    if np.unique(pos).size < 5:
        zb = _fixed(FIXED_INDEX_BREAKS)
        zb = ZoningBreaks("fixed", zb.breaks, f"正值不足 5 个不同值，无法用 {method}，改用固定阈值",
                          f"fewer than 5 distinct positive values: {method} impossible, fixed thresholds used")
        return levels_from_breaks(v, zb), zb
    if method == "fisher_jenks":
        mc = mapclassify.FisherJenks(pos, k=5)
        zh, en = "Fisher–Jenks 自然断点法（精确算法，mapclassify.FisherJenks）", "exact Fisher–Jenks natural breaks (mapclassify.FisherJenks)"
    else:
        mc = mapclassify.Quantiles(pos, k=5)
        zh, en = "分位数法（五等分，mapclassify.Quantiles）", "quintiles (mapclassify.Quantiles)"
    zb = ZoningBreaks(method, tuple(float(b) for b in mc.bins[:4]), zh + "；指数为 0 的单元为 5 级",
                      en + "; units with index 0 are level 5", right_closed=True)
    levels = levels_from_breaks(v, zb)
    levels = np.where(np.isfinite(v) & (v <= 0), 5, levels).astype(np.int8)
    return levels, zb


# --------------------------------------------------------------------------------------------------
# Prevention zoning (综合防治区划): codes of schemas/codelists/zoning.yaml prevention_zone

PREVENTION_ZONES = ("key", "secondary", "general")

# The rule of prevention_zone() in words, for maps and the report (keep the two in step).
PREVENTION_RULE_ZH = ("综合风险为一、二级（高、较高），或任一灾种风险为一级且其致灾危险性为一、二级的单元划为重点防治区；"
                      "综合风险为三级（中），或任一灾种风险为一、二级且其致灾危险性为一至三级的单元划为次重点防治区；"
                      "其余为一般防治区。")
PREVENTION_RULE_EN = ("Key: comprehensive level 1–2, or any hazard with risk level 1 where its hazard level is 1–2. "
                      "Secondary: comprehensive level 3, or any hazard with risk level 1–2 where its hazard level "
                      "is 1–3. General: the rest.")


def prevention_zone(comprehensive_level, hazard_risk_levels, hazard_levels) -> np.ndarray:
    """key | secondary | general per unit.

    - key 重点防治区: comprehensive level 1–2, or some hazard whose risk level is 1 where its hazard
      level is 1–2 (a high risk on a high hazard);
    - secondary 次重点防治区: comprehensive level 3, or some hazard with risk level 1–2 where its
      hazard level is 1–3;
    - general 一般防治区: the rest.

    ``hazard_risk_levels`` and ``hazard_levels`` have shape (n, n_hazards); 0 (no data) never triggers.
    """
    c = np.asarray(comprehensive_level)
    r = np.asarray(hazard_risk_levels).reshape(len(c), -1)
    h = np.asarray(hazard_levels).reshape(len(c), -1)
    valid = (r > 0) & (h > 0)
    key = ((c >= 1) & (c <= 2)) | np.any(valid & (r == 1) & (h <= 2), axis=1)
    secondary = (c == 3) | np.any(valid & (r <= 2) & (h <= 3), axis=1)
    return np.where(key, "key", np.where(secondary, "secondary", "general")).astype(object)
