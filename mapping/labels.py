"""Township labels that stay inside their township and never collide with each other or map furniture.

Greedy placement, biggest township first (it has the most room to give way): candidate anchors are the
pole of inaccessibility and interior points ordered by their distance to the boundary; a candidate wins
when its text box (measured once per string and size, then translated) overlaps no placed label or
obstacle and lies inside the township. When nothing fits, the constraint relaxes in steps — box mostly
inside, then a smaller font — and as a last resort the anchor with the least overlap is taken. The
anchor itself is always inside the township. Distances are measured in a locally metric space
(x·cos φ₀, y) so "far from the boundary" means the same east–west and north–south.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from matplotlib import patheffects
from shapely.geometry.base import BaseGeometry

# (minimum share of the label box inside the township, font scale) per attempt, strictest first
_PASSES: tuple[tuple[float, float], ...] = ((1.0, 1.0), (0.75, 1.0), (1.0, 0.85), (0.6, 0.85), (0.5, 0.72))
_N_CANDIDATES = 40
_PAD_PX = 1.5   # breathing room around each label box, in display pixels at the figure dpi


@dataclass
class PlacedLabel:
    key: str
    text: str
    x: float                     # anchor (data coordinates), inside the township
    y: float
    fontsize: float
    bbox: tuple[float, float, float, float]   # display pixels x0, y0, x1, y1 (without padding)
    artist: object = field(default=None, repr=False)
    inside_share: float = 1.0    # share of the label box inside its township
    text_xy: tuple[float, float] | None = None   # a callout's text centre (data), away from its anchor x, y


def _metric(geom: BaseGeometry, lat0: float) -> BaseGeometry:
    k = np.cos(np.radians(lat0))
    return shapely.transform(geom, lambda xy: xy * np.array([k, 1.0]))


def candidate_points(geom: BaseGeometry, lat0: float, n: int = _N_CANDIDATES) -> np.ndarray:
    """Interior points of ``geom`` (data coordinates), most central first: pole of inaccessibility,
    then a grid of interior points ordered by decreasing distance to the boundary."""
    m = _metric(shapely.make_valid(geom), lat0)
    if m.geom_type == "MultiPolygon":  # label the largest part
        m = max(m.geoms, key=lambda g: g.area)
    k = np.cos(np.radians(lat0))
    pts: list[tuple[float, float]] = []
    try:
        circle = shapely.maximum_inscribed_circle(m, tolerance=max(m.length, 1e-9) / 2000)
        pts.append(tuple(np.asarray(circle.coords)[0]))
    except shapely.errors.GEOSException:  # pragma: no cover - degenerate geometry
        pass
    rp = m.representative_point()
    pts.append((rp.x, rp.y))
    minx, miny, maxx, maxy = m.bounds
    side = int(np.clip(np.sqrt(n * 4), 6, 24))
    gx, gy = np.meshgrid(np.linspace(minx, maxx, side + 2)[1:-1], np.linspace(miny, maxy, side + 2)[1:-1])
    grid = shapely.points(gx.ravel(), gy.ravel())
    inside = shapely.contains_xy(m, gx.ravel(), gy.ravel())
    if inside.any():
        gpts = grid[inside]
        depth = shapely.distance(gpts, m.boundary)
        order = np.argsort(-depth)[: max(n - len(pts), 0)]
        pts.extend((p.x, p.y) for p in gpts[order])
    out = np.asarray(pts, dtype=float)
    out[:, 0] /= k
    return out


def _overlaps(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Overlap area of ``box`` (x0, y0, x1, y1) with each row of ``others``."""
    if len(others) == 0:
        return np.zeros(0)
    w = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    h = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def _text_size(ax, text: str, fontsize: float, **text_kw) -> tuple[float, float]:
    """Width and height (display pixels) of ``text`` drawn at ``fontsize``, including its box when
    ``text_kw`` has a ``bbox`` (the box's padding and edge are outside the text's own extent, and a boxed
    label that ignored them would cover the edge of the next label)."""
    t = ax.text(0, 0, text, fontsize=fontsize, ha="center", va="center", **text_kw)
    renderer = ax.figure.canvas.get_renderer()
    bb = t.get_window_extent(renderer)
    patch = t.get_bbox_patch()
    if patch is not None:
        t.update_bbox_position_size(renderer)
        pb = patch.get_window_extent(renderer)
        lw = patch.get_linewidth() * ax.figure.dpi / 72.0
        # the box is centred on the text: grow the extent symmetrically to cover the patch and its edge
        w = max(bb.width, pb.width + lw)
        h = max(bb.height, pb.height + lw)
        t.remove()
        return w, h
    t.remove()
    return bb.width, bb.height


