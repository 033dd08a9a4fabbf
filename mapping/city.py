"""City zoning maps (市级风险区划图): the whole city zoned on one grid, with county-level units outlined.

A city GeoPackage (:mod:`geodb.city`) keeps the county layout plus ``city`` (outline) and ``counties``
layers and, after ``census city assess``, ``risk_counties``. :class:`CityMapSource` presents it to the
map machinery as the unit being mapped (the city's outline where a county map has the county's), and
:func:`city_zoning_map` draws the five levels per grid cell, township or county-level unit, the county
boundaries and names on top (township names would crowd a city page), and the Bohai sea for 葫芦岛.
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
    hazard_title,
)

CITY_UNITS = ("grid", "townships", "counties")
CITY_LINE = styles.LineStyle("#000000", 2.0)          # the city outline, over the county lines
COUNTY_LABEL_SIZE = 11.0


class CityMapSource(MapSource):
    """A city GeoPackage as the maps see it: ``county_*`` names refer to the mapped unit, the city."""

    db_kind_zh = "市级普查数据库"

    def __init__(self, gpkg: str | Path, *, hazards_dir: str | Path | None = None):
        self.path = Path(gpkg)
        if not self.path.is_file():
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
            raise MappingError(f"{self.path.name} 中没有县级风险汇总（risk_counties），请先运行 census city assess",
                               f"{self.path.name} has no county risk layer (risk_counties); run census city assess first")
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


def city_zoning_map(gpkg: str | Path | CityMapSource, hazard: str = "comprehensive", *, unit: str = "grid", ax=None):
    """Five-level risk zoning map of the whole city for one hazard or comprehensive risk."""
    import shapely

    from mapping import cartography as carto
    from mapping.labels import place_labels

    check_map_subject(hazard)
    if hazard == "prevention":
        raise MappingError("市级图请用 comprehensive 或单灾种", "for the city map use comprehensive or a hazard id")
    src = gpkg if isinstance(gpkg, CityMapSource) else CityMapSource(gpkg)
    src.require_risk()
    frame = _frame(src, unit)
    column = "comprehensive_level" if hazard == "comprehensive" else f"{hazard}_level"
    if column not in frame.columns:
        raise MappingError(f"{unit} 图层缺少 {column}", f"the {unit} layer has no column {column}")
    levels = frame[column].fillna(0).astype(int).to_numpy()
    colours = {s.value: s.colour for s in styles.risk_level_styles()}
    fc = [colours.get(int(v), styles.NODATA_STYLE.colour) for v in levels]

    def draw(ax):
        if src.sea is not None:
            x0, x1 = ax.get_xlim()
            y0, y1 = ax.get_ylim()
            carto.draw_polygons(ax, [shapely.intersection(src.sea, shapely.box(x0, y0, x1, y1))], styles.SEA_FILL,
                                zorder=0.4, gid="sea")
        carto.draw_polygons(ax, frame.geometry, fc, edgecolor="face", linewidth=0.3, zorder=2, gid=f"zoning-{unit}",
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

    zh, _en = hazard_title(hazard)
    labels, method_note = level_labels(src, hazard, unit)
    entries = styles.risk_level_styles()
    if (levels == 0).any():
        entries = (*entries, styles.NODATA_STYLE)
        labels = (*labels, styles.NODATA_STYLE.name_zh)
    unit_txt = {"grid": _grid_cell_km(src), "townships": "乡镇（街道）", "counties": "县级行政区"}[unit]
    what = "综合风险指数" if hazard == "comprehensive" else f"{zh}风险"
    n_counties = len(src.counties)
    spec = MapSpec(
        title=f"{src.county_name}{zh}{'' if hazard == 'comprehensive' else '灾害'}风险区划图",
        subtitle=f"{src.county_name}（{src.county_code}，{n_counties} 个县级行政区） · {what}五级区划 · "
                 f"评估单元：{unit_txt} · 普查标准时点 {styles.REFERENCE_DATE_TEXT}",
        legend_title="风险等级", entries=entries, labels=labels,
        notes=(method_note, "数据：各县（市、区）审核通过并逐级上报的普查数据", _run_note(src)),
        kind=f"city-zoning:{hazard}",
        symbols=(Line2D([], [], color=CITY_LINE.colour, lw=CITY_LINE.width, label="市界"),))
    fig = compose(src, spec, draw, ax=ax, label_townships=False, overlay=overlay)
    # the locator shows the city itself: its county-level units drawn into it
    carto.draw_lines(fig.census_map.frame.inset, src.counties.geometry, styles.LineStyle("#ffffff", 0.6), zorder=5,
                     gid="inset-counties")
    return fig


__all__ = ["CITY_UNITS", "CityMapSource", "city_zoning_map"]
