"""Typed registry of hazard families, layers, intensity measures and their five-level classes.

Code reads every threshold, unit and colour from here (InaSAFE ``safe/definitions`` habit, with types),
so a changed threshold is one edit that the tests and the maps pick up together.

Class convention (project-wide): level 1 = 高 highest hazard … level 5 = 低 lowest; level 0 = nodata.
Each :class:`HazardClass` covers ``lower <= value < upper``; the outer classes are open
(``-inf``/``inf``) so every valid value gets a class. Layer ids are also the GeoTIFF file stems.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hazards.errors import UnknownHazard

INF = math.inf

# (level, zh, en, colour): ColorBrewer RdYlGn-5, the conventional red → green of Chinese zoning maps.
RISK_LEVELS: tuple[tuple[int, str, str, str], ...] = (
    (1, "高", "high", "#d7191c"),
    (2, "较高", "fairly high", "#fdae61"),
    (3, "中", "medium", "#ffffbf"),
    (4, "较低", "fairly low", "#a6d96a"),
    (5, "低", "low", "#1a9641"),
)
NODATA_LEVEL = 0
NODATA_COLOUR = "#bdbdbd"

FLOOD_RETURN_PERIODS: tuple[int, ...] = (10, 20, 50, 100)


@dataclass(frozen=True)
class HazardFamily:
    """One of the six census hazard families (普查六大类灾害)."""

    id: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class HazardClass:
    """A hazard level with its value range ``lower <= v < upper`` in the layer's unit."""

    level: int
    name_zh: str
    name_en: str
    lower: float
    upper: float
    colour: str

    def contains(self, value: float) -> bool:
        return self.lower <= value < self.upper


@dataclass(frozen=True)
class HazardLayerSpec:
    """A hazard layer: what it measures, how it is stored and how it is classed.

    ``classes`` is ordered by level (1 = highest hazard first). ``higher_is_worse=False`` marks a
    layer whose small values are the dangerous ones (``geo_susceptibility``, whose value *is* the level).
    """

    id: str
    family: str
    name_zh: str
    name_en: str
    intensity_measure: str
    unit: str
    dtype: str
    nodata: float | int
    classes: tuple[HazardClass, ...]
    return_period: int | None
    description_zh: str
    description_en: str
    higher_is_worse: bool = True

    @property
    def breaks(self) -> tuple[float, ...]:
        """Inner class edges in ascending value order (what ``np.digitize`` needs)."""
        edges = sorted({c.lower for c in self.classes} | {c.upper for c in self.classes})
        return tuple(e for e in edges if math.isfinite(e))

    def get_class(self, level: int) -> HazardClass:
        for c in self.classes:
            if c.level == level:
                return c
        raise KeyError(level)

    def class_label(self, level: int, lang: str = "zh") -> str:
        """Legend text such as ``高 (≥0.28 g)``; keeps units and edges out of the mapping code."""
        c = self.get_class(level)
        name = c.name_zh if lang == "zh" else c.name_en
        unit = "" if self.unit in ("1", "class") else f" {self.unit}"
        if not math.isfinite(c.lower):
            rng = f"<{c.upper:g}{unit}"
        elif not math.isfinite(c.upper):
            rng = f"≥{c.lower:g}{unit}"
        else:
            rng = f"{c.lower:g}–{c.upper:g}{unit}"
        return f"{name} ({rng})"


def _classes(edges: tuple[float, float, float, float], *, higher_is_worse: bool = True) -> tuple[HazardClass, ...]:
    """Five classes from four ascending inner edges; level 1 gets the worst end."""
    if list(edges) != sorted(edges) or len(set(edges)) != 4:
        raise ValueError(f"class edges must be 4 strictly ascending values: {edges}")
    bounds = (-INF, *edges, INF)
    spans = [(bounds[i], bounds[i + 1]) for i in range(5)]  # ascending values
    if higher_is_worse:
        spans.reverse()  # highest values → level 1
    return tuple(
        HazardClass(level, zh, en, lo, hi, colour)
        for (level, zh, en, colour), (lo, hi) in zip(RISK_LEVELS, spans)
    )


FAMILIES: tuple[HazardFamily, ...] = (
    HazardFamily("earthquake", "地震", "earthquake"),
    HazardFamily("geological", "地质灾害", "geological hazards"),
    HazardFamily("meteorological", "气象灾害", "meteorological hazards"),
    HazardFamily("flood", "水旱灾害", "flood and drought"),
    HazardFamily("marine", "海洋灾害", "marine hazards"),
    HazardFamily("fire", "森林和草原火灾", "forest and grassland fire"),
)

