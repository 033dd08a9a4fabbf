"""The hidden-danger map (重点隐患分布与整治优先级图): threat zones and remediation sites by priority.

Reads the two layers of ``census risk dangers``: ``danger_threat_zones`` (filled by the priority of their
site, the most urgent drawn on top) and ``danger_remediation`` (one symbol per site: its shape says the
kind of danger, its colour and size the priority). The county's top sites carry their rank and name, so
the map and the remediation list (整治清单) read together. Houses show as grey dots: where the people are.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely

from mapping import cartography as carto
from mapping import fmt, styles
from mapping.compose import MapSpec, compose
from mapping.source import MapSource, open_source

DEFAULT_TOP = 10          # sites labelled with rank and name
DEFAULT_NUMBERED = 20     # sites labelled with their rank (the report's list has 20 rows)


@dataclass(frozen=True)
class PriorityStyle:
    """One remediation priority: fill of its threat zones, colour and size of its site symbols."""

    priority: int
    colour: str
    edge: str
    marker_size: float          # points² (scatter)


# red → orange → yellow: urgency, not the five risk levels (the zones sit over a neutral base)
PRIORITY_STYLES: tuple[PriorityStyle, ...] = (
    PriorityStyle(1, "#d7301f", "#7f0000", 46.0),
    PriorityStyle(2, "#fc8d59", "#b34700", 30.0),
    PriorityStyle(3, "#fdd835", "#8a6d00", 18.0),
)
ZONE_ALPHA = 0.38


@dataclass(frozen=True)
class KindSymbol:
    """The marker of a group of danger kinds (``risk.threat_zones`` kind ids)."""

    marker: str
    name_zh: str
    kinds: tuple[str, ...]


KIND_SYMBOLS: tuple[KindSymbol, ...] = (
    KindSymbol("^", "地质灾害隐患点",
               ("landslide", "collapse", "debris_flow", "subsidence")),
    KindSymbol("D", "堤防险段、病险水库", ("dyke_weak_section", "reservoir")),
    KindSymbol("s", "危险化学品", ("chemical",)),
    KindSymbol("o", "其他（危房、人员密集场所等）", ()),        # everything else
)
HOUSE_DOT = "#8c8c8c"
SITE_LABEL_COLOUR = "#7f0000"    # dark red: site labels read apart from the black township names


def kind_symbol(kind: str) -> KindSymbol:
    for s in KIND_SYMBOLS:
        if kind in s.kinds:
            return s
    return KIND_SYMBOLS[-1]


@lru_cache(maxsize=1)
def priority_names() -> dict[int, str]:
    """1 → 一级（优先排查治理） … from the risk registry, so the map and the list use the same words."""
    from risk.threat_zones import PRIORITY_BREAKS

    return {p: zh for _lo, p, zh, _en in PRIORITY_BREAKS}


def priority_ranges() -> dict[int, str]:
    """1 → ≥60 分, 2 → 40–60 分, 3 → <40 分 (the score breaks of the registry)."""
    from risk.threat_zones import PRIORITY_BREAKS

    out = {}
    upper = None
    for lo, p, _zh, _en in PRIORITY_BREAKS:
        if upper is None:
            out[p] = f"≥{lo:g} 分"
        elif lo < 0:
            out[p] = f"<{upper:g} 分"
        else:
            out[p] = f"{lo:g}–{upper:g} 分"
        upper = lo
    return out


def priority_style(priority: int) -> PriorityStyle:
    return next((s for s in PRIORITY_STYLES if s.priority == int(priority)), PRIORITY_STYLES[-1])


def _draw_houses(ax, src: MapSource) -> None:
    h = src.houses
    if not len(h):
        return
    pts = shapely.point_on_surface(h.geometry.values)
    # rasterised: a county has 10⁵ houses, which would make a vector PDF heavy and slow
    ax.scatter(shapely.get_x(pts), shapely.get_y(pts), s=0.6, c=HOUSE_DOT, linewidths=0, zorder=1.8,
               rasterized=True, gid="houses")


def _draw_sites(ax, sites) -> None:
    """Symbols, lowest priority first so the urgent ones are on top."""
    x = sites.geometry.x.to_numpy()
    y = sites.geometry.y.to_numpy()
    pr = sites["priority"].astype(int).to_numpy()
    marks = np.array([kind_symbol(str(k)).marker for k in sites["kind"]])
    for ps in reversed(PRIORITY_STYLES):
        for sym in KIND_SYMBOLS:
            sel = (pr == ps.priority) & (marks == sym.marker)
            if sel.any():
                size = ps.marker_size * (0.8 if sym.marker == "D" else 1.0)
                ax.scatter(x[sel], y[sel], s=size, marker=sym.marker, c=ps.colour, edgecolors="#1a1a1a",
                           linewidths=0.6, zorder=6 + (3 - ps.priority) * 0.01, gid=f"danger-site-{ps.priority}")


def _site_labels(ax, sites, top: int, numbered: int, obstacles: list) -> list:
    """Rank and name of the ``top`` sites, the rank alone for those down to ``numbered`` (the report's
    list), beside their symbols; every symbol is an obstacle."""
    from mapping.labels import place_point_labels

    trans = ax.transData
    xy = trans.transform(np.column_stack([sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()]))
    r = 4.5
    marker_boxes = [(px - r, py - r, px + r, py + r) for px, py in xy]
    head = sites[(sites["rank_county"] <= max(top, numbered))]
    items = [(str(row.danger_uid), f"{int(row.rank_county)} {row.name}" if row.rank_county <= top
              else str(int(row.rank_county)), float(row.geometry.x), float(row.geometry.y))
             for row in head.itertuples()]
    placed = place_point_labels(ax, items, fontsize=7.5, obstacles=[*obstacles, *marker_boxes],
                                text_kw={"color": SITE_LABEL_COLOUR, "zorder": 7.6},
                                halo=(2.4, styles.LABEL_HALO), gid="danger-label")
    return [p.bbox for p in placed] + marker_boxes[:len(head)]


def distinct_people(src: MapSource) -> tuple[float, bool]:
    """People inside the union of all threat zones, each counted once, and whether that was possible:
    Σ max(day, night) occupants of ``risk_buildings`` whose point lies in a zone (the rule of
    ``census risk dangers``); without that layer the per-site sum (overlaps counted twice), False."""
    cached = getattr(src, "_distinct_people", None)   # the report asks three times; risk_buildings is big
    if cached is not None:
        return cached
    sites = src.danger_sites
    if not src.has("risk_buildings") or not len(src.danger_zones):
        out = (float(sites["people"].sum()), False)
    else:
        b = src.read("risk_buildings", columns=["occupants_day", "occupants_night"])
        union = shapely.union_all(src.danger_zones.geometry.values)
        shapely.prepare(union)
        pts = shapely.point_on_surface(b.geometry.values)
        inside = shapely.contains_xy(union, shapely.get_x(pts), shapely.get_y(pts))
        occ = np.maximum(b["occupants_day"].fillna(0).to_numpy(float), b["occupants_night"].fillna(0).to_numpy(float))
        out = (float(occ[inside].sum()), True)
    src._distinct_people = out
    return out


def danger_map(gpkg: str | Path | MapSource, *, top: int = DEFAULT_TOP, numbered: int = DEFAULT_NUMBERED, ax=None):
    """Threat zones and remediation sites by priority; the ``top`` sites labelled with rank and name, the
    next ones down to rank ``numbered`` with their rank."""
    from matplotlib.lines import Line2D

    src = open_source(gpkg)
    src.require_dangers()
    sites = src.danger_sites
    zones = src.danger_zones
    pnames = priority_names()
    ranges = priority_ranges()
    counts = sites["priority"].astype(int).value_counts().to_dict()

    def draw(ax):
        _draw_houses(ax, src)
        if len(zones):
            st = [priority_style(p) for p in zones["priority"]]
            carto.draw_polygons(ax, zones.geometry, [s.colour for s in st], edgecolor=[s.edge for s in st],
                                linewidth=0.5, zorder=2, gid="threat-zones").set_alpha(ZONE_ALPHA)
        _draw_sites(ax, sites)

    def overlay(ax, obstacles):
        return _site_labels(ax, sites, top, numbered, obstacles)

    entries = tuple(styles.ClassStyle(ps.priority, pnames[ps.priority], pnames[ps.priority], ps.colour)
                    for ps in PRIORITY_STYLES)
    labels = tuple(f"{pnames[ps.priority]} {ranges[ps.priority]}，{counts.get(ps.priority, 0)} 处"
                   for ps in PRIORITY_STYLES)
    present = {kind_symbol(str(k)).marker for k in sites["kind"]}
    symbols = [Line2D([], [], ls="none", marker=s.marker, markersize=6.5, markerfacecolor="white",
                      markeredgecolor="#1a1a1a", markeredgewidth=0.8, label=s.name_zh)
               for s in KIND_SYMBOLS if s.marker in present]
    symbols.append(Line2D([], [], ls="none", marker="o", markersize=2.2, markerfacecolor=HOUSE_DOT,
                          markeredgewidth=0, label="房屋（普查记录）"))
    people, exact = distinct_people(src)
    n1 = counts.get(1, 0)
    spec = MapSpec(
        title=f"{src.county_name}重点隐患分布与整治优先级图",
        subtitle=f"{src.county_name}（{src.county_code}） · 重点隐患 {len(sites)} 处，其中一级 {n1} 处 · "
                 f"威胁范围内约 {fmt.num(people)} 人 · 普查标准时点 {styles.REFERENCE_DATE_TEXT}",
        legend_title="整治优先级（填色为威胁范围）", entries=entries, labels=labels,
        notes=(f"数字为全县整治排序（前 {min(top, len(sites))} 位注名称）；威胁人数为范围内房屋昼夜最大在室人数"
               + ("（重叠处只计一次）" if exact else "（各隐患相加）"),
               "数据来源：census risk dangers（danger_remediation、danger_threat_zones 图层）"),
        kind="dangers", symbols=tuple(symbols))
    fig = compose(src, spec, draw, ax=ax, overlay=overlay)
    fig.census_map.top_labels = [t for t in fig.census_map.frame.ax.texts if t.get_gid() == "danger-label"]
    return fig
