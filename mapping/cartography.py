"""Map furniture and drawing primitives: polygons, boundaries, graticule, scale bar, north arrow, inset, legend.

Maps are drawn in the storage CRS (EPSG:4490, degrees) with the axes aspect set to 1/cos φ₀, i.e. an
equirectangular projection true to scale along the county's central parallel φ₀. At county size
(< 1° of latitude) the scale error elsewhere on the map stays below 1 %; hazard rasters and risk
grids draw as they are stored, and tick labels are exact degrees. The scale bar's length comes from
the CGCS2000 (GRS 80) ellipsoid's parallel radius at φ₀, so it is correct at the map's latitude.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.path import Path as MplPath
from shapely.geometry.base import BaseGeometry

from mapping import styles

# CGCS2000 uses the GRS 80 ellipsoid (a = 6 378 137 m, f = 1/298.257222101).
GRS80_A = 6378137.0
GRS80_F = 1.0 / 298.257222101
_E2 = GRS80_F * (2.0 - GRS80_F)


def metres_per_degree_lon(lat: float) -> float:
    """Length of one degree of longitude along the parallel ``lat`` on the GRS 80 ellipsoid (metres)."""
    phi = math.radians(lat)
    n = GRS80_A / math.sqrt(1.0 - _E2 * math.sin(phi) ** 2)   # prime-vertical radius of curvature
    return n * math.cos(phi) * math.pi / 180.0


def map_aspect(lat0: float) -> float:
    """Axes aspect (dy/dx) that makes one km as long north–south as east–west at ``lat0``."""
    return 1.0 / math.cos(math.radians(lat0))


# ------------------------------------------------------------------------------------------------------
# geometry → matplotlib

def _ring_path(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes = np.full(len(coords), MplPath.LINETO, dtype=np.uint8)
    codes[0] = MplPath.MOVETO
    codes[-1] = MplPath.CLOSEPOLY
    return coords, codes


def geometry_path(geom: BaseGeometry) -> MplPath | None:
    """One compound path for a (multi)polygon, holes included; None for empty/non-areal geometries."""
    if geom is None or geom.is_empty:
        return None
    parts = getattr(geom, "geoms", [geom])
    verts, codes = [], []
    for poly in parts:
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        for ring in (poly.exterior, *poly.interiors):
            v, c = _ring_path(np.asarray(ring.coords)[:, :2])
            verts.append(v)
            codes.append(c)
    if not verts:
        return None
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def draw_polygons(ax, geoms: Iterable[BaseGeometry], facecolors, *, edgecolor="none", linewidth=0.0,
                  zorder: float = 1.0, gid: str | None = None, clip: BaseGeometry | None = None,
                  rasterized: bool = False) -> PathCollection:
    """Fill polygons (one colour each, or one for all); ``clip`` limits the fill to that polygon."""
    geoms = list(geoms)
    fc = list(facecolors) if not isinstance(facecolors, str) else [facecolors] * len(geoms)
    paths, cols = [], []
    for g, c in zip(geoms, fc):
        p = geometry_path(g)
        if p is not None:
            paths.append(p)
            cols.append(c)
    coll = PathCollection(paths, facecolors=cols, edgecolors=edgecolor, linewidths=linewidth, zorder=zorder,
                          transform=ax.transData)
    coll.set_gid(gid)
    coll.set_rasterized(rasterized)
    ax.add_collection(coll, autolim=False)
    if clip is not None:
        set_clip(ax, coll, clip)
    return coll


def set_clip(ax, artist, clip: BaseGeometry) -> None:
    path = geometry_path(clip)
    if path is not None:
        artist.set_clip_path(path, ax.transData)


def draw_lines(ax, geoms: Iterable[BaseGeometry], style: styles.LineStyle, *, zorder: float = 4.0,
               gid: str | None = None) -> LineCollection:
    """Boundaries (of polygons) or lines, in one collection."""
    segs = []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        b = g.boundary if g.geom_type in ("Polygon", "MultiPolygon") else g
        for line in getattr(b, "geoms", [b]):
            segs.append(np.asarray(line.coords)[:, :2])
    ls = (0, style.dashes) if style.dashes else "solid"
    coll = LineCollection(segs, colors=style.colour, linewidths=style.width, linestyles=[ls], zorder=zorder,
                          capstyle="round", joinstyle="round")
    coll.set_gid(gid)
    ax.add_collection(coll, autolim=False)
    return coll


# ------------------------------------------------------------------------------------------------------
# extent and graticule

def set_map_extent(ax, bounds: Sequence[float], lat0: float, margin: float = 0.04) -> tuple[float, float, float, float]:
    """Limits that show ``bounds`` (minx, miny, maxx, maxy) with ``margin`` and fill the axes box at the
    map aspect; returns (x0, x1, y0, y1)."""
    minx, miny, maxx, maxy = bounds
    aspect = map_aspect(lat0)
    fig = ax.figure
    pos = axes_position(ax)
    box_w = pos.width * fig.get_figwidth()
    box_h = pos.height * fig.get_figheight()
    w, h = (maxx - minx) * (1 + 2 * margin), (maxy - miny) * (1 + 2 * margin)
    # one data unit of y is drawn ``aspect`` times as long as one of x: fill the box, keep the aspect
    if h * aspect * box_w >= w * box_h:       # relatively taller than the box: the height decides
        w = h * aspect * box_w / box_h
    else:
        h = w * box_h / (box_w * aspect)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    # the limits already fill the box at this aspect, so "box" changes nothing and warns about nothing
    ax.set_aspect(aspect, adjustable="box")
    ax.apply_aspect(pos)
    return x0, x1, y0, y1


def axes_position(ax):
    """The axes box in figure fractions, also for inset axes (whose locator runs only at draw time)."""
    locator = ax.get_axes_locator()
    if locator is None:
        return ax.get_position()
    pos = locator(ax, None)
    ax.set_position(pos, which="active")
    return pos


_STEPS_MIN = (1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 300)


def graticule_step(span_deg: float, max_lines: int = 6) -> float:
    """A round step in degrees (whole arc-minutes) giving at most ``max_lines`` lines over ``span_deg``."""
    for m in _STEPS_MIN:
        if span_deg / (m / 60.0) <= max_lines:
            return m / 60.0
    return _STEPS_MIN[-1] / 60.0


def format_dms(value: float, axis: str) -> str:
    """120°20′E / 40°30′N (minutes only when not whole degrees)."""
    hemi = ("E" if value >= 0 else "W") if axis == "x" else ("N" if value >= 0 else "S")
    v = abs(value)
    deg = int(math.floor(v + 1e-9))
    minutes = int(round((v - deg) * 60))
    if minutes == 60:
        deg, minutes = deg + 1, 0
    return f"{deg}°{minutes:02d}′{hemi}" if minutes else f"{deg}°{hemi}"


def add_graticule(ax, *, max_lines: int = 6, labelsize: float = 7.5) -> tuple[np.ndarray, np.ndarray]:
    """Graticule lines (under the labels, over the fills) and degree–minute tick labels on all four sides."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    step = graticule_step(max(x1 - x0, y1 - y0), max_lines)
    xs = np.arange(math.ceil(x0 / step - 1e-9) * step, x1 + 1e-12, step)
    ys = np.arange(math.ceil(y0 / step - 1e-9) * step, y1 + 1e-12, step)
    xs = xs[(xs > x0) & (xs < x1)]
    ys = ys[(ys > y0) & (ys < y1)]
    segs = [np.array([[x, y0], [x, y1]]) for x in xs] + [np.array([[x0, y], [x1, y]]) for y in ys]
    g = styles.GRATICULE
    coll = LineCollection(segs, colors=g.colour, linewidths=g.width, linestyles=[(0, g.dashes)], zorder=3.5,
                          alpha=0.8)
    coll.set_gid("graticule")
    ax.add_collection(coll, autolim=False)
    ax.set_xticks(xs, [format_dms(x, "x") for x in xs])
    ax.set_yticks(ys, [format_dms(y, "y") for y in ys])
    ax.tick_params(axis="both", which="both", direction="in", length=3, width=0.6, labelsize=labelsize,
                   top=True, right=True, labeltop=True, labelright=True, pad=2)
    for lab in ax.get_yticklabels():
        lab.set_rotation(90)
        lab.set_verticalalignment("center")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return xs, ys


