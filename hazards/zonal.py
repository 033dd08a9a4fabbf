"""Coverage-weighted zonal statistics of a hazard layer over polygons (townships, villages, grid cells).

Delegates to exactextract, which weights each pixel by the fraction of it a polygon covers, so small
or thin polygons (a village smaller than one hazard pixel) get the pixel's value instead of coming
back empty as with centre-point rasterisation. Polygons must already be in the raster's CRS.

Statistics (exactextract semantics): ``mean`` and ``sum`` are coverage-weighted, ``count`` is the sum
of coverage fractions of valid pixels (so 0.5 = half a pixel), ``min``/``max`` are over pixels that
the polygon touches with non-zero coverage. Nodata and NaN pixels are ignored; a polygon with no
valid pixel gets NaN (count 0).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from hazards.errors import RasterFormatError, RasterNotFoundError
from hazards.io import crs_label, check_crs, get_crs, get_transform

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import pandas as pd
    import xarray as xr

DEFAULT_STATS = ("mean", "max", "min", "sum", "count")


def _numpy_source(da: "xr.DataArray"):
    from exactextract.raster import NumPyRasterSource
    from rasterio.crs import CRS

    if da.ndim != 2:
        raise RasterFormatError(
            f"分区统计只接受二维图层，收到维度 {da.dims}；多重现期请先用 .sel() 选出一个",
            f"zonal statistics need a 2-D layer, got dims {da.dims}; select one with .sel() first")
    if tuple(da.dims) != ("y", "x"):
        da = da.transpose("y", "x")
    tr = get_transform(da)
    if tr.b != 0 or tr.d != 0:
        raise RasterFormatError("不支持旋转的栅格网格", "rotated grids are not supported")
    data = np.asarray(da.values)
    height, width = data.shape
    if tr.e > 0:  # south-up grid: flip so row 0 is the northern edge, as exactextract expects
        data = data[::-1]
        ymin, ymax = tr.f, tr.f + tr.e * height
    else:
        ymin, ymax = tr.f + tr.e * height, tr.f
    if tr.a < 0:
        data = data[:, ::-1]
        xmin, xmax = tr.c + tr.a * width, tr.c
    else:
        xmin, xmax = tr.c, tr.c + tr.a * width
    nodata = da.attrs.get("nodata")
    crs = get_crs(da)
    wkt = CRS.from_user_input(crs).to_wkt() if crs else None
    return NumPyRasterSource(np.ascontiguousarray(data), xmin, ymin, xmax, ymax,
                             nodata=nodata, srs_wkt=wkt, name=str(da.name or "value"))


def zonal_stats(da_or_path: "xr.DataArray | str | os.PathLike | Any", polygons: "gpd.GeoDataFrame",
                stats: Sequence[str] = DEFAULT_STATS, *, id_column: str | None = None,
                band: int = 1) -> "pd.DataFrame":
    """One row per polygon (same order and index as ``polygons``) with the requested statistics.

    ``da_or_path`` is an in-memory DataArray (passed to exactextract as a numpy source, no temp
    file), a raster path, or an open rasterio dataset. ``id_column`` is copied to the first column.
    Raises :class:`CRSMismatchError` when the polygons' CRS is not the raster's.
    """
    import pandas as pd
    import rasterio
    from exactextract import exact_extract
    from rasterio.io import DatasetReaderBase

    stats = [stats] if isinstance(stats, str) else list(stats)
    if id_column is not None and id_column not in polygons.columns:
        raise RasterFormatError(f"面要素中没有字段“{id_column}”；可用字段：{list(polygons.columns)}",
                                f"polygons have no column '{id_column}'; available: {list(polygons.columns)}")

    def frame(values: pd.DataFrame | None) -> pd.DataFrame:
        out = pd.DataFrame(index=polygons.index)
        if id_column is not None:
            out[id_column] = polygons[id_column].to_numpy()
        for s in stats:
            out[s] = np.asarray(values[s], dtype="float64") if values is not None else np.array([], "float64")
        return out

    def run(rast: Any, rast_crs: str | None, label: str) -> pd.DataFrame:
        poly_crs = crs_label(polygons.crs) if polygons.crs is not None else None
        check_crs(poly_crs, rast_crs, f"面要素（统计 {label}）")
        if len(polygons) == 0:
            return frame(None)
        # exactextract overwrites an ``id`` column with the index, so we attach ids ourselves and
        # pass geometry only; results come back in feature order (feature-sequential strategy).
        geoms = polygons[[polygons.geometry.name]].reset_index(drop=True)
        res = exact_extract(rast, geoms, stats, output="pandas", strategy="feature-sequential")
        return frame(res)

    if isinstance(da_or_path, DatasetReaderBase):
        from exactextract.raster import RasterioRasterSource

        src = da_or_path
        if not 1 <= band <= src.count:
            raise RasterFormatError(f"栅格文件 {src.name} 只有 {src.count} 个波段，没有第 {band} 波段",
                                    f"{src.name} has {src.count} band(s); band {band} does not exist")
        rast = RasterioRasterSource(src, band_idx=band)
        return run(rast, crs_label(src.crs) if src.crs else None, str(src.name))
    if isinstance(da_or_path, (str, os.PathLike)):
        p = Path(da_or_path)
        if not p.exists():
            raise RasterNotFoundError(p)
        with rasterio.open(p) as src:
            return zonal_stats(src, polygons, stats, id_column=id_column, band=band)
    da = da_or_path
    return run(_numpy_source(da), get_crs(da), str(da.name or "图层"))
