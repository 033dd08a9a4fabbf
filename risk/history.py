"""Historical disasters (历史灾害) assessed: trends, loss shares as weights, largest events, model check.

From the county GeoPackage's ``disaster_annual`` (1978–2020, one row per county or township, year and
hazard type) and ``disaster_event`` (1949–2020):

- :func:`trends` — per hazard type, the Mann–Kendall trend test (pymannkendall; also the Hamed–Rao
  variant, robust to autocorrelation) and the Theil–Sen slope with its 95 % interval (scipy) of the
  yearly direct loss at 2020 prices, people affected, and dead + missing;
- :func:`loss_weights` — each risk hazard's share of the recorded losses, summing to one, offered as
  weights for the comprehensive risk index;
- :func:`largest_events` — the largest events at 2020 prices as a GeoDataFrame (the affected townships'
  outline) for a map;
- :func:`compare_losses` — modelled expected annual loss per township (``risk_townships`` ``*_loss``
  columns of ``census risk assess``) against the recorded annual mean, flagging disagreement by an
  order of magnitude or more (|log10 ratio| ≥ 1); rare hazards (earthquake) without recorded losses
  are not flagged and stay out of the total.

Methods and assumptions: docs/HIDDEN_DANGERS_HISTORY.md §2.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from exposure.footprints import STORAGE_CRS
from risk.errors import RiskError
from risk.registry import RISK_HAZARDS
from geodb import layers as L

FIRST_YEAR, LAST_YEAR = 1978, 2020
EVENT_FIRST_YEAR = 1949
NOT_REJECTED = "census_state IS NULL OR census_state <> 'rejected'"
ALPHA = 0.05
ORDER_OF_MAGNITUDE = 1.0          # |log10(modelled / recorded)| at or above this is flagged
MIN_MATERIAL_CNY = 1e4            # below 1 万元/yr a one-sided zero is not called a disagreement
WAN = 1e4                         # the forms record losses in 万元
# hazards whose damaging events recur less often than the 43-year record: a record without losses says
# nothing about the model (GB 18306's basic PGA is the 475-year motion), so it is not flagged
RARE_HAZARDS = frozenset({"earthquake"})
SHORT_RECORD_YEARS = 30           # a township reporting in fewer of the 43 years may have lost records

TRENDS_LAYER, WEIGHTS_LAYER, COMPARISON_LAYER, EVENTS_LAYER, AGREEMENT_LAYER = (
    "history_trends", "history_weights", "history_comparison", "history_events", "history_agreement")

# census hazard_type (schemas/codelists/hazards.yaml) → risk hazard id (risk.registry); None: no risk
# hazard models it (its losses are reported, not weighted)
HAZARD_TO_RISK: dict[str, str | None] = {
    "earthquake": "earthquake", "landslide": "geological", "collapse": "geological", "debris_flow": "geological",
    "subsidence": "geological", "rainstorm": "rainstorm", "drought": "drought", "drought_hydro": "drought",
    "typhoon": "wind", "strong_wind": "wind", "flood": "flood", "storm_surge": "storm_surge",
    "forest_fire": "fire", "grassland_fire": "fire",
    "hail": None, "heat": None, "cold": None, "snow": None, "waves": None, "sea_ice": None, "tsunami": None,
    "sea_level_rise": None,
}
HAZARD_ZH = {"earthquake": "地震", "landslide": "滑坡", "collapse": "崩塌", "debris_flow": "泥石流",
             "subsidence": "地面塌陷", "rainstorm": "暴雨", "drought": "干旱（气象）", "typhoon": "台风",
             "strong_wind": "大风", "hail": "冰雹", "heat": "高温", "cold": "低温", "snow": "雪灾", "flood": "洪水",
             "drought_hydro": "干旱", "storm_surge": "风暴潮", "waves": "海浪", "sea_ice": "海冰",
             "tsunami": "海啸", "sea_level_rise": "海平面上升", "forest_fire": "森林火灾", "grassland_fire": "草原火灾",
             "all": "全部灾种"}
METRICS: dict[str, tuple[str, str, str]] = {   # metric → (zh, unit zh, en)
    "direct_loss_2020": ("直接经济损失（2020年价）", "万元", "direct economic loss (2020 prices)"),
    "affected_people": ("受灾人口", "人次", "people affected"),
    "dead_missing": ("死亡失踪人口", "人", "dead and missing"),
}


@dataclass(frozen=True)
class PriceIndex:
    """Consumer price index anchors (1978 = 100); geometric interpolation between anchor years."""

    anchors: tuple[tuple[int, float], ...]
    source: str

    def factor_to(self, year: int | float, target: int = LAST_YEAR) -> float:
        """Multiply a loss at ``year`` prices by this to get ``target`` prices."""
        return self.value(target) / self.value(year)

    def value(self, year: int | float) -> float:
        ys = np.array([a for a, _ in self.anchors], dtype="float64")
        vs = np.log(np.array([b for _, b in self.anchors], dtype="float64"))
        y = float(np.clip(year, ys[0], ys[-1]))        # before 1978 held at 1978 (prices were fixed)
        return float(np.exp(np.interp(y, ys, vs)))


CPI = PriceIndex(
    anchors=((1978, 100.0), (1980, 109.5), (1985, 131.1), (1990, 216.4), (1995, 396.9), (2000, 434.0),
             (2005, 464.0), (2010, 536.1), (2015, 615.2), (2020, 686.5)),
    source="国家统计局《中国统计年鉴》居民消费价格指数（1978=100）各锚点年份（凭记录摘录，正式使用前请按年鉴逐年核对）；"
           "锚点间按几何插值；1978 年以前按 1978 年计 / NBS China Statistical Yearbook, consumer price index "
           "(1978 = 100) at anchor years (transcribed; check against the yearbook's yearly series before official "
           "use), geometric interpolation between anchors, years before 1978 held at 1978")


# --------------------------------------------------------------------------------------------------
# Reading

def _layers(gpkg: Path) -> set[str]:
    if not L.exists(gpkg):
        raise FileNotFoundError(2, "找不到县级数据库 / county GeoPackage not found", str(gpkg))
    return set(L.list_layers(gpkg))


def read_annual(gpkg: str | Path):
    """``disaster_annual`` rows (not rejected) with numeric columns and ``direct_loss_2020`` (万元)."""
    import pandas as pd

    gpkg = L.as_target(gpkg)
    if "disaster_annual" not in _layers(gpkg):
        raise RiskError(f"{gpkg} 中没有 disaster_annual 表；请先导入历史灾害年度统计",
                        f"{gpkg} has no disaster_annual table; import the annual disaster statistics first")
    df = L.read_dataframe(gpkg, "disaster_annual", where=NOT_REJECTED, read_geometry=False)
    return prepare_annual(pd.DataFrame(df))


def prepare_annual(df):
    """Typed columns, rows inside 1978–2020 with a hazard type, losses at 2020 prices."""
    import pandas as pd

    df = df.copy()
    for c in ("year", "affected_people", "deaths", "missing", "relocated", "crop_affected_area", "collapsed_houses",
              "direct_loss"):
        df[c] = pd.to_numeric(df[c], errors="coerce") if c in df.columns else np.nan
    df = df[df["year"].between(FIRST_YEAR, LAST_YEAR) & df["hazard_type"].notna()].copy()
    df["year"] = df["year"].astype(int)
    df["dead_missing"] = df["deaths"].fillna(0) + df["missing"].fillna(0)
    df["direct_loss_2020"] = df["direct_loss"].fillna(0) * df["year"].map(CPI.factor_to)
    if "division_level" not in df.columns:
        df["division_level"] = "township"
    df["township_code"] = df.get("township_code", pd.Series([None] * len(df), index=df.index))
    return df


def county_series(annual):
    """Year × hazard_type county totals: a county-level row when one exists for that year and hazard,
    else the sum of the township rows (never both, so nothing is counted twice)."""
    import pandas as pd

    cols = ["direct_loss_2020", "direct_loss", "affected_people", "dead_missing"]
    county = annual[annual["division_level"] == "county"].groupby(["year", "hazard_type"])[cols].sum()
    towns = annual[annual["division_level"] != "county"].groupby(["year", "hazard_type"])[cols].sum()
    towns = towns[~towns.index.isin(county.index)]
    return pd.concat([county, towns]).sort_index()


def _full_series(series, hazard: str, metric: str) -> np.ndarray:
    """Values for every year 1978–2020 (0 where no row: no disaster of that type was recorded)."""
    years = np.arange(FIRST_YEAR, LAST_YEAR + 1)
    if hazard == "all":
        s = series[metric].groupby(level="year").sum()
    else:
        s = series[metric].xs(hazard, level="hazard_type") if hazard in series.index.get_level_values(1) else None
    out = np.zeros(years.size)
    if s is not None:
        idx = s.index.to_numpy().astype(int) - FIRST_YEAR
        out[idx] = s.to_numpy(dtype="float64")
    return out


# --------------------------------------------------------------------------------------------------
# Trends

@dataclass(frozen=True)
class Trend:
    trend: str                 # increasing | decreasing | no trend
    p: float
    z: float
    tau: float
    s: float
    slope: float               # Theil–Sen slope per year
    intercept: float           # at year 0 of ``x`` (so y ≈ intercept + slope·year)
    slope_low: float           # 95 % interval of the slope
    slope_high: float
    p_hamed_rao: float         # MK with the Hamed & Rao (1998) variance correction for autocorrelation


def mann_kendall(y, x=None, alpha: float = ALPHA) -> Trend:
    """Mann–Kendall test and Theil–Sen slope of ``y`` against ``x`` (default 0..n−1).

    The test is pymannkendall's ``original_test`` (normal approximation with the tie-corrected
    variance, Gilbert 1987); the slope and its 95 % interval are scipy.stats.theilslopes (Sen 1968) in
    units of ``y`` per unit of ``x``.
    """
    import pymannkendall as mk
    from scipy import stats

    y = np.asarray(y, dtype="float64")
    x = np.arange(y.size, dtype="float64") if x is None else np.asarray(x, dtype="float64")
    if y.size < 4 or np.all(y == y[0]):
        return Trend("no trend", 1.0, 0.0, 0.0, 0.0, 0.0, float(y[0]) if y.size else 0.0, 0.0, 0.0, 1.0)
    r = mk.original_test(y, alpha=alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p_hr = float(mk.hamed_rao_modification_test(y, alpha=alpha).p)
        except (ValueError, ZeroDivisionError, FloatingPointError):
            p_hr = float("nan")
    ts = stats.theilslopes(y, x, alpha=1 - 0.95)
    return Trend(str(r.trend), float(r.p), float(r.z), float(r.Tau), float(r.s), float(ts.slope),
                 float(ts.intercept), float(ts.low_slope), float(ts.high_slope), p_hr)


def trends(series, metrics=tuple(METRICS), alpha: float = ALPHA):
    """One row per hazard type (and "all") × metric: test, slope, totals and a sentence in Chinese."""
    import pandas as pd

    years = np.arange(FIRST_YEAR, LAST_YEAR + 1)
    hazards = sorted(set(series.index.get_level_values("hazard_type"))) if len(series) else []
    rows = []
    for hz in [*hazards, "all"] if hazards else []:
        for m in metrics:
            y = _full_series(series, hz, m)
            t = mann_kendall(y, years, alpha)
            zh, unit, en = METRICS[m]
            sig = t.p < alpha
            word = {"increasing": "上升", "decreasing": "下降"}.get(t.trend, "无显著趋势")
            n_rec = int((y > 0).sum())
            if t.trend == "no trend":
                text = f"{HAZARD_ZH.get(hz, hz)}{zh}：1978—2020 年无显著趋势（Mann–Kendall p={t.p:.2f}）"
            elif t.slope == 0:   # zero-inflated: the test sees fewer (or more) disaster years, Sen's slope is 0
                text = (f"{HAZARD_ZH.get(hz, hz)}{zh}：显著{word}（Mann–Kendall p={t.p:.3f}），主要反映有记录年份的"
                        f"{'增多' if t.trend == 'increasing' else '减少'}（{n_rec}/{y.size} 年有记录，Theil–Sen 斜率为 0）")
            else:
                text = (f"{HAZARD_ZH.get(hz, hz)}{zh}：显著{word}，Theil–Sen 斜率 {t.slope:+.3g} {unit}/年"
                        f"（95% 区间 {t.slope_low:+.3g}～{t.slope_high:+.3g}；Mann–Kendall p={t.p:.3f}）")
            rows.append({"hazard_type": hz, "hazard_zh": HAZARD_ZH.get(hz, hz), "risk_hazard": HAZARD_TO_RISK.get(hz, ""),
                         "metric": m, "metric_zh": zh, "unit": unit, "first_year": FIRST_YEAR, "last_year": LAST_YEAR,
                         "n_years": int(y.size), "years_with_records": int((y > 0).sum()),
                         "total": float(y.sum()), "mean": float(y.mean()), "trend": t.trend,
                         "significant": int(sig and t.trend != "no trend"), "p_value": t.p, "z": t.z, "tau": t.tau,
                         "s": t.s, "p_hamed_rao": t.p_hamed_rao, "sen_slope": t.slope, "sen_intercept": t.intercept,
                         "slope_low": t.slope_low, "slope_high": t.slope_high, "text_zh": text})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Loss shares → weights

def loss_weights(series):
    """Each risk hazard's share of recorded losses (2020 prices), deaths and people affected; the
    ``weight`` column (= loss share) sums to one over the risk hazards. Hazard types that no risk
    hazard models (hail, cold …) are left out of the shares; see :func:`unmapped_losses`."""
    import pandas as pd

    rows = []
    tot = {m: 0.0 for m in ("direct_loss_2020", "dead_missing", "affected_people")}
    by: dict[str, dict[str, float]] = {h.id: {m: 0.0 for m in tot} for h in RISK_HAZARDS}
    types: dict[str, list[str]] = {h.id: [] for h in RISK_HAZARDS}
    if len(series):
        g = series.groupby(level="hazard_type")[list(tot)].sum()
        for hz, r in g.iterrows():
            rid = HAZARD_TO_RISK.get(str(hz))
            if rid is None or rid not in by:
                continue
            types[rid].append(str(hz))
            for m in tot:
                by[rid][m] += float(r[m])
                tot[m] += float(r[m])
    for h in RISK_HAZARDS:
        v = by[h.id]
        rows.append({"risk_hazard": h.id, "name_zh": h.name_zh, "hazard_types": ",".join(sorted(types[h.id])),
                     "loss_2020_wan": v["direct_loss_2020"], "dead_missing": v["dead_missing"],
                     "affected_people": v["affected_people"],
                     "share_loss": v["direct_loss_2020"] / tot["direct_loss_2020"] if tot["direct_loss_2020"] else 0.0,
                     "share_dead_missing": v["dead_missing"] / tot["dead_missing"] if tot["dead_missing"] else 0.0,
                     "share_affected": v["affected_people"] / tot["affected_people"] if tot["affected_people"] else 0.0,
                     "default_weight": h.weight})
    df = pd.DataFrame(rows)
    if tot["direct_loss_2020"] > 0:
        df["weight"] = df["share_loss"]
        df["weight_basis"] = "recorded direct loss 1978–2020 at 2020 prices"
    else:  # nothing recorded: the registry's defaults, normalised
        w = df["default_weight"] / df["default_weight"].sum()
        df["weight"] = w
        df["weight_basis"] = "no recorded losses: registry default weights"
    return df


def unmapped_losses(series) -> dict[str, float]:
    """Recorded loss (万元, 2020 prices) of hazard types no risk hazard models."""
    if not len(series):
        return {}
    g = series.groupby(level="hazard_type")["direct_loss_2020"].sum()
    return {str(k): float(v) for k, v in g.items() if HAZARD_TO_RISK.get(str(k)) is None and v > 0}


def weights_dict(weights_df) -> dict[str, float]:
    """{risk hazard id: weight} — the form risk.registry / the comprehensive index takes."""
    return {str(r.risk_hazard): float(r.weight) for r in weights_df.itertuples()}


# --------------------------------------------------------------------------------------------------
# Events

def read_events(gpkg: str | Path):

    gpkg = L.as_target(gpkg)
    if "disaster_event" not in _layers(gpkg):
        raise RiskError(f"{gpkg} 中没有 disaster_event 图层；请先导入历史重大灾害事件",
                        f"{gpkg} has no disaster_event layer; import the major disaster events first")
    return L.read_dataframe(gpkg, "disaster_event", where=NOT_REJECTED)


def _affected_codes(v: Any) -> list[str]:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return []
    try:
        items = json.loads(v) if isinstance(v, str) else v
    except json.JSONDecodeError:
        return []
    out = []
    for it in items or []:
        if isinstance(it, Mapping) and it.get("affected_township_code"):
            out.append(str(it["affected_township_code"]))
    return out


def largest_events(events, townships=None, n: int = 10):
    """The ``n`` largest events by direct loss at 2020 prices, as a GeoDataFrame in EPSG:4490.

    Records with the same event name and hazard (several townships reporting their part of one event)
    are one event: figures add up, the affected townships are the union. Geometry: the outline of the
    affected townships when known, else the records' own shapes.
    """
    import geopandas as gpd
    import pandas as pd
    import shapely

    if events is None or not len(events):
        return gpd.GeoDataFrame({"rank": []}, geometry=gpd.GeoSeries([], crs=STORAGE_CRS), crs=STORAGE_CRS)
    e = events.copy()
    for c in ("affected_people", "deaths", "missing", "injured", "collapsed_houses", "damaged_houses", "direct_loss"):
        e[c] = pd.to_numeric(e[c], errors="coerce").fillna(0.0) if c in e.columns else 0.0
    e["start"] = pd.to_datetime(e["start_date"], errors="coerce")
    e = e[e["start"].dt.year.between(EVENT_FIRST_YEAR, LAST_YEAR)]
    e["year"] = e["start"].dt.year.astype(int)
    e["direct_loss_2020"] = e["direct_loss"] * e["year"].map(CPI.factor_to)
    e["codes"] = [_affected_codes(v) or ([str(t)] if t else [])
                  for v, t in zip(e.get("affected_divisions", [None] * len(e)), e.get("census_township", [None] * len(e)))]
    tgeom = {}
    tname = {}
    if townships is not None and len(townships):
        tgeom = dict(zip(townships["code"].astype(str), townships.geometry.values))
        tname = dict(zip(townships["code"].astype(str), townships["name"].astype(str)))
    rows = []
    for (name, hz), g in e.groupby(["event_name", "hazard_type"], sort=False):
        codes = sorted({c for cs in g["codes"] for c in cs})
        parts = [tgeom[c] for c in codes if c in tgeom]
        geom = shapely.union_all(parts) if parts else shapely.union_all([x for x in g.geometry.values if x is not None])
        rows.append({"event_name": str(name), "hazard_type": str(hz), "hazard_zh": HAZARD_ZH.get(str(hz), str(hz)),
                     "year": int(g["year"].min()), "start_date": g["start"].min().date().isoformat(),
                     "end_date": str(pd.to_datetime(g["end_date"], errors="coerce").max().date())
                     if "end_date" in g.columns and pd.to_datetime(g["end_date"], errors="coerce").notna().any() else None,
                     "records": int(len(g)), "affected_people": float(g["affected_people"].sum()),
                     "deaths": float(g["deaths"].sum()), "missing": float(g["missing"].sum()),
                     "collapsed_houses": float(g["collapsed_houses"].sum()),
                     "direct_loss_wan": float(g["direct_loss"].sum()),
                     "direct_loss_2020_wan": float(g["direct_loss_2020"].sum()),
                     "townships": ",".join(codes), "township_names": "、".join(tname.get(c, c) for c in codes),
                     "geometry": geom})
    df = pd.DataFrame(rows).sort_values(["direct_loss_2020_wan", "deaths"], ascending=False).head(n)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    gdf = gpd.GeoDataFrame(df, geometry="geometry", crs=STORAGE_CRS)
    gdf["geometry"] = [_multi(g) for g in gdf.geometry.values]
    return gdf


def _multi(g):
    import shapely

    if g is None or g.is_empty:
        return None
    if g.geom_type == "Polygon":
        return shapely.MultiPolygon([g])
    if g.geom_type == "MultiPolygon":
        return g
    polys = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return _multi(shapely.union_all(polys)) if polys else None


# --------------------------------------------------------------------------------------------------
# Modelled vs recorded

def recorded_township_means(annual) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """{township: {risk hazard: mean recorded loss CNY/yr at 2020 prices over 1978–2020}} and the number of
    years each township has any row. A township with no row at all is absent (no records ≠ no losses)."""
    n_years = LAST_YEAR - FIRST_YEAR + 1
    t = annual[(annual["division_level"] != "county") & annual["township_code"].notna()]
    out: dict[str, dict[str, float]] = {}
    years: dict[str, int] = {}
    for code, g in t.groupby("township_code"):
        years[str(code)] = int(g["year"].nunique())
        acc: dict[str, float] = {}
        for hz, loss in g.groupby("hazard_type")["direct_loss_2020"].sum().items():
            rid = HAZARD_TO_RISK.get(str(hz))
            if rid:
                acc[rid] = acc.get(rid, 0.0) + float(loss) * WAN / n_years
        out[str(code)] = acc
    return out, years


def _verdict(model: float | None, recorded: float | None, rare: bool = False) -> tuple[float | None, int, str]:
    """(log10 ratio, flag, Chinese verdict) for one pair (CNY/yr)."""
    if model is None or (isinstance(model, float) and math.isnan(model)):
        return None, 0, "无模型结果（请先运行 census risk assess）"
    if recorded is None or (isinstance(recorded, float) and math.isnan(recorded)):
        return None, 0, "无历史统计记录"
    if model <= 0 and recorded <= 0:
        return None, 0, "模型与记录均无损失"
    if recorded <= 0 and rare:
        return None, 0, "记录期内无损失；低频灾种，43 年记录不足以检验"
    if recorded <= 0:
        flag = int(model >= MIN_MATERIAL_CNY)
        return None, flag, "模型有损失而历史无记录" + ("（可能漏报或模型偏高）" if flag else "")
    if model <= 0:
        flag = int(recorded >= MIN_MATERIAL_CNY)
        return None, flag, "历史有损失而模型为零" + ("（模型可能漏算该灾种或暴露）" if flag else "")
    r = math.log10(model / recorded)
    if r >= ORDER_OF_MAGNITUDE:
        return r, 1, f"模型高于记录 {10 ** r:.0f} 倍（≥1 个数量级）：核查历史统计是否漏报，或致灾、暴露数据是否偏高"
    if r <= -ORDER_OF_MAGNITUDE:
        return r, 1, f"模型低于记录，记录为模型的 {10 ** -r:.0f} 倍（≥1 个数量级）：模型可能漏算该灾种的损失对象"
    return r, 0, "量级一致"


def hazard_agreement(comparison) -> "Any":
    """Per risk hazard over the townships: how many were compared and flagged, the median log10 ratio,
    and a sentence — a systematic gap (most townships one way) points at the model, a few at the records."""
    import pandas as pd

    rows = []
    for hz in [x.id for x in RISK_HAZARDS if x.is_loss]:
        col = f"{hz}_log10_ratio"
        if col not in comparison.columns:
            continue
        m, r = comparison[f"{hz}_model_cny"], comparison[f"{hz}_recorded_cny"]
        both = pd.to_numeric(comparison[col], errors="coerce").dropna()
        compared = int(((pd.to_numeric(m, errors="coerce") > 0) | (pd.to_numeric(r, errors="coerce") > 0)).sum())
        flagged = int(comparison[f"{hz}_flag"].sum())
        med = float(both.median()) if len(both) else float("nan")
        name = next(x.name_zh for x in RISK_HAZARDS if x.id == hz)
        if compared == 0:
            text = f"{name}：模型与记录均无损失"
        elif hz in RARE_HAZARDS:
            text = f"{name}：低频灾种，43 年记录不足以检验模型"
        elif flagged and flagged >= 0.5 * compared and len(both) and abs(med) >= ORDER_OF_MAGNITUDE:
            ratio = f"模型为记录的 {10 ** med:.0f} 倍" if med > 0 else f"记录为模型的 {10 ** -med:.0f} 倍"
            text = (f"{name}：{flagged}/{compared} 个乡镇相差≥1个数量级（中位数上{ratio}）——"
                    f"系统性差异，应先检查模型（损失对象、易损性）而非逐乡镇核查")
        elif flagged:
            text = f"{name}：{flagged}/{compared} 个乡镇相差≥1个数量级，其余量级一致——重点核查这些乡镇的历史统计"
        else:
            text = f"{name}：{compared} 个乡镇量级一致"
        rows.append({"risk_hazard": hz, "name_zh": name, "townships_compared": compared, "flagged": flagged,
                     "median_log10_ratio": med, "text_zh": text})
    return pd.DataFrame(rows)


def compare_losses(annual, risk_townships=None, townships=None):
    """Per township: modelled expected annual loss (CNY/yr, ``risk_townships`` ``H_loss``) vs the recorded
    annual mean at 2020 prices (CNY/yr) for the hazards both cover, per hazard and in total; flags
    |log10(model/recorded)| ≥ 1 (and a material loss on one side only). Geometry: the township."""
    import geopandas as gpd
    import pandas as pd

    recorded, years = recorded_township_means(annual)
    loss_ids = [h.id for h in RISK_HAZARDS if h.is_loss]
    model: dict[str, dict[str, float]] = {}
    have_model = risk_townships is not None and len(risk_townships) > 0
    if have_model:
        cols = [h for h in loss_ids if f"{h}_loss" in risk_townships.columns]
        loss_ids = cols or loss_ids
        for r in risk_townships.to_dict("records"):
            model[str(r["township_code"])] = {h: float(r[f"{h}_loss"]) for h in cols
                                              if r.get(f"{h}_loss") is not None and not pd.isna(r.get(f"{h}_loss"))}
    base = townships if townships is not None and len(townships) else None
    codes = sorted(set(base["code"].astype(str)) if base is not None else set(recorded) | set(model))
    names = dict(zip(base["code"].astype(str), base["name"].astype(str))) if base is not None else {}
    geoms = dict(zip(base["code"].astype(str), base.geometry.values)) if base is not None else {}
    rows = []
    for c in codes:
        row: dict[str, Any] = {"township_code": c, "township_name": names.get(c, c),
                               "years_recorded": years.get(c, 0)}
        m_all = 0.0
        r_all = 0.0
        for h in loss_ids:
            m = model.get(c, {}).get(h) if have_model else None
            rec = recorded[c].get(h, 0.0) if c in recorded else None
            ratio, flag, _ = _verdict(m, rec, rare=h in RARE_HAZARDS)
            row[f"{h}_model_cny"] = m
            row[f"{h}_recorded_cny"] = rec
            row[f"{h}_log10_ratio"] = ratio
            row[f"{h}_flag"] = flag
            if h not in RARE_HAZARDS:     # the total compares the frequent hazards the record can test
                m_all += m or 0.0
                r_all += rec or 0.0
        m_tot = m_all if have_model and c in model else None
        r_tot = r_all if c in recorded else None
        ratio, flag, verdict = _verdict(m_tot, r_tot)
        if c in recorded and years.get(c, 0) < SHORT_RECORD_YEARS:
            verdict += f"（仅 {years[c]} 年有统计记录，记录可能不全）"
        row.update({"model_total_cny": m_tot, "recorded_total_cny": r_tot, "log10_ratio": ratio, "flag": flag,
                    "hazards_flagged": ",".join(h for h in loss_ids if row[f"{h}_flag"]),
                    "verdict_zh": verdict, "geometry": _multi(geoms.get(c))})
        rows.append(row)
    df = pd.DataFrame(rows)
    return gpd.GeoDataFrame(df, geometry="geometry", crs=STORAGE_CRS)


# --------------------------------------------------------------------------------------------------
# The whole run

@dataclass
class HistoryResult:
    trends: Any
    weights: Any
    events: Any                 # GeoDataFrame
    comparison: Any             # GeoDataFrame
    unmapped: dict[str, float]
    have_model: bool
    agreement: Any = None       # per hazard, over the townships (hazard_agreement)
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        t = self.trends
        sig = t[(t["significant"] == 1) & (t["metric"] == "direct_loss_2020")] if len(t) else t
        c = self.comparison
        return {
            "hazard_types": sorted(set(t["hazard_type"]) - {"all"}) if len(t) else [],
            "significant_loss_trends": [{"hazard_type": r.hazard_type, "trend": r.trend, "sen_slope_wan_per_year":
                                         round(float(r.sen_slope), 3), "p": round(float(r.p_value), 4)}
                                        for r in sig.itertuples()],
            "weights": {str(r.risk_hazard): round(float(r.weight), 4) for r in self.weights.itertuples()},
            "unmapped_loss_wan": {k: round(v, 1) for k, v in self.unmapped.items()},
            "largest_events": [{"rank": int(r.rank), "event_name": r.event_name, "year": int(r.year),
                                "direct_loss_2020_wan": round(float(r.direct_loss_2020_wan), 1)}
                               for r in self.events.itertuples()] if len(self.events) else [],
            "model_available": self.have_model,
            "agreement": [{"risk_hazard": r.risk_hazard, "flagged": int(r.flagged),
                           "compared": int(r.townships_compared), "text_zh": r.text_zh}
                          for r in self.agreement.itertuples()] if self.have_model and self.agreement is not None else [],
            "townships_flagged": [{"township_code": r.township_code, "township_name": r.township_name,
                                   "verdict_zh": r.verdict_zh} for r in c[c["flag"] == 1].itertuples()],
            "files": {k: str(v) for k, v in self.files.items()},
            "notes": self.notes,
        }


def assess_history(gpkg: str | Path, n_events: int = 10) -> HistoryResult:
    """Trends, weights, largest events and the model comparison for a county GeoPackage."""

    gpkg = L.as_target(gpkg)
    names = _layers(gpkg)
    annual = read_annual(gpkg)
    notes = []
    if not len(annual):
        notes.append("disaster_annual 没有 1978—2020 年的有效记录 / no valid 1978–2020 rows in disaster_annual")
    series = county_series(annual)
    townships = L.read_dataframe(gpkg, "townships") if "townships" in names else None
    events = read_events(gpkg) if "disaster_event" in names else None
    if events is None:
        notes.append("没有 disaster_event 图层 / no disaster_event layer")
    risk_t = None
    if "risk_townships" in names:
        risk_t = L.read_dataframe(gpkg, "risk_townships", read_geometry=False)
    else:
        notes.append("没有 risk_townships 图层（尚未运行 census risk assess），只列出记录损失 / no risk_townships "
                     "layer (census risk assess not run): recorded losses only")
    notes.append("损失按居民消费价格指数折算为 2020 年价 / losses converted to 2020 prices with the CPI: " + CPI.source)
    notes.append("模型损失仅含房屋（建筑）直接损失，记录损失还含农业、基础设施等，模型偏低属正常；≥1 个数量级才标记 / "
                 "modelled losses cover buildings only while recorded ones include crops and infrastructure; only "
                 "a gap of an order of magnitude or more is flagged")
    comparison = compare_losses(annual, risk_t, townships)
    return HistoryResult(trends(series), loss_weights(series), largest_events(events, townships, n_events),
                         comparison, unmapped_losses(series), risk_t is not None, hazard_agreement(comparison),
                         notes=notes)


def write_history(result: HistoryResult, gpkg: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Layers ``history_trends``, ``history_weights`` (tables), ``history_comparison``, ``history_events``
    (MultiPolygon) into ``gpkg`` (replacing earlier runs) and one CSV of each into ``out_dir``."""
    import pandas as pd

    gpkg = L.as_target(gpkg)
    L.write_layer(gpkg, result.trends, TRENDS_LAYER,
                   description="历史灾害趋势（Mann–Kendall、Theil–Sen）/ historical trends (census risk history)")
    L.write_layer(gpkg, result.weights, WEIGHTS_LAYER,
                   description="各灾种损失占比（综合风险权重建议）/ loss shares as weights (census risk history)")
    comp = result.comparison
    ints = [c for c in comp.columns if c.endswith("_flag") or c in ("flag", "years_recorded")]
    comp = comp.copy()
    for c in ints:
        comp[c] = comp[c].astype("int32")
    L.write_layer(gpkg, comp[comp.geometry.notna()] if comp.geometry.notna().any() else comp, COMPARISON_LAYER,
                   geometry_type="MultiPolygon", promote_to_multi=True,
                   description="模型期望年损失与历史记录对比 / modelled vs recorded annual losses (census risk history)")
    if result.have_model and result.agreement is not None and len(result.agreement):
        L.write_layer(gpkg, result.agreement, AGREEMENT_LAYER,
                       description="各灾种模型与记录的一致性 / model–record agreement per hazard (census risk history)")
    ev = result.events
    if len(ev):
        L.write_layer(gpkg, ev[ev.geometry.notna()], EVENTS_LAYER, geometry_type="MultiPolygon", promote_to_multi=True,
                       description="最大历史灾害事件 / largest historical events (census risk history)")
    files: dict[str, Path] = {}
    if out_dir is not None:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        frames = [(TRENDS_LAYER, result.trends), (WEIGHTS_LAYER, result.weights),
                  (COMPARISON_LAYER, result.comparison), (EVENTS_LAYER, result.events)]
        if result.have_model and result.agreement is not None:
            frames.append((AGREEMENT_LAYER, result.agreement))
        for name, frame in frames:
            p = d / f"{name}.csv"
            df = pd.DataFrame(frame.drop(columns="geometry") if "geometry" in frame.columns else frame)
            df.to_csv(p, index=False, encoding="utf-8-sig")       # BOM: opens in Excel with Chinese intact
            files[name] = p
    result.files.update(files)
    return files


def run_history(gpkg: str | Path, out_dir: str | Path | None = None, n_events: int = 10) -> HistoryResult:
    result = assess_history(gpkg, n_events)
    write_history(result, gpkg, out_dir)
    return result
