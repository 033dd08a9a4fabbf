"""Compose one map page: background, the thematic layer, boundaries, furniture, labels, panel, titles.

Every thematic map (zoning, prevention, hazard, exposure, capacity) is a :class:`MapSpec` plus a
function that draws its data into the map axes; :func:`compose` does everything else the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import shapely

from mapping import cartography as carto
from mapping import styles
from mapping.context import load_context
from mapping.fonts import use_cjk_font
from mapping.labels import PlacedLabel, place_labels
from mapping.layout import MapFrame, add_titles, frame_around, new_map_frame
from mapping.source import MapSource

_CONTEXT_CACHE: dict[int, object] = {}


@dataclass(frozen=True)
class MapSpec:
    title: str
    subtitle: str
    legend_title: str
    entries: tuple[styles.ClassStyle, ...]
    labels: tuple[str, ...] | None = None       # legend texts; default: the entries' zh names
    notes: tuple[str, ...] = ()                  # extra note lines (method, source) above the standard ones
    kind: str = ""                               # e.g. "zoning:earthquake" (kept on the figure for callers)
    symbols: tuple = ()                          # extra legend handles (markers, hatches) under the boundaries


@dataclass
class MapResult:
    """What :func:`compose` drew, for tests and callers (also attached to the figure as ``census_map``)."""

    frame: MapFrame
    spec: MapSpec
    legend: object
    scale_bar: carto.ScaleBar
    labels: list[PlacedLabel] = field(default_factory=list)


def context_for(src: MapSource):
    key = id(src)
    if key not in _CONTEXT_CACHE or _CONTEXT_CACHE[key][0] is not src:
        _CONTEXT_CACHE.clear()  # one source at a time: no unbounded growth
        _CONTEXT_CACHE[key] = (src, load_context(src))
    return _CONTEXT_CACHE[key][1]


def _halo(width: float = 2.2) -> tuple[float, str]:
    return (width, styles.LABEL_HALO)


def _background(ax, src: MapSource, ctx) -> list[tuple[str, shapely.Geometry]]:
    """Neighbouring counties and sea under the data; returns neighbour (name, visible part) for labels."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    view = shapely.box(x0, y0, x1, y1)
    if ctx.sea is not None and ctx.sea.intersects(view):
        carto.draw_polygons(ax, [shapely.intersection(ctx.sea, view)], styles.SEA_FILL, zorder=0.4, gid="sea")
    visible = []
    for name, geom in ctx.neighbours:
        part = shapely.intersection(geom, view)
        if part.is_empty:
            continue
        visible.append((name, part))
    if visible:
        carto.draw_polygons(ax, [g for _, g in visible], styles.NEIGHBOUR_FILL, zorder=0.5, gid="neighbours")
        carto.draw_lines(ax, [g for _, g in visible], styles.NEIGHBOUR_EDGE, zorder=0.6)
    return visible


def standard_notes(src: MapSource, ctx, extra: Sequence[str]) -> list[str]:
    made = dt.date.today().isoformat()
    lines = list(extra)
    lines += [f"{styles.MAP_CRS_LABEL_ZH}；等距圆柱投影，标准纬线 {src.lat0:.2f}°N",
              f"行政区划：{src.db_kind_zh} {src.db_label}；{ctx.source_zh.split('：', 1)[-1]}",
              f"普查标准时点：{styles.REFERENCE_DATE_TEXT}；制图日期：{made}",
              f"制图：{src.county_name}自然灾害综合风险普查办公室（census-toolkit）"]
    return lines


