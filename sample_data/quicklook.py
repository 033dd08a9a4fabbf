"""Quicklook PNGs: one picture per layer, so a person can see at a glance that the sample is plausible.

Plain matplotlib ``Figure`` objects (no pyplot state, no GUI backend). Titles are Chinese and English when
a CJK font is installed (``fonts-wqy-microhei`` or ``fonts-noto-cjk``), English only otherwise.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely

_CJK_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC",
                 "SimHei", "Microsoft YaHei", "PingFang SC")
_CJK_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
              "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed CJK font, registering it with matplotlib if needed; None if none."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for fam in _CJK_FAMILIES:
        if fam in names:
            return fam
    for path in _CJK_FILES:
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    warnings.warn("未找到中文字体，快览图只显示英文标题；请安装 fonts-wqy-microhei / no CJK font found: "
                  "quicklook titles are English only; install fonts-wqy-microhei", stacklevel=2)
    return None


def _title(zh: str, en: str) -> str:
    return f"{zh} / {en}" if cjk_font() else en


def _figure(grid, width_in: float = 7.5):
    from matplotlib.figure import Figure

    aspect = grid.height / grid.width / np.cos(np.radians(grid.centre_lat))
    fig = Figure(figsize=(width_in, max(3.5, min(11.0, width_in * 0.78 * aspect / 0.86 + 0.3))), dpi=100)
    fam = cjk_font()
    if fam:
        import matplotlib as mpl

        mpl.rcParams["font.sans-serif"] = [fam, *mpl.rcParams["font.sans-serif"]]
        mpl.rcParams["axes.unicode_minus"] = False
    ax = fig.add_axes([0.07, 0.06, 0.78, 0.86])
    ax._map_lat = grid.centre_lat  # _save sets the map aspect last (imshow would reset it)
    ax.tick_params(labelsize=7)
    return fig, ax


def _outline(ax, county_geom, townships=None, colour="k") -> None:
    import shapely

    if townships is not None:
        for g in townships.geometry.boundary:
            for line in getattr(g, "geoms", [g]):
                x, y = np.asarray(line.coords).T
                ax.plot(x, y, color="0.35", lw=0.35)
    for line in getattr(shapely.boundary(county_geom), "geoms", [shapely.boundary(county_geom)]):
        x, y = np.asarray(line.coords).T
        ax.plot(x, y, color=colour, lw=0.9)


def _extent(grid):
    return (grid.west, grid.east, grid.south, grid.north)


def _save(fig, path: Path) -> Path:
    for ax in fig.axes:
        lat = getattr(ax, "_map_lat", None)
        if lat is not None:  # a degree of latitude is 1/cos(lat) times longer than one of longitude
            ax.set_aspect(1 / np.cos(np.radians(lat)), adjustable="box")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def hillshade_rgb(dem: np.ndarray, sea: np.ndarray, grid) -> np.ndarray:
    from matplotlib.colors import LightSource, LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list(
        "hypso", [(0, "#5a9e5a"), (0.04, "#8cbf6e"), (0.14, "#c9d98f"), (0.32, "#e6d49a"), (0.55, "#c49a6c"),
                  (0.8, "#9c7a5a"), (1, "#f2f2f2")])
    dx, dy = grid.cell_m
    rgb = LightSource(315, 45).shade(np.where(sea, 0, dem), cmap=cmap, vert_exag=1.5, blend_mode="soft",
                                     vmin=0, vmax=max(900.0, float(np.nanmax(dem))), dx=dx, dy=dy)
    rgb[sea] = (0.66, 0.8, 0.94, 1.0)
    return rgb


def draw_dem(path: Path, grid, terrain, county_geom, rivers, sea_geom=None) -> Path:
    fig, ax = _figure(grid)
    ax.imshow(hillshade_rgb(terrain.dem, terrain.sea, grid), extent=_extent(grid), interpolation="bilinear")
    _lines(ax, rivers, "#2b6cb0", widths=rivers["order"].to_numpy() * 0.35 if len(rivers) else None)
    _outline(ax, county_geom)
    land = terrain.dem[~terrain.sea]
    ax.set_title(_title("数字高程模型（晕渲）与河流", "DEM (hillshade) and rivers") +
                 f"\n{float(land.min()) if land.size else 0:.0f}–{float(land.max()) if land.size else 0:.0f} m", fontsize=9)
    return _save(fig, path)


def _lines(ax, gdf, colour, widths=None, lw: float = 0.6) -> None:
    if gdf is None or len(gdf) == 0:
        return
    from matplotlib.collections import LineCollection

    segs, ws = [], []
    for k, g in enumerate(gdf.geometry):
        for line in getattr(g, "geoms", [g]):
            segs.append(np.asarray(line.coords))
            ws.append(widths[k] if widths is not None else lw)
    ax.add_collection(LineCollection(segs, colors=colour, linewidths=ws))


def draw_divisions(path: Path, grid, county_geom, townships, villages) -> Path:
    fig, ax = _figure(grid)
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    for k, g in enumerate(townships.geometry):
        for poly in getattr(g, "geoms", [g]):
            x, y = np.asarray(poly.exterior.coords).T
            ax.fill(x, y, color=cmap(k % 20), alpha=0.55, lw=0)
    for g in villages.geometry.boundary:
        for line in getattr(g, "geoms", [g]):
            x, y = np.asarray(line.coords).T
            ax.plot(x, y, color="white", lw=0.3)
    _outline(ax, county_geom, townships)
    fam = cjk_font()
    for t in townships.itertuples(index=False):
        ax.plot(t.seat_lon, t.seat_lat, "k.", ms=3)
        if fam:
            ax.annotate(t.name, (t.seat_lon, t.seat_lat), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_xlim(grid.west, grid.east)
    ax.set_ylim(grid.south, grid.north)
    ax.set_title(_title(f"乡镇（{len(townships)}）与村（社区）（{len(villages)}）",
                        f"townships ({len(townships)}) and villages ({len(villages)})"), fontsize=9)
    return _save(fig, path)


def draw_workmap(path: Path, grid, terrain, county_geom, townships, rivers, roads, buildings, facilities,
                 sea_geom=None) -> Path:
    """Overview: buildings (as density-scaled dots), roads, rivers, facilities; plus a zoom on the seat."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Polygon as MplPolygon

    fig, ax = _figure(grid, width_in=7.5)
    fig.set_size_inches(11.0, fig.get_size_inches()[1])
    ax.set_position([0.05, 0.06, 0.55, 0.86])
    rgb = hillshade_rgb(terrain.dem, terrain.sea, grid)
    rgb[..., :3] = 0.55 + 0.45 * rgb[..., :3]
    ax.imshow(rgb, extent=_extent(grid))
    _lines(ax, rivers, "#2b6cb0", lw=0.5)
    colours = {"expressway": "#c0392b", "national": "#e67e22", "provincial": "#f1c40f", "county": "#7f8c8d",
               "village": "#b0b0b0"}
    widths = {"expressway": 1.4, "national": 1.1, "provincial": 0.9, "county": 0.7, "village": 0.35}
    for cls in ("village", "county", "provincial", "national", "expressway"):
        sub = roads[roads["class"] == cls] if len(roads) else roads
        _lines(ax, sub, colours[cls], lw=widths[cls])
    c = shapely.get_coordinates(shapely.centroid(buildings.geometry.values)) if len(buildings) else np.zeros((0, 2))
    ax.scatter(c[:, 0], c[:, 1], s=0.15, c=np.where(buildings["urban"].to_numpy() == 1, "#8e1b1b", "#333333")
               if len(buildings) else "k", linewidths=0, rasterized=True)
    _outline(ax, county_geom, townships)
    ax.set_xlim(grid.west, grid.east)
    ax.set_ylim(grid.south, grid.north)
    ax.set_title(_title(f"调查底图：{len(buildings)} 栋房屋、道路、河流",
                        f"work map: {len(buildings)} buildings, roads, rivers"), fontsize=9)
    # zoom on the county seat
    zx = fig.add_axes([0.64, 0.1, 0.34, 0.78])
    seat = townships.iloc[0]
    half = 0.012
    x0, x1 = seat.seat_lon - half, seat.seat_lon + half
    y0, y1 = seat.seat_lat - half * 0.8, seat.seat_lat + half * 0.8
    sub = buildings.cx[x0:x1, y0:y1] if len(buildings) else buildings
    patches = [MplPolygon(np.asarray(g.exterior.coords)) for g in sub.geometry]
    zx.add_collection(PatchCollection(patches, facecolor="#c0392b", edgecolor="none"))
    _lines(zx, rivers, "#2b6cb0", lw=1.2)
    for cls in ("village", "county", "provincial", "national", "expressway"):
        s2 = roads[roads["class"] == cls] if len(roads) else roads
        _lines(zx, s2, colours[cls], lw=widths[cls] * 2)
    if len(facilities):
        f = facilities.cx[x0:x1, y0:y1]
        zx.scatter(f.geometry.x, f.geometry.y, s=10, marker="^", c="#2c3e50", zorder=5)
    zx.set_xlim(x0, x1)
    zx.set_ylim(y0, y1)
    zx._map_lat = seat.seat_lat
    zx.tick_params(labelsize=6)
    zx.set_title(_title(f"{seat['name']}（县城）局部", "county seat, zoomed") if cjk_font() else "county seat, zoomed",
                 fontsize=8)
    return _save(fig, path)