def place_labels(ax, items: list[tuple[str, str, BaseGeometry]], *, lat0: float, fontsize: float = 8.0,
                 obstacles: list[tuple[float, float, float, float]] = (), draw: bool = True,
                 text_kw: dict | None = None, fallback: bool = True,
                 gid: str = "township-label", halo: tuple[float, str] | None = None,
                 passes: tuple[tuple[float, float], ...] = _PASSES, callout: bool = False) -> list[PlacedLabel]:
    """Place one label per ``(key, text, geometry)`` in ``ax`` (whose limits must be final).

    ``obstacles`` are display-pixel boxes labels must avoid (scale bar, north arrow …). With ``draw``
    the labels are added to ``ax`` as text artists with ``gid``. Without ``fallback`` a
    label that fits nowhere is left out (for optional labels: neighbours, the sea). ``halo`` = (width in
    points, colour) draws a stroked copy under each label for legibility over colour fills. ``passes``
    are the (minimum share inside, font scale) attempts, strictest first (default: shrink before leaving
    the area; a long boxed label may rather keep its size and reach over the boundary). With ``callout``,
    a label that finds no free spot in any pass goes to the nearest free spot outside its area, at full
    size, with a leader line to its anchor (before the least-overlap last resort).
    """
    text_kw = dict(text_kw or {})
    ax.apply_aspect()
    trans = ax.transData
    inv = trans.inverted()
    placed_boxes: list[np.ndarray] = [np.asarray(b, dtype=float) for b in obstacles]
    order = sorted(range(len(items)), key=lambda i: -_metric(items[i][2], lat0).area)
    sizes: dict[tuple[str, float], tuple[float, float]] = {}
    axbox = ax.get_window_extent()
    out: list[PlacedLabel | None] = [None] * len(items)
    for i in order:
        key, text, geom = items[i]
        geom = shapely.make_valid(geom)
        cands = candidate_points(geom, lat0)
        disp = trans.transform(cands)
        best = None  # (score, ...) for the last-resort choice
        chosen = None
        for min_inside, scale in passes:
            fs = fontsize * scale
            if (text, fs) not in sizes:
                sizes[(text, fs)] = _text_size(ax, text, fs, **text_kw)
            w, h = sizes[(text, fs)]
            for (cx, cy), (px, py) in zip(cands, disp):
                box = np.array([px - w / 2, py - h / 2, px + w / 2, py + h / 2])
                padded = box + np.array([-_PAD_PX, -_PAD_PX, _PAD_PX, _PAD_PX])
                if padded[0] < axbox.x0 or padded[2] > axbox.x1 or padded[1] < axbox.y0 or padded[3] > axbox.y1:
                    continue
                clash = _overlaps(padded, np.asarray(placed_boxes)).sum() if placed_boxes else 0.0
                (dx0, dy0), (dx1, dy1) = inv.transform([[box[0], box[1]], [box[2], box[3]]])
                rect = shapely.box(dx0, dy0, dx1, dy1)
                share = shapely.intersection(rect, geom).area / rect.area if rect.area > 0 else 0.0
                score = (clash, -share, scale)
                if best is None or score < best[0]:
                    best = (score, cx, cy, fs, box, share)
                if clash == 0.0 and share >= min_inside - 1e-9:
                    chosen = (cx, cy, fs, box, share)
                    break
            if chosen:
                break
        text_xy = None
        if chosen is None and callout and len(cands):
            w, h = sizes.setdefault((text, fontsize), _text_size(ax, text, fontsize, **text_kw))
            spot = _callout_spot(disp[0], w, h, np.asarray(placed_boxes), axbox)
            if spot is not None:
                box, (tx, ty) = spot
                cx, cy = cands[0]
                chosen = (cx, cy, fontsize, box, 0.0)
                text_xy = tuple(float(v) for v in inv.transform((tx, ty)))
        if chosen is None:
            if best is None or not fallback:  # outside the view, or optional
                continue
            _, cx, cy, fs, box, share = best
            chosen = (cx, cy, fs, box, share)
        cx, cy, fs, box, share = chosen
        placed_boxes.append(box + np.array([-_PAD_PX, -_PAD_PX, _PAD_PX, _PAD_PX]))
        artist = None
        if draw:
            tx, ty = text_xy or (cx, cy)
            if text_xy is not None:
                _leader(ax, trans.transform((cx, cy)), box, inv, text_kw.get("zorder", 6) - 0.02)
            if halo:  # the halo is a stroked copy underneath, so the label itself stays real (searchable) text
                ax.text(tx, ty, text, fontsize=fs, ha="center", va="center", gid="label-halo",
                        **{**text_kw, "color": halo[1], "zorder": text_kw.get("zorder", 6) - 0.01,
                           "path_effects": [patheffects.Stroke(linewidth=halo[0], foreground=halo[1])]})
            artist = ax.text(tx, ty, text, fontsize=fs, ha="center", va="center", gid=gid, **text_kw)
        out[i] = PlacedLabel(key, text, float(cx), float(cy), fs, tuple(float(v) for v in box), artist, share,
                             text_xy)
    return [p for p in out if p is not None]