# --- GB 18306-2015 (中国地震动参数区划图) ---------------------------------------------------------
# The zoning map assigns each site a basic PGA zone value; the zone is read off the site's PGA with
# these edges (GB 18306-2015, Table/Appendix: 0.04 ≤ a < 0.09 g → 0.05 g zone, …, a ≥ 0.38 g → 0.40 g).
# (zone value g or None for "< 0.05 g", lower edge, upper edge, seismic intensity 烈度)
GB18306_PGA_ZONES: tuple[tuple[float | None, float, float, str], ...] = (
    (None, -INF, 0.04, "<Ⅵ"),
    (0.05, 0.04, 0.09, "Ⅵ"),
    (0.10, 0.09, 0.14, "Ⅶ"),
    (0.15, 0.14, 0.19, "Ⅶ"),
    (0.20, 0.19, 0.28, "Ⅷ"),
    (0.30, 0.28, 0.38, "Ⅷ"),
    (0.40, 0.38, INF, "Ⅸ"),
)
GB18306_BAND_EDGES: tuple[float, ...] = (0.04, 0.09, 0.14, 0.19, 0.28, 0.38)

# Seven GB 18306 bands folded into the project's five levels, cutting only at GB edges:
#   5 低   <0.09 g   (<0.05 g and 0.05 g zones, ≤Ⅵ)
#   4 较低 0.09–0.14 (0.10 g zone, Ⅶ)
#   3 中   0.14–0.19 (0.15 g zone, Ⅶ)
#   2 较高 0.19–0.28 (0.20 g zone, Ⅷ)
#   1 高   ≥0.28 g   (0.30 g and 0.40 g zones, Ⅷ–Ⅸ)
_PGA_EDGES = (0.09, 0.14, 0.19, 0.28)


def gb18306_zone(pga: np.ndarray | float) -> np.ndarray:
    """GB 18306 zone value (g) for PGA values; 0.0 means "< 0.05 g" and NaN stays NaN.

    Uses the standard's band edges 0.04/0.09/0.14/0.19/0.28/0.38 g, not the zone values themselves,
    because the zone value is the *representative* PGA of a band, not its boundary.
    """
    a = np.asarray(pga)
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype("float64")
    zones = np.array([0.0, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40])
    edges = np.asarray(GB18306_BAND_EDGES, dtype=a.dtype)  # compare in the data's precision
    out = zones[np.digitize(np.nan_to_num(a, nan=0.0), edges, right=False)]
    return np.where(np.isnan(a), np.nan, out)


_F32_NODATA = -9999.0