def compose(src: MapSource, spec: MapSpec, draw_data: Callable[[object], None], *, ax=None,
            label_townships: bool = True, overlay: Callable[[object, list], list] | None = None,
            township_text: dict[str, str] | None = None):
    """Draw a complete map page for ``spec``; ``draw_data(ax)`` adds the thematic layer (zorder ≈ 2).

    ``overlay(ax, obstacles)`` draws what must be placed before the township names (e.g. labelled sites)
    once the extent and the furniture are final, and returns the display boxes the names must avoid.
    ``township_text`` adds a second line under some townships' names (code → text).

    Returns the figure; the :class:`MapResult` is at ``fig.census_map`` (the last map drawn in it).
    """
    use_cjk_font()
    frame = new_map_frame() if ax is None else frame_around(ax)
    ax = frame.ax
    ctx = context_for(src)
    ax.set_facecolor("white")
    extent = carto.set_map_extent(ax, src.county.bounds, src.lat0, margin=0.05)
    neighbours = _background(ax, src, ctx)
    draw_data(ax)
    ax.set_xlim(extent[:2])      # images and patches may have autoscaled or reset the aspect: restore both
    ax.set_ylim(extent[2:])
    ax.set_aspect(carto.map_aspect(src.lat0), adjustable="box")
    carto.draw_lines(ax, src.townships.geometry, styles.TOWNSHIP_LINE, zorder=4, gid="township-boundaries")
    carto.draw_lines(ax, [src.county], styles.COUNTY_LINE, zorder=5, gid="county-boundary")
    carto.add_graticule(ax)
    bar = carto.add_scale_bar(ax, src.lat0)
    arrow = carto.add_north_arrow(ax)
    obstacles = [carto.artists_bbox(bar.artists), carto.artists_bbox(arrow)]
    placed: list[PlacedLabel] = []
    if overlay is not None:
        obstacles += list(overlay(ax, list(obstacles)))
    if label_townships:
        extra = township_text or {}
        items = [(str(c), f"{n}\n{extra[str(c)]}" if str(c) in extra else str(n), g)
                 for c, n, g in zip(src.townships["code"], src.townships["name"], src.townships.geometry)]
        placed = place_labels(ax, items, lat0=src.lat0, fontsize=8.0, obstacles=obstacles,
                              text_kw={"color": styles.LABEL_COLOUR, "zorder": 7}, halo=_halo())
        obstacles += [p.bbox for p in placed]
    if neighbours:  # neighbouring counties' names in grey where there is room
        big = [(n, n, g) for n, g in neighbours if g.area > 0.02 * src.county.area and n]
        nb = place_labels(ax, big, lat0=src.lat0, fontsize=9.0, obstacles=obstacles,
                          text_kw={"color": "#8c8c8c", "zorder": 6}, halo=_halo(1.5), fallback=False,
                          gid="neighbour-label")
        obstacles += [p.bbox for p in nb]
    _sea_label(ax, ctx, src, obstacles)
    carto.draw_inset(frame.inset, src.county, ctx, src.county_name, src.lat0)
    legend = carto.add_legend(frame.legend, spec.entries, spec.legend_title, labels=spec.labels)
    carto.add_symbol_legend(frame.legend, legend, extra=spec.symbols)
    legend_bottom = frame.legend.get_legend().get_window_extent().y0
    carto.add_notes(frame.notes, standard_notes(src, ctx, spec.notes), max_top=legend_bottom - 6.0)
    add_titles(frame, spec.title, spec.subtitle)
    result = MapResult(frame, spec, legend, bar, placed)
    frame.fig.census_map = result
    return frame.fig


def _sea_label(ax, ctx, src: MapSource, obstacles) -> None:
    if ctx.sea is None or not ctx.sea_name:
        return
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    part = shapely.intersection(ctx.sea, shapely.box(x0, y0, x1, y1))
    if part.is_empty or part.area < 0.01 * (x1 - x0) * (y1 - y0):
        return
    place_labels(ax, [(ctx.sea_name, ctx.sea_name, part)], lat0=src.lat0, fontsize=10.0, obstacles=obstacles,
                 text_kw={"color": styles.SEA_TEXT, "zorder": 6, "style": "italic"}, fallback=False, gid="sea-label")
