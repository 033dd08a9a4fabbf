"""City zoning maps (市级风险区划图): the whole city zoned on one grid, with county-level units outlined.

A city GeoPackage (:mod:`geodb.city`) keeps the county layout plus ``city`` (outline) and ``counties``
layers and, after ``census city assess``, ``risk_counties``. :class:`CityMapSource` presents it to the
map machinery as the unit being mapped (the city's outline where a county map has the county's), and
:func:`city_zoning_map` draws the five levels per grid cell, township or county-level unit, the county
boundaries and names on top (township names would crowd a city page), and the Bohai sea for 葫芦岛;
``hazard="prevention"`` draws the comprehensive prevention zones instead. The side panel lists the
county-level units with their own class where a county map has its locator inset (see
:func:`city_zoning_map` for why).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from mapping import styles
from mapping.compose import MapSpec, compose
from mapping.errors import MappingError, NotACountyGpkg
from mapping.source import MapSource
from mapping.zoning import (
    METHOD_ZH,
    _grid_cell_km,
    _run_note,
    check_map_subject,
    hazard_disaster_zh,
    hazard_title,
)

CITY_UNITS = ("grid", "townships", "counties")
CITY_LINE = styles.LineStyle("#000000", 2.0)          # the city outline, over the county lines
COUNTY_LABEL_SIZE = 11.0
KEY_MAX_ROWS = 12                                       # county key rows in the inset slot


class CityMapSource(MapSource):
    """A city GeoPackage as the maps see it: ``county_*`` names refer to the mapped unit, the city."""

    db_kind_zh = "市级普查数据库"

    def __init__(self, gpkg: str | Path, *, hazards_dir: str | Path | None = None):
        # as MapSource.__init__, less its check for a ``county`` layer (a city has ``city`` and ``counties``)
        from geodb import layers as L
        from geodb.target import anchor_path, display_name, is_server

        self.target = L.as_target(gpkg)
        self.path = anchor_path(gpkg)
        self.db_label = display_name(gpkg) if is_server(gpkg) else self.path.name
        if not L.exists(self.target):
            raise NotACountyGpkg(self.path, "文件不存在", "file not found")
        self.city_path = None
        self._hazards_dir = Path(hazards_dir) if hazards_dir else None
        for needed in ("census_settings", "city", "counties", "townships"):
            if needed not in self.layers:
                raise NotACountyGpkg(self.path, f"不是市级普查数据库（缺少图层 {needed}），请用 `census city init` 创建",
                                     f"not a city GeoPackage (no layer {needed}); make one with `census city init`")

    @property
    def county_code(self) -> str:
        return self.settings.get("city") or ""

    @property
    def county_name(self) -> str:
        return self.settings.get("city_name") or self.county_code

    @cached_property
    def county(self):
        """The city outline (shapely, EPSG:4490)."""
        import shapely

        return shapely.make_valid(shapely.union_all(self.read("city").geometry.values))

    @cached_property
    def counties(self):
        gdf = self.read("counties")
        gdf["code"] = gdf["code"].astype(str)
        return gdf[["code", "name", "geometry"]].sort_values("code").reset_index(drop=True)

    @cached_property
    def risk_counties(self):
        if not self.has("risk_counties"):
            raise MappingError(f"{self.db_label} 中没有县级风险汇总（risk_counties），请先运行 census city assess",
                               f"{self.db_label} has no county risk layer (risk_counties); run census city assess first")
        gdf = self.read("risk_counties")
        gdf["county_code"] = gdf["county_code"].astype(str)
        return gdf.sort_values("county_code").reset_index(drop=True)

    @cached_property
    def sea(self):
        """The shipped Bohai sea polygon when this is the shipped city (葫芦岛市), else None."""
        from sample_data.boundaries import shipped_boundaries, shipped_sea

        codes = set(shipped_boundaries()["adcode"].astype(str))
        return shipped_sea() if self.county_code in codes else None


def level_labels(src: MapSource, hazard: str, scope: str) -> tuple[tuple[str, ...], str]:
    """Legend texts with each level's index range, and how the breaks were made, for ``scope``
    (grid, townships or counties: each zoning unit has its own breaks in ``risk_breaks``)."""
    import math

    from mapping import fmt

    names = [f"{s.name_zh}风险区" for s in styles.risk_level_styles()]
    b = src.breaks_for(hazard, scope)
    if not b or len(b["breaks"]) != 4:
        return tuple(names), "分级方法：见 risk_breaks 表"
    rc = b.get("right_closed")
    closed = rc is not None and not (isinstance(rc, float) and math.isnan(rc)) and bool(rc)
    ranges = fmt.range_labels(b["breaks"], right_closed=closed)[::-1]
    method = METHOD_ZH.get(str(b.get("method")), str(b.get("method")))
    note = f"分级方法：{method}，分级界限 {' / '.join(fmt.short(x) for x in b['breaks'])}（风险指数）"
    return tuple(f"{n}（{r}）" for n, r in zip(names, ranges)), note


def _frame(src: CityMapSource, unit: str):
    if unit not in CITY_UNITS:
        raise MappingError(f"未知的评估单元“{unit}”，可用 {', '.join(CITY_UNITS)}",
                           f"unknown zoning unit '{unit}'; use {', '.join(CITY_UNITS)}")
    if unit == "counties":
        return src.risk_counties
    return src.risk_grid if unit == "grid" else src.risk_townships


def _classes(src: CityMapSource, frame, hazard: str, unit: str):
    """(fill colour per feature, legend entries, legend labels, method note, per-feature class value) of
    the five risk levels, or of the three prevention zones for ``hazard == "prevention"``."""
    if hazard == "prevention":
        from mapping.zoning import prevention_rule

        if "prevention_zone" not in frame.columns:
            raise MappingError(f"{unit} 图层缺少 prevention_zone", f"the {unit} layer has no column prevention_zone")
        zones = styles.prevention_zone_styles()
        colours = {z.value: z.colour for z in zones}
        codes = frame["prevention_zone"].astype("string").fillna("").astype(str).to_numpy()
        entries, labels = zones, tuple(z.name_zh for z in zones)
        if any(c not in colours for c in codes):
            entries, labels = (*entries, styles.NODATA_STYLE), (*labels, styles.NODATA_STYLE.name_zh)
        rule = prevention_rule(src)
        note = f"划分规则：{rule}" if rule else "划分规则：由综合风险等级与单灾种风险等级确定"
        return [colours.get(c, styles.NODATA_STYLE.colour) for c in codes], entries, labels, note, codes
    column = "comprehensive_level" if hazard == "comprehensive" else f"{hazard}_level"
    if column not in frame.columns:
        raise MappingError(f"{unit} 图层缺少 {column}", f"the {unit} layer has no column {column}")
    levels = frame[column].fillna(0).astype(int).to_numpy()
    colours = {s.value: s.colour for s in styles.risk_level_styles()}
    labels, note = level_labels(src, hazard, unit)
    entries = styles.risk_level_styles()
    if (levels == 0).any():
        entries, labels = (*entries, styles.NODATA_STYLE), (*labels, styles.NODATA_STYLE.name_zh)
    return [colours.get(int(v), styles.NODATA_STYLE.colour) for v in levels], entries, labels, note, levels


def city_zoning_map(gpkg: str | Path | CityMapSource, hazard: str = "comprehensive", *, unit: str = "grid", ax=None):
    """Five-level risk zoning map of the whole city for one hazard or comprehensive risk, or (``hazard=
    "prevention"``) the comprehensive prevention zoning (重点、次重点、一般防治区)."""
    import shapely

    from mapping import cartography as carto
    from mapping.labels import place_labels

    check_map_subject(hazard)
    src = gpkg if isinstance(gpkg, CityMapSource) else CityMapSource(gpkg)
    src.require_risk()
    frame = _frame(src, unit)
    fc, entries, labels, method_note, _values = _classes(src, frame, hazard, unit)

    def draw(ax):
        if src.sea is not None:
            x0, x1 = ax.get_xlim()
            y0, y1 = ax.get_ylim()
            carto.draw_polygons(ax, [shapely.intersection(src.sea, shapely.box(x0, y0, x1, y1))], styles.SEA_FILL,
                                zorder=0.4, gid="sea")
        kind = "prevention" if hazard == "prevention" else "zoning"
        carto.draw_polygons(ax, frame.geometry, fc, edgecolor="face", linewidth=0.3, zorder=2, gid=f"{kind}-{unit}",
                            clip=src.county)

    def overlay(ax, obstacles):
        carto.draw_lines(ax, src.counties.geometry, styles.COUNTY_LINE, zorder=4.6, gid="county-boundaries")
        carto.draw_lines(ax, [src.county], CITY_LINE, zorder=5.5, gid="city-boundary")
        items = [(c, n, g) for c, n, g in zip(src.counties["code"], src.counties["name"], src.counties.geometry)]
        placed = place_labels(ax, items, lat0=src.lat0, fontsize=COUNTY_LABEL_SIZE, obstacles=obstacles,
                              text_kw={"color": styles.LABEL_COLOUR, "zorder": 7},
                              halo=(2.6, styles.LABEL_HALO), gid="county-label")
        return [p.bbox for p in placed]

    from matplotlib.lines import Line2D

    unit_txt = {"grid": _grid_cell_km(src), "townships": "乡镇（街道）", "counties": "县级行政区"}[unit]
    n_counties = len(src.counties)
    if hazard == "prevention":
        title, what, legend_title = f"{src.county_name}自然灾害综合防治区划图", "重点、次重点、一般防治区", "防治区类型"
    else:
        zh, _en = hazard_title(hazard)
        title = f"{src.county_name}{zh if hazard == 'comprehensive' else hazard_disaster_zh(zh)}风险区划图"
        what = ("综合风险指数" if hazard == "comprehensive" else f"{zh}风险") + "五级区划"
        legend_title = "风险等级"
    spec = MapSpec(
        title=title,
        subtitle=f"{src.county_name}（{src.county_code}，{n_counties} 个县级行政区） · {what} · "
                 f"评估单元：{unit_txt} · 普查标准时点 {styles.REFERENCE_DATE_TEXT}",
        legend_title=legend_title, entries=entries, labels=labels,
        notes=(method_note, "数据：各县（市、区）审核通过并逐级上报的普查数据", _run_note(src)),
        kind=f"city-zoning:{hazard}",
        symbols=(Line2D([], [], color=CITY_LINE.colour, lw=CITY_LINE.width, label="市界"),))
    fig = compose(src, spec, draw, ax=ax, label_townships=False, overlay=overlay)
    # No locator inset on a city map: the project holds no province or national boundaries (only the
    # city, its counties and a Bohai sea whose outline beyond the 葫芦岛 shore is a crude box), so a
    # locator could only show the city inside its own frame, which locates nothing. Its place holds the
    # county-level units' own class (from risk_counties), which the grid map does not show.
    county_key(fig.census_map.frame.inset, src, hazard)
    return fig


def county_key(ax, src: CityMapSource, hazard: str) -> None:
    """Replace the locator inset in ``ax`` by a list of the county-level units, each with a swatch of its
    risk level (or prevention zone) from ``risk_counties``; nothing when that layer or column is missing
    or the list would not fit (more than :data:`KEY_MAX_ROWS` units)."""
    import pandas as pd
    from matplotlib.patches import Rectangle

    from mapping.cartography import _em

    ax.clear()
    ax.set_axis_off()
    ax.set_gid("county-key")
    if not src.has("risk_counties") or not 0 < len(src.counties) <= KEY_MAX_ROWS:
        return
    rc = src.risk_counties.set_index("county_code")
    column = {"comprehensive": "comprehensive_level", "prevention": "prevention_zone"}.get(hazard, f"{hazard}_level")
    if column not in rc.columns:
        return
    if hazard == "prevention":
        cls = {z.value: z for z in styles.prevention_zone_styles()}
        title = "各县（市、区）防治区类型"
    else:
        cls = {s.value: s for s in styles.risk_level_styles()}
        title = "各县（市、区）" + ("综合风险" if hazard == "comprehensive" else f"{hazard_title(hazard)[0]}风险") + "等级"
    ax.text(0.0, 1.0, title, transform=ax.transAxes, ha="left", va="top", fontsize=9, color="#111111")
    rows = []
    for code, name in zip(src.counties["code"], src.counties["name"]):
        v = rc[column].get(code) if code in rc.index else None
        key = str(v) if hazard == "prevention" else (int(v) if v is not None and pd.notna(v) else 0)
        st = cls.get(key, styles.NODATA_STYLE)
        rows.append((f"{name}（{code}）", st.name_zh.replace("防治区", ""), st.colour))
    # one size for all rows, so that the longest name and class fit beside the swatch
    width_pt = (1.0 - 0.13) * ax.get_window_extent().width * 72.0 / ax.figure.dpi
    ems = max(sum(_em(c) for c in a) + sum(_em(c) for c in b) + 1.0 for a, b, _ in rows)
    size = max(6.0, min(8.5, width_pt / ems))
    step = min(0.13, 0.86 / len(rows))
    for i, (label, cls_name, colour) in enumerate(rows):
        y = 0.86 - (i + 0.5) * step
        ax.add_patch(Rectangle((0.0, y - step * 0.32), 0.09, step * 0.64, transform=ax.transAxes,
                               facecolor=colour, edgecolor="#4d4d4d", linewidth=0.5))
        ax.text(0.13, y, label, transform=ax.transAxes, ha="left", va="center", fontsize=size,
                color="#111111", gid="county-key-name")
        ax.text(1.0, y, cls_name, transform=ax.transAxes, ha="right", va="center", fontsize=size, color="#333333")


__all__ = ["CITY_UNITS", "CityMapSource", "city_zoning_map", "county_key", "hazard_disaster_zh",
           "level_labels"]
