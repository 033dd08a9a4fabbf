"""Exposure, first part: building footprints and public facilities as GeoDataFrames.

Storage is CGCS2000 geographic (EPSG:4490); areas are computed in the CGCS2000 3-degree Gauss-Krüger
zone whose central meridian is nearest the data (EPSG:4534 + (CM − 75) / 3 for CM 75 E … 135 E, e.g.
EPSG:4549 for 葫芦岛, CM 120 E). Every asset is joined to its township and village by the division
polygon that contains its centre (a point on a shared edge goes to the lower code, deterministically).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from schemas.errors import CensusError, Code

STORAGE_CRS = "EPSG:4490"


class ExposureError(CensusError):
    """An exposure input that cannot be used, with what to fix."""

    def __str__(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


class ExposureFileNotFound(ExposureError, FileNotFoundError):
    def __init__(self, path: object):
        super().__init__(f"找不到文件：{path}；请检查路径", f"file not found: {path}; check the path",
                         code=Code.FILE_UNREADABLE)
        self.filename = str(path)


def gk_central_meridian(lon: float) -> int:
    """Central meridian (degrees, multiple of 3) of the 3-degree zone nearest ``lon``, clamped to 75–135 E."""
    cm = int(round(float(lon) / 3.0)) * 3
    return min(max(cm, 75), 135)


def gk_crs_for(lon: float) -> str:
    """The CGCS2000 3-degree Gauss-Krüger CRS (no false-easting zone prefix) nearest ``lon``.

    >>> gk_crs_for(120.6)
    'EPSG:4549'
    """
    if not np.isfinite(lon):
        raise ExposureError("经度无效，无法确定高斯-克吕格投影带", "longitude is not a number; cannot pick a Gauss-Krüger zone")
    return f"EPSG:{4534 + (gk_central_meridian(lon) - 75) // 3}"


def _check_crs(gdf, what: str):
    if gdf.crs is None:
        return gdf.set_crs(STORAGE_CRS)
    if gdf.crs.to_epsg() != 4490:
        raise ExposureError(f"{what} 的坐标系为 {gdf.crs.to_string()}，应为 EPSG:4490；请先转换坐标系",
                            f"{what} is in {gdf.crs.to_string()}, not EPSG:4490; reproject it first")
    return gdf


def _read(gpkg: str | Path, layer: str, where: str | None = None):
    from geodb import layers as L

    path = L.as_target(gpkg)
    if not L.exists(path) and not (isinstance(path, Path) and path.exists()):
        raise ExposureFileNotFound(path)
    layers = L.list_layers(path)
    if layer not in layers:
        raise ExposureError(f"{path} 中没有图层“{layer}”；现有图层：{', '.join(layers)}",
                            f"{path} has no layer '{layer}'; it has: {', '.join(layers)}",
                            code=Code.FILE_UNREADABLE)
    gdf = L.read_dataframe(path, layer, where=where)
    return _check_crs(gdf, f"{path}:{layer}")


def add_area_m2(gdf, crs: str | None = None):
    """A copy of ``gdf`` with ``area_m2`` computed in the Gauss-Krüger zone nearest its centre
    (or in ``crs`` when given)."""
    out = gdf.copy()
    if len(out) == 0:
        out["area_m2"] = np.zeros(0)
        return out
    if crs is None:
        minx, _, maxx, _ = out.total_bounds
        crs = gk_crs_for((minx + maxx) / 2)
    out["area_m2"] = out.geometry.to_crs(crs).area.to_numpy()
    return out


def read_buildings(gpkg: str | Path, *, township: str | None = None, layer: str = "buildings"):
    """Building footprints (the work map) with ``area_m2`` in the nearest GK zone; optionally only one
    township's (9-digit code)."""
    where = None
    if township is not None:
        code = str(township).strip()
        if not (code.isdigit() and len(code) == 9):
            raise ExposureError(f"乡镇代码“{township}”应为 9 位数字", f"township code '{township}' must be 9 digits",
                                code=Code.DIVISION_CODE)
        where = f"township_code = '{code}'"
    return add_area_m2(_read(gpkg, layer, where))


def read_facilities(gpkg: str | Path, *, layer: str = "facilities"):
    """Public service facilities (points) as stored."""
    return _read(gpkg, layer)


def join_divisions(assets, townships, villages, *, township_col: str = "township_code",
                   village_col: str = "village_code"):
    """``assets`` with ``township_code`` and ``village_code`` from the division polygons containing each
    asset's representative point (centroid for polygons inside their footprint). Assets outside every
    village get None. Existing columns of those names are replaced.
    """
    import shapely

    for gdf, what in ((assets, "assets"), (townships, "townships"), (villages, "villages")):
        if gdf.crs is not None and gdf.crs.to_epsg() != 4490:
            raise ExposureError(f"{what} 的坐标系应为 EPSG:4490", f"{what} must be in EPSG:4490")
    out = assets.copy()
    geoms = out.geometry.values
    pts = shapely.point_on_surface(geoms)
    cen = shapely.centroid(geoms)
    inside = shapely.within(cen, geoms) | (shapely.get_type_id(geoms) == 0)
    pts = np.where(inside, cen, pts)
    vcode = _locate(pts, villages, "code")
    tcode = _locate(pts, townships, "code")
    # a village code implies its township; fill from it where the township lookup missed (edges)
    tcode = np.where((tcode == None) & (vcode != None),  # noqa: E711 (object arrays)
                     np.array([v[:9] if v else None for v in vcode], dtype=object), tcode)
    out[township_col] = tcode
    out[village_col] = vcode
    return out


def _locate(points: np.ndarray, polys, col: str) -> np.ndarray:
    """Code of the polygon containing each point (lowest code if on a shared edge), None outside."""
    import shapely

    result = np.full(len(points), None, dtype=object)
    if len(polys) == 0 or len(points) == 0:
        return result
    codes = polys[col].astype(str).to_numpy()
    tree = shapely.STRtree(polys.geometry.values)
    pi, gi = tree.query(points, predicate="intersects")
    if pi.size:
        order = np.lexsort((codes[gi], pi))  # by point, then lowest code first
        pi, gi = pi[order], gi[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        result[pi[first]] = codes[gi[first]]
    return result
