"""Maps that need no risk assessment: hazard intensity (GeoTIFF), exposure density, disaster-reduction capacity.

- Hazard maps class a layer's values with the registry's five hazard levels (GB 18306, GB/T 28592 …)
  and draw them as an image clipped to the county.
- Exposure density bins house records (rural + urban) or village residents onto a grid built in the
  county's Gauss-Krüger zone; classes are quantiles (equal numbers of cells per class, edges rounded to
  two significant figures), which reads well for the very skewed densities of settlements.
- Capacity maps per township use an indicator from the township capacity form per resident, or the
  assessment's capacity index when the risk layers exist; classes are exact Fisher–Jenks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from mapping import cartography as carto
from mapping import fmt, styles
from mapping.compose import MapSpec, compose
from mapping.errors import MappingError
from mapping.source import MapSource, open_source

# ------------------------------------------------------------------------------------------------------
# hazard intensity

def hazard_map(gpkg: str | Path | MapSource, layer_id: str, *, hazards_dir: str | Path | None = None, ax=None):
    """Five hazard levels of one hazard layer (``hazards.registry`` id) read from ``HAZARDS_DIR/ID.tif``."""
    from hazards.io import get_transform, read_raster
    from hazards.registry import RISK_LEVELS, classify, get_layer

    spec = get_layer(layer_id)
    src = open_source(gpkg)
    folder = Path(hazards_dir) if hazards_dir else src.hazards_dir
    if folder is None:
        raise MappingError("未指定致灾因子目录：请用 --hazards 给出 GeoTIFF 所在目录",
                           "no hazard folder: give the folder of the GeoTIFFs with --hazards")
    da = read_raster(folder / f"{layer_id}.tif", masked=True)
    levels = classify(da, spec)
    lut = np.zeros((6, 4))
    from matplotlib.colors import to_rgba

    lut[0] = (0, 0, 0, 0)   # nodata: transparent
    for lvl, _zh, _en, colour in RISK_LEVELS:
        lut[lvl] = to_rgba(colour)
    rgba = lut[levels]
    tr = get_transform(da)
    h, w = levels.shape
    extent = (tr.c, tr.c + tr.a * w, tr.f + tr.e * h, tr.f)
    present = sorted(set(np.unique(levels)) - {0})

    def draw(ax):
        im = ax.imshow(rgba, extent=extent, origin="upper", interpolation="nearest", zorder=2, aspect="auto")
        im.set_gid("hazard-image")
        carto.set_clip(ax, im, src.county)

    entries = styles.risk_level_styles()
    labels = tuple(spec.class_label(e.value) for e in entries)
    vals = np.asarray(da.values, dtype=float)
    inside = vals[np.isfinite(vals)]
    stat = (f"图层数值范围：{fmt.short(inside.min())}–{fmt.short(inside.max())} {spec.unit}"
            if inside.size else "图层无有效数值")
    rp = f"重现期 {spec.return_period} 年 · " if spec.return_period else ""
    mspec = MapSpec(
        title=f"{src.county_name}{spec.name_zh}分级图",
        subtitle=f"{src.county_name}（{src.county_code}） · 致灾因子 {spec.id} · {rp}"
                 f"普查标准时点 {styles.REFERENCE_DATE_TEXT}",
        legend_title=f"危险性等级（{spec.unit}）" if spec.unit not in ("1", "class") else "危险性等级",
        entries=entries, labels=labels,
        notes=(f"分级依据：{spec.description_zh}", stat, f"数据来源：致灾因子图层 {folder.name}/{layer_id}.tif"),
        kind=f"hazard:{layer_id}")
    fig = compose(src, mspec, draw, ax=ax)
    fig.census_map.present_levels = present
    return fig


# ------------------------------------------------------------------------------------------------------
# classification helpers for continuous values

def _round_sig(x: float, sig: int = 2) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, sig - 1 - int(math.floor(math.log10(abs(x)))))


def fisher_jenks_edges(values: np.ndarray, k: int) -> tuple[float, ...]:
    """Exact Fisher–Jenks (Fisher 1958): the k classes of sorted values that minimise the total within-class
    sum of squared deviations; returns the k−1 inner edges (each the lowest value of a class).

    Dynamic programming, O(k·n²): fine for the few dozen townships of a county. (mapclassify does the same
    but compiles numba code on import — seconds a CLI call should not pay.)
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    if k < 2 or n <= k:
        return tuple(v[1:k]) if n > 1 else ()
    c1 = np.concatenate(([0.0], np.cumsum(v)))
    c2 = np.concatenate(([0.0], np.cumsum(v * v)))

    def ssd(i: int, j: int) -> float:  # values i..j-1
        m = j - i
        s = c1[j] - c1[i]
        return c2[j] - c2[i] - s * s / m

    cost = np.full((k + 1, n + 1), np.inf)
    back = np.zeros((k + 1, n + 1), dtype=int)
    cost[0, 0] = 0.0
    for c in range(1, k + 1):
        for j in range(c, n + 1):
            best, arg = np.inf, c - 1
            for i in range(c - 1, j):
                val = cost[c - 1, i] + ssd(i, j)
                if val < best:
                    best, arg = val, i
            cost[c, j], back[c, j] = best, arg
    starts, j = [], n
    for c in range(k, 0, -1):
        i = back[c, j]
        starts.append(i)
        j = i
    starts = sorted(starts)[1:]           # drop the first class's start (index 0)
    return tuple(float(v[i]) for i in starts)


