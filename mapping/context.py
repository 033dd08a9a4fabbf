"""What surrounds the county on a map: its city (for the locator inset), neighbouring counties and the sea.

Where the city outline comes from, first found wins:

1. a file the user names (``--city FILE``: any vector file; its polygons are the city, a ``name`` column
   names it; with a ``level`` column, rows other than ``city`` are the city's counties);
2. a ``city`` layer in the county GeoPackage (same rules);
3. the boundaries shipped with :mod:`sample_data` (葫芦岛市 and its six counties, with the Bohai sea),
   when the county code is one of them.

Without any, the map says so in its notes and the inset shows the county alone in its own frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import shapely
from shapely.geometry.base import BaseGeometry

from mapping.errors import MappingError

if TYPE_CHECKING:  # pragma: no cover
    from mapping.source import MapSource


@dataclass(frozen=True)
class MapContext:
    city_name: str | None
    city: BaseGeometry | None
    neighbours: tuple[tuple[str, BaseGeometry], ...]   # (name, polygon) of other counties nearby
    sea: BaseGeometry | None
    sea_name: str | None
    source_zh: str
    source_en: str


def _from_frame(gdf, county_code: str, source_zh: str, source_en: str) -> MapContext:
    gdf = gdf[gdf.geometry.notna()]
    if "level" in gdf.columns:
        city_rows = gdf[gdf["level"].astype(str) == "city"]
        others = gdf[gdf["level"].astype(str) != "city"]
    else:
        city_rows, others = gdf, gdf.iloc[0:0]
    if not len(city_rows):
        city_rows = gdf
    name = str(city_rows["name"].iloc[0]) if "name" in city_rows.columns and len(city_rows) else None
    neighbours = []
    code_col = "adcode" if "adcode" in others.columns else ("code" if "code" in others.columns else None)
    for _, row in others.iterrows():
        if code_col and str(row[code_col]) == county_code:
            continue
        neighbours.append((str(row.get("name", "")), shapely.make_valid(row.geometry)))
    return MapContext(name, shapely.make_valid(shapely.union_all(city_rows.geometry.values)), tuple(neighbours),
                      None, None, source_zh, source_en)


def _read_city_file(path: Path):
    import pyogrio

    if not path.exists():
        raise FileNotFoundError(str(path))
    gdf = pyogrio.read_dataframe(path)
    if gdf.crs is not None and gdf.crs.to_epsg() not in (4490, 4326):
        raise MappingError(f"市界文件 {path} 的坐标系为 {gdf.crs.to_string()}，请先转换到 EPSG:4490",
                           f"city file {path} is in {gdf.crs.to_string()}; convert it to EPSG:4490 first")
    return gdf


def load_context(src: MapSource) -> MapContext:
    """City outline, neighbours and sea for ``src`` (see the module docstring for the search order)."""
    code = src.county_code
    if src.city_path is not None:
        ctx = _from_frame(_read_city_file(src.city_path), code, f"市界：{src.city_path.name}",
                          f"city outline: {src.city_path.name}")
        return _with_shipped_sea(ctx, code)
    if src.has("city"):
        ctx = _from_frame(src.read("city"), code, f"市界：{src.db_kind_zh} city 图层",
                          "city outline: layer 'city' of the county GeoPackage")
        return _with_shipped_sea(ctx, code)
    from sample_data.boundaries import shipped_boundaries, shipped_counties

    if code in shipped_counties():
        gdf = shipped_boundaries()
        row = gdf[gdf["adcode"] == code].iloc[0]
        family = gdf[(gdf["adcode"] == str(row["parent"])) | (gdf["parent"].astype(str) == str(row["parent"]))]
        ctx = _from_frame(family, code, "行政区划边界：工具内置葫芦岛市边界（sample_data）",
                          "boundaries: shipped 葫芦岛市 set (sample_data)")
        return _with_shipped_sea(ctx, code)
    return MapContext(None, None, (), None, None, "未提供上级市界（可用 --city 指定）",
                      "no city outline (give one with --city)")


def _with_shipped_sea(ctx: MapContext, code: str) -> MapContext:
    """Add the shipped Bohai sea polygon for the shipped counties (it is only drawn where it is in view)."""
    from sample_data.boundaries import SEA_FILE, shipped_counties, shipped_sea

    if code not in shipped_counties():
        return ctx
    sea = shipped_sea()
    if sea is None:
        return ctx
    import pyogrio

    names = pyogrio.read_dataframe(SEA_FILE, read_geometry=False, columns=["name"])["name"]
    name = str(names.iloc[0]).split("（")[0] if len(names) else None
    return MapContext(ctx.city_name, ctx.city, ctx.neighbours, sea, name, ctx.source_zh, ctx.source_en)