# callout offsets from the anchor, in label sizes (the nearest rings first; right and left before up and down)
_CALLOUT_DIRS = ((1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (-1, -1), (1, 1), (-1, 1))
_CALLOUT_RINGS = (0.15, 0.5, 1.0, 1.6, 2.4)


def _callout_spot(anchor_px, w: float, h: float, boxes: np.ndarray, axbox):
    """The first free (box, centre) in display pixels round ``anchor_px`` for a ``w`` × ``h`` label, ring by
    ring outwards (a gap of ``ring`` × the label's smaller side between the anchor and the box), or None."""
    px, py = anchor_px
    for ring in _CALLOUT_RINGS:
        gap = ring * min(w, h) + 6.0
        for dx, dy in _CALLOUT_DIRS:
            cx = px + dx * (gap + w / 2)
            cy = py + dy * (gap + h / 2)
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
            padded = box + np.array([-_PAD_PX, -_PAD_PX, _PAD_PX, _PAD_PX])
            if padded[0] < axbox.x0 or padded[2] > axbox.x1 or padded[1] < axbox.y0 or padded[3] > axbox.y1:
                continue
            if len(boxes) and _overlaps(padded, boxes).sum() > 0.0:
                continue
            return box, (cx, cy)
    return None


def _leader(ax, anchor_px, box, inv, zorder: float) -> None:
    """A thin line from the anchor to the nearest point of the label box, with a dot on the anchor."""
    from matplotlib.lines import Line2D

    ex, ey = np.clip(anchor_px[0], box[0], box[2]), np.clip(anchor_px[1], box[1], box[3])
    (x0, y0), (x1, y1) = inv.transform([anchor_px, [ex, ey]])
    ax.add_line(Line2D([x0, x1], [y0, y1], lw=0.6, color="#444444", zorder=zorder, gid="label-leader"))
    ax.add_line(Line2D([x0], [y0], marker="o", markersize=2.2, color="#444444", zorder=zorder, gid="label-leader"))


# offsets around a point, in marker radii (right first: the reading direction), then further out
_POINT_DIRS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1))
_POINT_RINGS = (1.0, 2.2, 3.6, 5.0)


def place_point_labels(ax, items: list[tuple[str, str, float, float]], *, fontsize: float = 7.5,
                       obstacles: list[tuple[float, float, float, float]] = (), gap_px: float = 4.0,
                       text_kw: dict | None = None, halo: tuple[float, str] | None = None,
                       gid: str = "point-label") -> list[PlacedLabel]:
    """Labels for points ``(key, text, x, y)`` (data coordinates), in the given order (most important
    first): each goes beside its point — right, left, above, below, then the diagonals, then further out
    with a thin leader line — at the first spot that overlaps no placed label or obstacle and stays in the
    axes; when none is free, the spot with the least overlap. Returns the placed labels (display boxes)."""
    from matplotlib.lines import Line2D

    text_kw = dict(text_kw or {})
    ax.apply_aspect()
    trans = ax.transData
    inv = trans.inverted()
    axbox = ax.get_window_extent()
    boxes: list[np.ndarray] = [np.asarray(b, dtype=float) for b in obstacles]
    out: list[PlacedLabel] = []
    for key, text, x, y in items:
        w, h = _text_size(ax, text, fontsize, **text_kw)
        px, py = trans.transform((x, y))
        best = None
        chosen = None
        for ring in _POINT_RINGS:
            d = gap_px * ring + 2.0
            for dx, dy in _POINT_DIRS:
                cx = px + dx * (d + w / 2)
                cy = py + dy * (d + h / 2)
                box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
                padded = box + np.array([-_PAD_PX, -_PAD_PX, _PAD_PX, _PAD_PX])
                if padded[0] < axbox.x0 or padded[2] > axbox.x1 or padded[1] < axbox.y0 or padded[3] > axbox.y1:
                    continue
                clash = _overlaps(padded, np.asarray(boxes)).sum() if boxes else 0.0
                if best is None or clash < best[0]:
                    best = (clash, cx, cy, box, ring)
                if clash == 0.0:
                    chosen = (cx, cy, box, ring)
                    break
            if chosen:
                break
        if chosen is None:
            if best is None:
                continue
            chosen = best[1:]
        cx, cy, box, ring = chosen
        boxes.append(box + np.array([-_PAD_PX, -_PAD_PX, _PAD_PX, _PAD_PX]))
        tx, ty = inv.transform((cx, cy))
        if ring > 1.0:   # moved away from its point: a leader line says whose label it is
            ex = np.clip(px, box[0], box[2])
            ey = np.clip(py, box[1], box[3])
            (lx0, ly0), (lx1, ly1) = inv.transform([[px, py], [ex, ey]])
            ax.add_line(Line2D([lx0, lx1], [ly0, ly1], lw=0.5, color="#444444",
                               zorder=text_kw.get("zorder", 7) - 0.02, gid="label-leader"))
        if halo:
            ax.text(tx, ty, text, fontsize=fontsize, ha="center", va="center", gid="label-halo",
                    **{**text_kw, "color": halo[1], "zorder": text_kw.get("zorder", 7) - 0.01,
                       "path_effects": [patheffects.Stroke(linewidth=halo[0], foreground=halo[1])]})
        artist = ax.text(tx, ty, text, fontsize=fontsize, ha="center", va="center", gid=gid, **text_kw)
        out.append(PlacedLabel(key, text, float(x), float(y), fontsize, tuple(float(v) for v in box), artist))
    return out