def class_edges(values: np.ndarray, method: str = "quantiles", k: int = 5) -> tuple[float, ...]:
    """Ascending inner edges (≤ k−1) splitting ``values`` into classes, rounded (2 significant figures; for
    natural breaks as round as they can be without moving a value to another class).

    ``quantiles``: equal numbers of values per class; ``fisher_jenks``: exact natural breaks.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return ()
    k = int(min(k, len(np.unique(v))))
    if k < 2:
        return ()
    if method == "fisher_jenks":
        # each edge is the lowest value of its class: round it only as far as it still lies above the
        # previous class's highest value, so rounding never moves a value into another class
        inner = sorted({_round_between(float(v[v < b].max()), float(b)) for b in fisher_jenks_edges(v, k)})
    else:
        inner = sorted({_round_sig(float(b)) for b in np.quantile(v, np.arange(1, k) / k)})
    return tuple(b for b in inner if v.min() < b <= v.max())


def _round_between(lo: float, hi: float) -> float:
    """The roundest number in (lo, hi]: ``hi`` rounded down to as few significant figures as keep it
    above ``lo`` (2 at least, as the other edges)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= 0:
        return hi
    for sig in range(2, 16):
        step = 10.0 ** (math.floor(math.log10(abs(hi))) - sig + 1)
        cand = round(math.floor(hi / step + 1e-9) * step, 12)
        if cand > lo:
            return cand
    return hi