def draw_facilities(path: Path, grid, terrain, county_geom, townships, facilities) -> Path:
    fig, ax = _figure(grid)
    rgb = hillshade_rgb(terrain.dem, terrain.sea, grid)
    rgb[..., :3] = 0.6 + 0.4 * rgb[..., :3]
    ax.imshow(rgb, extent=_extent(grid))
    _outline(ax, county_geom, townships)
    markers = {"school": ("o", "#1f77b4"), "kindergarten": ("o", "#aec7e8"), "hospital": ("P", "#d62728"),
               "clinic": ("+", "#ff9896"), "welfare_home": ("s", "#9467bd"), "stadium": ("D", "#2ca02c"),
               "cultural_venue": ("v", "#8c564b"), "religious_venue": ("*", "#e377c2"),
               "tourist_site": ("*", "#ff7f0e"), "hotel": ("^", "#7f7f7f"), "shopping_centre": ("X", "#bcbd22")}
    for ftype, (m, colour) in markers.items():
        sub = facilities[facilities["facility_type"] == ftype]
        if len(sub):
            ax.scatter(sub.geometry.x, sub.geometry.y, s=12, marker=m, c=colour, label=f"{ftype} ({len(sub)})",
                       linewidths=0.6 if m == "+" else 0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6, frameon=False)
    ax.set_xlim(grid.west, grid.east)
    ax.set_ylim(grid.south, grid.north)
    ax.set_title(_title(f"公共服务设施（{len(facilities)}）", f"public facilities ({len(facilities)})"), fontsize=9)
    return _save(fig, path)