# ------------------------------------------------------------------------------------------------------
# scale bar, north arrow

@dataclass
class ScaleBar:
    length_km: float
    x0: float            # data coordinates of the bar's ends and baseline
    x1: float
    y: float
    ticks_km: tuple[float, ...]
    artists: list = field(default_factory=list, repr=False)


_NICE_KM = (0.5, 1, 2, 2.5, 5, 10, 15, 20, 25, 30, 40, 50, 100, 200, 500)


def nice_length_km(map_width_km: float, fraction: float = 0.28) -> float:
    """The largest round length not longer than ``fraction`` of the map's width."""
    target = map_width_km * fraction
    ok = [v for v in _NICE_KM if v <= target]
    return ok[-1] if ok else _NICE_KM[0]


def _ticks_for(length: float) -> tuple[float, ...]:
    """0, ¼, ½, 1 of the length when the quarter is a round number (20 km → 0 5 10 20), else 0, ½, 1."""
    q = length / 4
    if float(q).is_integer() or q == 0.5:
        return (0.0, q, length / 2, length)
    return (0.0, length / 2, length)


def _km(v: float) -> str:
    return f"{v:g}"


def add_scale_bar(ax, lat0: float, *, loc: tuple[float, float] = (0.045, 0.045), fontsize: float = 7.5,
                  length_km: float | None = None) -> ScaleBar:
    """A segmented scale bar in km whose length is true at ``lat0``; ``loc`` is its lower-left corner
    in axes fractions. Segments carry ``gid="scalebar-segment"``."""
    x_lo, x_hi = ax.get_xlim()
    y_lo, y_hi = ax.get_ylim()
    mpd = metres_per_degree_lon(lat0)
    width_km = (x_hi - x_lo) * mpd / 1000.0
    length = length_km or nice_length_km(width_km)
    ticks = _ticks_for(length)
    x0 = x_lo + loc[0] * (x_hi - x_lo)
    bar_h = (y_hi - y_lo) * 0.009
    y = y_lo + loc[1] * (y_hi - y_lo) + bar_h * 2.2
    deg = lambda km: km * 1000.0 / mpd
    artists = []
    for i, (a, b) in enumerate(zip(ticks[:-1], ticks[1:])):
        r = Rectangle((x0 + deg(a), y), deg(b - a), bar_h, facecolor="#1a1a1a" if i % 2 == 0 else "white",
                      edgecolor="#1a1a1a", linewidth=0.6, zorder=8, gid="scalebar-segment")
        ax.add_patch(r)
        artists.append(r)
    for t in ticks:
        artists.append(ax.text(x0 + deg(t), y + bar_h * 1.6, _km(t), ha="center", va="bottom", fontsize=fontsize,
                               zorder=8, gid="scalebar-label"))
    artists.append(ax.text(x0 + deg(length) + deg(length) * 0.05, y + bar_h / 2, "千米", ha="left", va="center",
                           fontsize=fontsize, zorder=8, gid="scalebar-unit"))
    return ScaleBar(length, x0, x0 + deg(length), y, ticks, artists)