def classes_of(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Class 0 … len(edges) (lowest values first); NaN → −1."""
    v = np.asarray(values, dtype=float)
    out = np.digitize(np.nan_to_num(v, nan=-np.inf), np.asarray(edges, dtype=float), right=False)
    return np.where(np.isfinite(v), out, -1)


def _palette_entries(palette: styles.Palette, n: int, names: list[str]) -> tuple[styles.ClassStyle, ...]:
    # spread n classes over the 5 colours (2 classes → lightest and darkest …)
    idx = np.round(np.linspace(0, 4, n)).astype(int) if n > 1 else np.array([2])
    return tuple(styles.ClassStyle(i, names[i], names[i], palette.colours[j]) for i, j in enumerate(idx))


# ------------------------------------------------------------------------------------------------------
# exposure density

@dataclass(frozen=True)
class ExposureKind:
    id: str
    name_zh: str
    name_en: str
    unit_zh: str
    source_zh: str


EXPOSURE_KINDS: tuple[ExposureKind, ...] = (
    ExposureKind("floor_area", "房屋建筑面积密度", "building floor-area density", "万 m²/km²",
                 "农村、城镇房屋调查表（rural_house、urban_house）的建筑面积"),
    ExposureKind("buildings", "房屋栋数密度", "building count density", "栋/km²",
                 "农村、城镇房屋调查表（rural_house、urban_house）的房屋栋数"),
    ExposureKind("population", "常住人口密度", "resident population density", "人/km²",
                 "行政村（社区）人口调查表（village_population）的常住人口"),
)
_EXPOSURE_BY_ID = {k.id: k for k in EXPOSURE_KINDS}


def get_exposure_kind(kind: str) -> ExposureKind:
    try:
        return _EXPOSURE_BY_ID[kind]
    except KeyError:
        valid = ", ".join(_EXPOSURE_BY_ID)
        raise MappingError(f"未知的承灾体密度类型“{kind}”；可用的有：{valid}",
                           f"unknown exposure kind '{kind}'; valid: {valid}") from None


def _gk(src: MapSource):
    from pyproj import Transformer

    from exposure.footprints import gk_crs_for

    crs = gk_crs_for(src.county.centroid.x)
    return (crs, Transformer.from_crs("EPSG:4490", crs, always_xy=True),
            Transformer.from_crs(crs, "EPSG:4490", always_xy=True))


def density_grid(src: MapSource, kind: str, cell_km: float = 1.0):
    """(cells in EPSG:4490, density per km²) for houses binned onto ``cell_km`` cells; empty cells dropped."""
    houses = src.houses
    if not len(houses):
        raise MappingError(f"{src.db_label} 中没有房屋调查记录（rural_house、urban_house 为空），无法绘制承灾体密度图",
                           f"{src.db_label} has no house records (rural_house and urban_house are empty)")
    _crs, fwd, back = _gk(src)
    c = shapely.centroid(houses.geometry.values)
    x, y = fwd.transform(shapely.get_x(c), shapely.get_y(c))
    size = cell_km * 1000.0
    minx, miny, maxx, maxy = shapely.transform(src.county, lambda xy: np.column_stack(fwd.transform(*xy.T))).bounds
    x0, y0 = math.floor(minx / size) * size, math.floor(miny / size) * size
    nx, ny = int(math.ceil((maxx - x0) / size)) + 1, int(math.ceil((maxy - y0) / size)) + 1
    weights = houses["floor_area"].to_numpy() / 1e4 if kind == "floor_area" else None
    counts, _, _ = np.histogram2d(x, y, bins=(nx, ny), range=((x0, x0 + nx * size), (y0, y0 + ny * size)),
                                  weights=weights)
    i, j = np.nonzero(counts)
    cells = shapely.box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
    cells = shapely.transform(cells, lambda xy: np.column_stack(back.transform(*xy.T)))
    return cells, counts[i, j] / (cell_km * cell_km)


def village_density(src: MapSource):
    """(village polygons, residents per km²) from village_population over the village areas."""
    _crs, fwd, _back = _gk(src)
    villages = src.read("villages")
    pop = src.village_population
    if not len(pop):
        raise MappingError(f"{src.db_label} 中没有村（社区）人口记录（village_population 为空），无法绘制人口密度图",
                           f"{src.db_label} has no village population records (village_population is empty)")
    by_code = dict(zip(pop["village_code"].astype(str), pop["resident_population"]))
    geoms = villages.geometry.values
    area_km2 = shapely.area(shapely.transform(geoms, lambda xy: np.column_stack(fwd.transform(*xy.T)))) / 1e6
    people = np.array([float(by_code.get(str(c), np.nan) or np.nan) for c in villages["code"]])
    return geoms, np.where(area_km2 > 0, people / area_km2, np.nan)


def exposure_map(gpkg: str | Path | MapSource, kind: str = "floor_area", *, cell_km: float = 1.0, ax=None):
    """Exposure density: floor area or buildings per km² on a grid, or residents per km² by village."""
    ek = get_exposure_kind(kind)
    src = open_source(gpkg)
    if kind == "population":
        geoms, dens = village_density(src)
        unit_txt = "行政村（社区）"
    else:
        geoms, dens = density_grid(src, kind, cell_km)
        unit_txt = f"{cell_km:g} 千米格网（高斯-克吕格投影下划分）"
    edges = class_edges(dens, "quantiles")
    cls = classes_of(dens, edges)
    names = fmt.range_labels(edges, "")
    entries = _palette_entries(styles.EXPOSURE_PALETTE, len(names), names)
    fc = [entries[c].colour if c >= 0 else styles.NODATA_STYLE.colour for c in cls]

    def draw(ax):
        # grid cells: edges in the fill colour close the hairline seams antialiasing leaves between cells;
        # villages: thin white edges keep neighbouring villages of one class apart
        edge = ("white", 0.25) if kind == "population" else ("face", 0.3)
        carto.draw_polygons(ax, geoms, fc, edgecolor=edge[0], linewidth=edge[1], zorder=2, gid="exposure",
                            clip=src.county)

    total = np.nansum(dens) * (cell_km * cell_km if kind != "population" else 0)
    extra = (f"合计：{fmt.num(total, 1)} 万 m²" if kind == "floor_area" else
             f"合计：{fmt.num(total)} 栋" if kind == "buildings" else "")
    spec = MapSpec(
        title=f"{src.county_name}{ek.name_zh}图",
        subtitle=f"{src.county_name}（{src.county_code}） · 承灾体 · 统计单元：{unit_txt} · "
                 f"普查标准时点 {styles.REFERENCE_DATE_TEXT}",
        legend_title=f"{ek.name_zh}（{ek.unit_zh}）",
        entries=tuple(reversed(entries)), labels=tuple(reversed(names)),
        notes=tuple(x for x in ("分级方法：分位数法（各级单元数相等，界限取两位有效数字）", extra,
                                f"数据来源：{ek.source_zh}") if x),
        kind=f"exposure:{kind}")
    return compose(src, spec, draw, ax=ax)


# ------------------------------------------------------------------------------------------------------
# capacity

@dataclass(frozen=True)
class CapacityIndicator:
    id: str
    name_zh: str
    name_en: str
    unit_zh: str
    source_zh: str
    compute: Callable[[MapSource], dict]   # township code → value


def _num_col(df, col):
    import pandas as pd

    return pd.to_numeric(df[col], errors="coerce") if col in df.columns else pd.Series(np.nan, index=df.index)


def _per_people(col: str, per: float, extra: str | None = None) -> Callable[[MapSource], dict]:
    def compute(src: MapSource) -> dict:
        df = src.township_capacity
        if not len(df):
            return {}
        pop = src.township_population()
        v = _num_col(df, col)
        if extra:
            v = v.fillna(0) + _num_col(df, extra).fillna(0)
        out = {}
        for code, val in zip(df["township_code"], v):
            p = pop.get(code)
            out[code] = float(val) / p * per if p and np.isfinite(val) else np.nan
        return out

    return compute


def _capacity_index(src: MapSource) -> dict:
    src.require_risk(("risk_townships",))
    rt = src.risk_townships
    if "capacity_index" not in rt.columns:
        src.require_column("risk_townships", "capacity_index")
    return dict(zip(rt["township_code"], rt["capacity_index"].astype(float)))


CAPACITY_INDICATORS: tuple[CapacityIndicator, ...] = (
    CapacityIndicator("shelter_per_1000", "每千人避难场所容量", "shelter places per 1 000 residents", "人/千人",
                      "乡镇（街道）减灾能力调查表 shelters_capacity ÷ 常住人口", _per_people("shelters_capacity", 1000)),
    CapacityIndicator("staff_per_10000", "每万人减灾工作人员", "disaster-management staff per 10 000 residents",
                      "人/万人", "乡镇（街道）减灾能力调查表 fulltime_staff + parttime_staff ÷ 常住人口",
                      _per_people("fulltime_staff", 10000, "parttime_staff")),
    CapacityIndicator("rescue_per_1000", "每千人救援队伍人数", "rescue-team members per 1 000 residents", "人/千人",
                      "乡镇（街道）减灾能力调查表 team_members_total ÷ 常住人口", _per_people("team_members_total", 1000)),
    CapacityIndicator("capacity_index", "综合减灾能力指数", "disaster-reduction capacity index", "0–1，越高越强",
                      "风险评估结果 risk_townships.capacity_index", _capacity_index),
)
_CAPACITY_BY_ID = {c.id: c for c in CAPACITY_INDICATORS}


def get_capacity_indicator(indicator: str) -> CapacityIndicator:
    try:
        return _CAPACITY_BY_ID[indicator]
    except KeyError:
        valid = ", ".join(_CAPACITY_BY_ID)
        raise MappingError(f"未知的减灾能力指标“{indicator}”；可用的有：{valid}",
                           f"unknown capacity indicator '{indicator}'; valid: {valid}") from None


def capacity_map(gpkg: str | Path | MapSource, indicator: str = "shelter_per_1000", *, ax=None):
    """One capacity indicator per township (darker = more capacity)."""
    ind = get_capacity_indicator(indicator)
    src = open_source(gpkg)
    values = ind.compute(src)
    towns = src.townships
    vals = np.array([values.get(c, np.nan) for c in towns["code"]], dtype=float)
    if not np.isfinite(vals).any():
        raise MappingError(f"{src.db_label} 中没有可用的乡镇减灾能力数据（{ind.source_zh}），无法绘制能力图",
                           f"{src.db_label} has no usable township capacity data for {ind.id}")
    edges = class_edges(vals, "fisher_jenks")
    cls = classes_of(vals, edges)
    names = fmt.range_labels(edges)
    entries = _palette_entries(styles.CAPACITY_PALETTE, len(names), names)
    fc = [entries[c].colour if c >= 0 else styles.NODATA_STYLE.colour for c in cls]
    missing = int((cls < 0).sum())

    def draw(ax):
        carto.draw_polygons(ax, towns.geometry, fc, edgecolor="none", zorder=2, gid="capacity")

    legend_entries = tuple(reversed(entries))
    labels = tuple(reversed(names))
    if missing:
        legend_entries = (*legend_entries, styles.NODATA_STYLE)
        labels = (*labels, "未填报")
    spec = MapSpec(
        title=f"{src.county_name}{ind.name_zh}分布图",
        subtitle=f"{src.county_name}（{src.county_code}） · 综合减灾能力 · 统计单元：乡镇（街道） · "
                 f"普查标准时点 {styles.REFERENCE_DATE_TEXT}",
        legend_title=f"{ind.name_zh}（{ind.unit_zh}）", entries=legend_entries, labels=labels,
        notes=("分级方法：自然断点法（Fisher–Jenks，精确解；界限取整但不改变分类）", f"数据来源：{ind.source_zh}"),
        kind=f"capacity:{indicator}")
    return compose(src, spec, draw, ax=ax)
