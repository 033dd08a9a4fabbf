"""Vectorised sampling of hazard rasters at points (buildings, facilities, grid centres).

Pure numpy index arithmetic from the inverse affine transform: a million points cost one pass of
array arithmetic plus one ``np.take`` per layer, instead of a Python call per point as with
``rasterio``'s ``DatasetReader.sample``. :func:`sample_many` computes the row/column indices once for
every group of layers on the same grid.

Points are in the raster's CRS — the storage CRS EPSG:4490 (longitude, latitude in degrees). We do
not reproject: when ``points_crs`` and the raster's CRS differ, :class:`CRSMismatchError` is raised.
Cells exactly on a pixel's left/top edge belong to that pixel (GDAL convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from hazards.errors import RasterFormatError
from hazards.io import STORAGE_CRS, check_crs, get_crs, get_transform

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

METHODS = ("nearest", "bilinear")


@dataclass(frozen=True)
class _Grid:
    transform: tuple[float, ...]
    height: int
    width: int


@dataclass
class _NearestIndex:
    flat: np.ndarray      # flat pixel index (0 where outside)
    outside: np.ndarray   # bool


@dataclass
class _BilinearIndex:
    flats: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (y0x0, y0x1, y1x0, y1x1)
    weights: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    outside: np.ndarray


def _as_points(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(lon, dtype="float64")
    y = np.asarray(lat, dtype="float64")
    if x.shape != y.shape:
        raise RasterFormatError(f"经度与纬度数组长度不一致：{x.shape} 与 {y.shape}",
                                f"lon and lat differ in shape: {x.shape} vs {y.shape}")
    return x.ravel(), y.ravel()


def _grid_of(da: "xr.DataArray") -> _Grid:
    if da.dims[-2:] != ("y", "x"):
        raise RasterFormatError(f"栅格维度应以 (y, x) 结尾，实际为 {da.dims}",
                                f"raster dims must end with (y, x), got {da.dims}")
    tr = get_transform(da)
    if tr.b != 0 or tr.d != 0:
        raise RasterFormatError("不支持旋转的栅格网格", "rotated grids are not supported")
    return _Grid(tuple(tr)[:6], int(da.shape[-2]), int(da.shape[-1]))


def _fractional(grid: _Grid, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, _b, c, _d, e, f = grid.transform
    return (x - c) / a, (y - f) / e  # column, row in pixel units (0 = left/top edge)


def _nearest_index(grid: _Grid, x: np.ndarray, y: np.ndarray) -> _NearestIndex:
    col_f, row_f = _fractional(grid, x, y)
    # NaN coordinates compare False, so they count as outside.
    inside = (col_f >= 0) & (col_f < grid.width) & (row_f >= 0) & (row_f < grid.height)
    with np.errstate(invalid="ignore"):  # NaN/huge coords cast to garbage; they are masked below
        col = col_f.astype(np.int64)  # truncation == floor for the inside (non-negative) points
        row = row_f.astype(np.int64)
    flat = row * grid.width + col
    outside = ~inside
    flat[outside] = 0
    return _NearestIndex(flat, outside)


def _bilinear_index(grid: _Grid, x: np.ndarray, y: np.ndarray) -> _BilinearIndex:
    col_f, row_f = _fractional(grid, x, y)
    inside = (col_f >= 0) & (col_f < grid.width) & (row_f >= 0) & (row_f < grid.height)
    fx = np.where(inside, col_f, 0.5) - 0.5  # relative to pixel centres
    fy = np.where(inside, row_f, 0.5) - 0.5
    x0f = np.floor(fx)
    y0f = np.floor(fy)
    wx = fx - x0f
    wy = fy - y0f
    # Clamping at the outer half-pixel: both neighbours become the edge pixel, so weights don't matter.
    x0 = np.clip(x0f, 0, grid.width - 1).astype(np.int64)
    x1 = np.clip(x0f + 1, 0, grid.width - 1).astype(np.int64)
    y0 = np.clip(y0f, 0, grid.height - 1).astype(np.int64)
    y1 = np.clip(y0f + 1, 0, grid.height - 1).astype(np.int64)
    w = grid.width
    flats = (y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1)
    weights = ((1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx)
    return _BilinearIndex(flats, weights, ~inside)


def _index(grid: _Grid, x: np.ndarray, y: np.ndarray, method: str) -> _NearestIndex | _BilinearIndex:
    if method == "nearest":
        return _nearest_index(grid, x, y)
    if method == "bilinear":
        return _bilinear_index(grid, x, y)
    raise RasterFormatError(f"不支持的采样方法“{method}”；可用：{', '.join(METHODS)}",
                            f"unknown sampling method '{method}'; use one of {', '.join(METHODS)}")


def _invalid(vals: np.ndarray, nodata: Any) -> np.ndarray | None:
    """Mask of nodata values (NaN always counts); ``None`` when nothing can be invalid."""
    mask = None
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        mask = vals == nodata
    if np.issubdtype(vals.dtype, np.floating):
        nan = np.isnan(vals)
        mask = nan if mask is None else (mask | nan)
    return mask


def _apply(da: "xr.DataArray", idx: _NearestIndex | _BilinearIndex) -> np.ndarray:
    data = np.asarray(da.values)
    lead = data.shape[:-2]
    flat_data = data.reshape(*lead, -1) if lead else data.reshape(-1)
    nodata = da.attrs.get("nodata")
    if isinstance(idx, _NearestIndex):
        vals = np.take(flat_data, idx.flat, axis=-1)
        out = vals.astype("float64")
        bad = _invalid(vals, nodata)
        bad = idx.outside if bad is None else (bad | idx.outside)
    else:
        out = np.zeros((*lead, idx.outside.size), dtype="float64")
        bad = np.broadcast_to(idx.outside, out.shape).copy()
        for flat, weight in zip(idx.flats, idx.weights):
            vals = np.take(flat_data, flat, axis=-1)
            out += vals * weight
            nd = _invalid(vals, nodata)
            if nd is not None:
                bad |= nd  # any nodata neighbour → NaN: never blend a nodata code into a value
    np.putmask(out, bad, np.nan)
    return out


def _check_points_crs(da: "xr.DataArray", points_crs: str | None, label: str) -> None:
    if points_crs is None:
        return
    check_crs(get_crs(da), points_crs, f"图层 {label}（采样点坐标系为 {points_crs}）")


def sample_points(da: "xr.DataArray", lon: np.ndarray, lat: np.ndarray, *, method: str = "nearest",
                  points_crs: str | None = STORAGE_CRS) -> np.ndarray:
    """Raster values at points as float64; NaN where a point is outside the grid or on nodata.

    ``lon``/``lat`` are in ``points_crs`` (default EPSG:4490), which must be the raster's CRS
    (``points_crs=None`` skips the check). ``method="bilinear"`` interpolates between the four
    nearest pixel centres and gives NaN if any of them is nodata. A stacked array ``(k, y, x)``
    returns shape ``(k, n)``; otherwise the result has the shape of ``lon``.
    """
    x, y = _as_points(lon, lat)
    _check_points_crs(da, points_crs, da.name or "")
    idx = _index(_grid_of(da), x, y, method)
    out = _apply(da, idx)
    shape = np.shape(lon)
    return out.reshape(*out.shape[:-1], *shape) if shape else out


def sample_many(arrays: Mapping[str, "xr.DataArray"], lon: np.ndarray, lat: np.ndarray, *,
                method: str = "nearest", points_crs: str | None = STORAGE_CRS) -> dict[str, np.ndarray]:
    """:func:`sample_points` for several layers; row/column indices are computed once per grid."""
    x, y = _as_points(lon, lat)
    shape = np.shape(lon)
    cache: dict[_Grid, _NearestIndex | _BilinearIndex] = {}
    result: dict[str, np.ndarray] = {}
    for key, da in arrays.items():
        _check_points_crs(da, points_crs, key)
        grid = _grid_of(da)
        if grid not in cache:
            cache[grid] = _index(grid, x, y, method)
        out = _apply(da, cache[grid])
        result[key] = out.reshape(*out.shape[:-1], *shape) if shape else out
    return result


def pixel_index(da: "xr.DataArray", lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of each point, -1 for points outside the grid; for callers that group by pixel."""
    x, y = _as_points(lon, lat)
    grid = _grid_of(da)
    idx = _nearest_index(grid, x, y)
    row = np.where(idx.outside, -1, idx.flat // grid.width)
    col = np.where(idx.outside, -1, idx.flat % grid.width)
    return row, col