def add_north_arrow(ax, *, loc: tuple[float, float] = (0.95, 0.83), size: float = 0.085) -> list:
    """A two-tone north arrow with an N above it; ``loc`` is the arrow's base centre in axes fractions,
    ``size`` its height as a fraction of the axes height."""
    fig = ax.figure
    bb = axes_position(ax)
    ratio = (bb.height * fig.get_figheight()) / (bb.width * fig.get_figwidth())   # axes-x per axes-y unit
    cx, by = loc
    h = size
    w = h * 0.36 * ratio
    tip = (cx, by + h)
    notch = (cx, by + h * 0.28)
    left = Polygon([tip, (cx - w, by), notch], closed=True, transform=ax.transAxes, facecolor="#1a1a1a",
                   edgecolor="#1a1a1a", linewidth=0.6, zorder=8, gid="north-arrow")
    right = Polygon([tip, (cx + w, by), notch], closed=True, transform=ax.transAxes, facecolor="white",
                    edgecolor="#1a1a1a", linewidth=0.6, zorder=8, gid="north-arrow")
    ax.add_patch(left)
    ax.add_patch(right)
    n = ax.text(cx, by + h + 0.008, "N", transform=ax.transAxes, ha="center", va="bottom", fontsize=11,
                zorder=8, gid="north-arrow-label", fontfamily="DejaVu Sans", fontweight="bold")
    return [left, right, n]


def artists_bbox(artists: Iterable, pad: float = 3.0) -> tuple[float, float, float, float]:
    """Union of the artists' display boxes (pixels), padded; used as label obstacles."""
    boxes = [a.get_window_extent() for a in artists]
    x0 = min(b.x0 for b in boxes) - pad
    y0 = min(b.y0 for b in boxes) - pad
    x1 = max(b.x1 for b in boxes) + pad
    y1 = max(b.y1 for b in boxes) + pad
    return (x0, y0, x1, y1)


# ------------------------------------------------------------------------------------------------------
# panel: inset, legend, notes

def draw_inset(ax, county: BaseGeometry, context, county_name: str, lat0: float) -> None:
    """Locator inset: the city (with its counties) in grey and the county in red."""
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_linewidth(0.6)
        s.set_color("#555555")
    frame = context.city if context.city is not None else county
    if context.sea is not None:
        draw_polygons(ax, [context.sea], styles.SEA_FILL, zorder=0.5)
    if context.city is not None:
        draw_polygons(ax, [context.city], "#ececec", zorder=1)
        if context.neighbours:
            draw_lines(ax, [g for _, g in context.neighbours], styles.LineStyle("#9a9a9a", 0.35), zorder=2)
        draw_lines(ax, [context.city], styles.LineStyle("#4d4d4d", 0.7), zorder=3)
    draw_polygons(ax, [county], "#d7301f", edgecolor="#7f0000", linewidth=0.5, zorder=4, gid="inset-county")
    minx, miny, maxx, maxy = frame.bounds
    set_map_extent(ax, (minx, miny, maxx, maxy), lat0, margin=0.06)
    title = f"{context.city_name}位置示意" if context.city_name else f"{county_name}位置示意"
    ax.set_title(title, fontsize=9, pad=3)


