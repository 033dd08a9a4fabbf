"""Page layout of a map: the map frame, a side panel (inset, legend, notes) and the titles; saving.

One geometry for every map: the panel is placed relative to the map axes (axes fractions to its
right), so a map drawn into a caller's ``ax`` looks the same as a standalone A4 landscape map — the
caller leaves room on the right (about 40 % of the map's width).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mapping import styles
from mapping.errors import MappingError

PANEL_X = 1.035     # panel left edge, in map-axes fractions
PANEL_W = 0.345     # panel width, in map-axes fractions


@dataclass
class MapFrame:
    fig: object
    ax: object          # the map
    inset: object       # locator inset
    legend: object      # class legend (+ line symbols)
    notes: object       # CRS, sources, maker


def new_figure(page: styles.PageSize = styles.A4_LANDSCAPE):
    """A pyplot-free figure with an Agg canvas (safe in threads, servers and tests)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(page.width_in, page.height_in))
    FigureCanvasAgg(fig)
    return fig


def new_map_frame(page: styles.PageSize = styles.A4_LANDSCAPE) -> MapFrame:
    """A standalone map page: map on the left, panel on the right, room for the titles on top."""
    fig = new_figure(page)
    if page.width_in >= page.height_in:
        ax = fig.add_axes((0.05, 0.075, 0.665, 0.79))
    else:
        ax = fig.add_axes((0.085, 0.30, 0.63, 0.50))
    return frame_around(ax)


def frame_around(ax) -> MapFrame:
    """Panel axes (inset, legend, notes) to the right of an existing map axes."""
    inset = ax.inset_axes((PANEL_X, 0.655, PANEL_W, 0.345))
    legend = ax.inset_axes((PANEL_X, 0.30, PANEL_W, 0.31))
    notes = ax.inset_axes((PANEL_X, 0.0, PANEL_W, 0.28))
    for a in (legend, notes):
        a.set_axis_off()
    return MapFrame(ax.figure, ax, inset, legend, notes)


def add_titles(frame: MapFrame, title: str, subtitle: str) -> None:
    """Title and subtitle centred over map and panel together."""
    cx = (0.0 + PANEL_X + PANEL_W) / 2
    frame.ax.text(cx, 1.085, title, transform=frame.ax.transAxes, ha="center", va="bottom", fontsize=18,
                  gid="map-title", color="#111111")
    frame.ax.text(cx, 1.045, subtitle, transform=frame.ax.transAxes, ha="center", va="bottom", fontsize=10.5,
                  gid="map-subtitle", color="#333333")


SUPPORTED = {".png": "PNG (300 dpi)", ".pdf": "PDF (vector)"}


def save_figure(fig, path: str | Path, *, dpi: int = styles.PNG_DPI) -> Path:
    """Save as PNG at ``dpi`` (300 for print) or as vector PDF, chosen by the file suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise MappingError(f"不支持的输出格式“{path.suffix or '无后缀'}”：请用 .png 或 .pdf 结尾的文件名",
                           f"unsupported output format '{path.suffix or 'no suffix'}': name the file .png or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"Creator": "census-toolkit mapping"} if suffix == ".pdf" else {"Software": "census-toolkit mapping"}
    # the dpi also sets the resolution of raster parts (hazard images) inside a vector PDF
    fig.savefig(path, dpi=dpi, format=suffix[1:], metadata=meta,
                facecolor="white")
    return path