LAYERS: tuple[HazardLayerSpec, ...] = (
    HazardLayerSpec(
        id="eq_pga_scenario", family="earthquake",
        name_zh="情景地震峰值加速度", name_en="scenario earthquake PGA",
        intensity_measure="PGA", unit="g", dtype="float32", nodata=_F32_NODATA,
        classes=_classes(_PGA_EDGES), return_period=None,
        description_zh="设定地震情景下的地表峰值加速度；分级沿用 GB 18306 的分档界限（见 eq_pga_475）。",
        description_en="Peak ground acceleration of a scenario earthquake; classed with the GB 18306 "
                       "band edges used for eq_pga_475.",
    ),
    HazardLayerSpec(
        id="eq_pga_475", family="earthquake",
        name_zh="50 年超越概率 10% 地震动峰值加速度", name_en="PGA, 10% in 50 years (475-year)",
        intensity_measure="PGA", unit="g", dtype="float32", nodata=_F32_NODATA,
        classes=_classes(_PGA_EDGES), return_period=475,
        description_zh="II 类场地基本地震动峰值加速度（重现期 475 年）。按 GB 18306-2015 分档界限 "
                       "0.04/0.09/0.14/0.19/0.28/0.38 g 对应 0.05/0.10/0.15/0.20/0.30/0.40 g 区；"
                       "五级分级：≥0.28 g（0.30、0.40 g 区）为 1 级，0.19–0.28（0.20 g）2 级，"
                       "0.14–0.19（0.15 g）3 级，0.09–0.14（0.10 g）4 级，<0.09 g（0.05 g 及以下）5 级。",
        description_en="Basic PGA on class-II sites, 475-year return period. GB 18306-2015 band edges "
                       "0.04/0.09/0.14/0.19/0.28/0.38 g give the 0.05/0.10/0.15/0.20/0.30/0.40 g zones; "
                       "five levels: ≥0.28 g (0.30 & 0.40 g zones) 1, 0.19–0.28 (0.20 g) 2, 0.14–0.19 "
                       "(0.15 g) 3, 0.09–0.14 (0.10 g) 4, <0.09 g (0.05 g and below) 5.",
    ),
    HazardLayerSpec(
        id="geo_susceptibility", family="geological",
        name_zh="地质灾害易发性", name_en="geohazard susceptibility",
        intensity_measure="susceptibility_class", unit="class", dtype="uint8", nodata=0,
        classes=_classes((1.5, 2.5, 3.5, 4.5), higher_is_worse=False), return_period=None,
        description_zh="崩塌、滑坡、泥石流易发性分级，像元值即级别：1 极高/高易发 … 5 低/不易发；0 为无数据。",
        description_en="Landslide/rockfall/debris-flow susceptibility; the pixel value is the level "
                       "itself, 1 = highest … 5 = lowest (so lower values are worse); 0 = nodata.",
        higher_is_worse=False,
    ),
    HazardLayerSpec(
        id="rainstorm", family="meteorological",
        name_zh="50 年一遇最大日降水量", name_en="50-year maximum daily precipitation",
        intensity_measure="max_daily_precipitation", unit="mm", dtype="float32", nodata=_F32_NODATA,
        classes=_classes((100.0, 150.0, 200.0, 250.0)), return_period=50,
        description_zh="参照 GB/T 28592 降水量等级：<100 mm（暴雨及以下）5 级，100–150、150–200、"
                       "200–250 mm（大暴雨）4–2 级，≥250 mm（特大暴雨）1 级。",
        description_en="After GB/T 28592 rain grades: <100 mm (heavy rain or less) 5; 100–150, 150–200, "
                       "200–250 mm (torrential) 4–2; ≥250 mm (extraordinary rainstorm) 1.",
    ),
    HazardLayerSpec(
        id="wind_gust", family="meteorological",
        name_zh="50 年一遇极大风速", name_en="50-year gust speed",
        intensity_measure="gust_speed", unit="m/s", dtype="float32", nodata=_F32_NODATA,
        classes=_classes((17.2, 24.5, 32.7, 41.5)), return_period=50,
        description_zh="按 GB/T 28591 风力等级（蒲福风级）分档：<17.2 m/s（≤7 级）5 级，8–9 级 4 级，"
                       "10–11 级 3 级，12–13 级 2 级，≥41.5 m/s（≥14 级）1 级。",
        description_en="Beaufort-like bands (GB/T 28591): <17.2 m/s (≤force 7) 5, force 8–9 4, "
                       "10–11 3, 12–13 2, ≥41.5 m/s (≥force 14) 1.",
    ),
    HazardLayerSpec(
        id="drought", family="flood",
        name_zh="干旱危险性指数", name_en="drought hazard index",
        intensity_measure="drought_index", unit="1", dtype="float32", nodata=_F32_NODATA,
        classes=_classes((0.2, 0.4, 0.6, 0.8)), return_period=None,
        description_zh="归一化干旱危险性指数（0–1），等间距五级：≥0.8 为 1 级 … <0.2 为 5 级。",
        description_en="Normalised drought hazard index (0–1), equal-interval levels: ≥0.8 is 1 … <0.2 is 5.",
    ),
    *(
        HazardLayerSpec(
            id=f"flood_depth_rp{rp}", family="flood",
            name_zh=f"{rp} 年一遇洪水淹没水深", name_en=f"{rp}-year flood inundation depth",
            intensity_measure="inundation_depth", unit="m", dtype="float32", nodata=_F32_NODATA,
            classes=_classes((0.5, 1.0, 2.0, 3.0)), return_period=rp,
            description_zh="洪水淹没水深（0 为未淹没）：≥3 m 1 级，2–3 m 2 级，1–2 m 3 级，0.5–1 m 4 级，"
                           "<0.5 m（含未淹没）5 级。",
            description_en="Flood inundation depth (0 = dry): ≥3 m 1, 2–3 m 2, 1–2 m 3, 0.5–1 m 4, "
                           "<0.5 m (incl. dry) 5.",
        )
        for rp in FLOOD_RETURN_PERIODS
    ),
    HazardLayerSpec(
        id="storm_surge_depth", family="marine",
        name_zh="风暴潮淹没水深", name_en="storm-surge inundation depth",
        intensity_measure="surge_depth", unit="m", dtype="float32", nodata=_F32_NODATA,
        classes=_classes((0.15, 0.5, 1.2, 3.0)), return_period=None,
        description_zh="按风暴潮危险性区划常用水深分档 0.15/0.5/1.2/3.0 m：≥3 m 1 级 … <0.15 m 5 级。",
        description_en="Storm-surge hazard zoning depth bands 0.15/0.5/1.2/3.0 m: ≥3 m 1 … <0.15 m 5.",
    ),
    HazardLayerSpec(
        id="fire_danger", family="fire",
        name_zh="森林草原火险指数", name_en="forest and grassland fire danger index",
        intensity_measure="fire_danger_index", unit="1", dtype="float32", nodata=_F32_NODATA,
        classes=_classes((0.2, 0.4, 0.6, 0.8)), return_period=None,
        description_zh="归一化火险指数（0–1），等间距五级：≥0.8 为 1 级 … <0.2 为 5 级。",
        description_en="Normalised fire danger index (0–1), equal-interval levels: ≥0.8 is 1 … <0.2 is 5.",
    ),
)