def draw_hazard(path: Path, grid, layer_id: str, arr: np.ndarray, county_geom, townships, sea_mask=None,
                hillshade: np.ndarray | None = None) -> Path:
    """A hazard layer: continuous colours (or the registry's class colours for class layers) with a
    colour bar that marks the class edges."""
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap

    from hazards.registry import class_colours, get_layer

    spec = get_layer(layer_id)
    fig, ax = _figure(grid)
    a = np.asarray(arr, dtype="float64")
    valid = a != spec.nodata
    masked = np.ma.masked_where(~valid, a)
    if hillshade is not None:
        ax.imshow(hillshade, extent=_extent(grid), cmap="gray", vmin=0, vmax=1, alpha=0.35)
    if sea_mask is not None and sea_mask.any():
        ax.imshow(np.ma.masked_where(~sea_mask, np.ones_like(a)), extent=_extent(grid),
                  cmap=ListedColormap(["#cfe3f5"]), interpolation="nearest")
    if spec.unit == "class" or layer_id == "eq_pga_475":
        if layer_id == "eq_pga_475":
            levels = [0.0, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40]
            colours = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"]
            bounds = [-0.01, 0.025, 0.075, 0.125, 0.175, 0.25, 0.35, 0.45]
            cmap = ListedColormap(colours)
            norm = BoundaryNorm(bounds, cmap.N)
            im = ax.imshow(masked, extent=_extent(grid), cmap=cmap, norm=norm, interpolation="nearest")
            cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, ticks=levels)
            cb.set_label("GB 18306 PGA zone (g)", fontsize=7)
        else:
            cc = class_colours()
            cmap = ListedColormap([cc[k] for k in (1, 2, 3, 4, 5)])
            norm = BoundaryNorm([0.5, 1.5, 2.5, 3.5, 4.5, 5.5], cmap.N)
            im = ax.imshow(masked, extent=_extent(grid), cmap=cmap, norm=norm, interpolation="nearest")
            cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, ticks=[1, 2, 3, 4, 5])
            cb.ax.set_yticklabels([spec.class_label(k, "zh" if cjk_font() else "en") for k in (1, 2, 3, 4, 5)],
                                  fontsize=6)
    else:
        depth = layer_id.startswith("flood") or layer_id == "storm_surge_depth"
        cmap = colormaps["Blues" if depth else ("YlOrRd" if layer_id != "wind_gust" else "PuRd")].copy()
        if depth:
            masked = np.ma.masked_where(~valid | (a <= 0.0), a)
            vmax = 4.0 if layer_id.startswith("flood") else 3.0
            vmin = 0.0
        else:
            vmin, vmax = float(np.nanpercentile(a[valid], 1)), float(np.nanpercentile(a[valid], 99.5))
        im = ax.imshow(masked, extent=_extent(grid), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
        for edge in spec.breaks:
            if vmin <= edge <= vmax:
                cb.ax.axhline(edge, color="k", lw=0.6)
        cb.set_label(spec.unit, fontsize=7)
    cb.ax.tick_params(labelsize=6)
    _outline(ax, county_geom, townships)
    ax.set_xlim(grid.west, grid.east)
    ax.set_ylim(grid.south, grid.north)
    v = a[valid]
    stats = f"min {v.min():.3g}  max {v.max():.3g}  {spec.unit}" if v.size else ""
    ax.set_title(_title(spec.name_zh, spec.name_en) + f"\n{layer_id}   {stats}", fontsize=9)
    return _save(fig, path)


def hillshade(dem: np.ndarray, grid) -> np.ndarray:
    from matplotlib.colors import LightSource

    dx, dy = grid.cell_m
    return LightSource(315, 45).hillshade(dem, vert_exag=1.5, dx=dx, dy=dy)