def add_legend(ax, entries: Sequence[styles.ClassStyle], title: str, *, labels: Sequence[str] | None = None,
               fontsize: float = 9.0):
    """A class legend (in ``ax``, which is turned off) with one filled box per entry, in order."""
    ax.set_axis_off()
    handles = [Patch(facecolor=e.colour, edgecolor="#4d4d4d", linewidth=0.5,
                     label=(labels[i] if labels else e.name_zh)) for i, e in enumerate(entries)]
    leg = ax.legend(handles=handles, loc="upper left", title=title, frameon=False, fontsize=fontsize,
                    title_fontsize=fontsize + 1, alignment="left", handlelength=2.2, handleheight=1.2,
                    labelspacing=0.55, borderaxespad=0.0)
    leg.set_gid("class-legend")
    return leg


def add_symbol_legend(ax, legend, *, fontsize: float = 8.0, extra: Sequence = ()) -> None:
    """Line symbols under the class legend: county and township boundaries, then ``extra`` handles
    (point symbols, hatches) of the map."""
    from matplotlib.lines import Line2D

    c, t = styles.COUNTY_LINE, styles.TOWNSHIP_LINE
    handles = [*extra, Line2D([], [], color=c.colour, lw=c.width, label="县（市）界"),
               Line2D([], [], color=t.colour, lw=t.width * 1.4, linestyle=(0, t.dashes), label="乡镇（街道）界")]
    leg2 = ax.legend(handles=handles, loc="upper left", frameon=False, fontsize=fontsize, handlelength=2.2,
                     bbox_to_anchor=(0.0, _legend_bottom(ax, legend)), borderaxespad=0.0,
                     labelspacing=0.5 if extra else None)
    leg2.set_gid("symbol-legend")
    ax.add_artist(legend)


def _legend_bottom(ax, legend) -> float:
    """Axes-fraction y just below ``legend``."""
    bb = legend.get_window_extent()
    inv = ax.transAxes.inverted()
    return float(inv.transform((bb.x0, bb.y0))[1]) - 0.04


def _em(ch: str) -> float:
    """Approximate advance of a character in ems: CJK and full-width forms 1, others about 0.52."""
    o = ord(ch)
    return 1.0 if (0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF
                   or 0x3000 <= o <= 0x303F) else 0.52


def _tokens(text: str) -> list[str]:
    """CJK characters one by one, Latin words (with their trailing punctuation) whole, spaces apart."""
    import re

    return re.findall(r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]|\s+|[^\s\u2e80-\u9fff"
                      r"\uf900-\ufaff\u3000-\u303f\uff00-\uffef]+", text)


def wrap_text(text: str, max_em: float, indent: str = "  ") -> list[str]:
    """Greedy wrap for mixed Chinese/Latin text: break between CJK characters or between Latin words,
    never before closing punctuation; continuation lines are indented."""
    closers = set("，。、；：）)》」』’”%")
    lines: list[str] = []
    cur, width = "", 0.0
    for tok in _tokens(text):
        w = sum(_em(c) for c in tok)
        if width + w > max_em and cur.strip() and tok[0] not in closers:
            lines.append(cur.rstrip())
            cur, width = indent, sum(_em(c) for c in indent)
            if tok.isspace():
                continue
        cur += tok
        width += w
    if cur.strip():
        lines.append(cur.rstrip())
    return lines


def add_notes(ax, lines: Sequence[str], *, fontsize: float = 7.0, max_top: float | None = None,
              min_fontsize: float = 5.6):
    """Small print in the panel, wrapped to its width. With ``max_top`` (display pixels: the bottom of
    the legend above) a long block is set smaller, down to ``min_fontsize``, until it stays below it."""
    ax.set_axis_off()
    fig = ax.figure
    width_pt = axes_position(ax).width * fig.get_figwidth() * 72.0
    fs = fontsize
    while True:
        wrapped = [w for line in lines for w in wrap_text(line, width_pt / fs * 0.97)]
        # anchored at the bottom: the notes grow upwards towards the legend, never off the page
        text = ax.text(0.0, 0.0, "\n".join(wrapped), transform=ax.transAxes, ha="left", va="bottom", fontsize=fs,
                       linespacing=1.5, color="#333333", gid="map-notes")
        if max_top is None or fs <= min_fontsize or text.get_window_extent().y1 <= max_top:
            return text
        text.remove()
        fs = max(min_fontsize, fs - 0.4)