_LAYERS_BY_ID: dict[str, HazardLayerSpec] = {spec.id: spec for spec in LAYERS}
_FAMILIES_BY_ID: dict[str, HazardFamily] = {f.id: f for f in FAMILIES}
LAYER_IDS: tuple[str, ...] = tuple(spec.id for spec in LAYERS)


def get_layer(layer_id: str) -> HazardLayerSpec:
    """The spec for ``layer_id``; an unknown id raises :class:`UnknownHazard` listing the valid ones."""
    try:
        return _LAYERS_BY_ID[layer_id]
    except (KeyError, TypeError):
        raise UnknownHazard("layer", layer_id, LAYER_IDS) from None


def get_family(family_id: str) -> HazardFamily:
    try:
        return _FAMILIES_BY_ID[family_id]
    except (KeyError, TypeError):
        raise UnknownHazard("family", family_id, tuple(_FAMILIES_BY_ID)) from None


def layers_for_family(family_id: str) -> tuple[HazardLayerSpec, ...]:
    """Layers of one family in registry order (raises :class:`UnknownHazard` for a bad family id)."""
    get_family(family_id)
    return tuple(spec for spec in LAYERS if spec.family == family_id)


def flood_layer_id(return_period: int) -> str:
    """``flood_depth_rp{N}`` for a supported return period."""
    layer_id = f"flood_depth_rp{int(return_period)}"
    get_layer(layer_id)
    return layer_id


def classify(values: np.ndarray, layer_id: str | HazardLayerSpec, *, nodata: float | None = None) -> np.ndarray:
    """Hazard level per value as int8: 1 (highest) … 5 (lowest), 0 for NaN/nodata.

    ``nodata`` defaults to a DataArray's ``attrs["nodata"]``, else the layer's registered nodata.
    Vectorised with ``np.digitize`` so a whole raster classes in one pass; returns a plain ndarray.
    """
    spec = layer_id if isinstance(layer_id, HazardLayerSpec) else get_layer(layer_id)
    if nodata is None:
        nodata = getattr(values, "attrs", {}).get("nodata")
    a = np.asarray(values)
    nd = spec.nodata if nodata is None else nodata
    invalid = np.zeros(a.shape, dtype=bool)
    if np.issubdtype(a.dtype, np.floating):
        invalid |= np.isnan(a)
    if nd is not None and not (isinstance(nd, float) and math.isnan(nd)):
        invalid |= a == nd
    # bin 0 = lowest values … bin 4 = highest values; lower edge inclusive (right=False).
    # Compare in the data's own float type so a float32 0.19 lands in the band that starts at 0.19.
    ftype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64
    bins = np.digitize(np.where(invalid, 0, a).astype(ftype, copy=False),
                       np.asarray(spec.breaks, dtype=ftype), right=False)
    levels = (5 - bins) if spec.higher_is_worse else (bins + 1)
    return np.where(invalid, NODATA_LEVEL, levels).astype(np.int8)


def class_colours() -> dict[int, str]:
    """Level → colour, including 0 → the nodata grey; the same for every layer by design."""
    return {NODATA_LEVEL: NODATA_COLOUR, **{lvl: colour for lvl, _zh, _en, colour in RISK_LEVELS}}
