"""Raster I/O for hazard layers: GeoTIFF (one layer) and NetCDF (a stack over return periods).

In memory a layer is an ``xarray.DataArray`` with dims ``("y", "x")`` (or ``(dim, "y", "x")`` for a
stack), coordinates at pixel centres, and georeferencing in ``attrs`` — ``crs`` (string such as
``"EPSG:4490"``), ``transform`` (six affine coefficients ``a, b, c, d, e, f``) and ``nodata`` — so
no rioxarray accessor is needed and every function states its CRS explicitly. Values keep their
nodata code (rasterio convention); :func:`hazards.sampling.sample_points` turns it into NaN.

Files are always in the storage CRS EPSG:4490; a file in another CRS is refused, never reprojected
behind the user's back.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from affine import Affine

from hazards.errors import CRSMismatchError, RasterFormatError, RasterNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

STORAGE_CRS = "EPSG:4490"
BLOCK_SIZE = 256

_GEO_ATTRS = ("crs", "transform", "nodata")


# --------------------------------------------------------------------------------------------------
# georeferencing helpers
# --------------------------------------------------------------------------------------------------

def as_affine(transform: Any) -> Affine:
    """An :class:`affine.Affine` from an Affine, a 6-tuple ``(a, b, c, d, e, f)`` or a 9-tuple."""
    if isinstance(transform, Affine):
        return transform
    vals = tuple(float(v) for v in transform)
    if len(vals) == 9:
        vals = vals[:6]
    if len(vals) != 6:
        raise RasterFormatError(f"仿射变换参数应为 6 个数，实际为 {len(vals)} 个",
                                f"an affine transform needs 6 coefficients, got {len(vals)}")
    return Affine(*vals)


def get_transform(da: "xr.DataArray") -> Affine:
    """The DataArray's affine transform: from ``attrs["transform"]``, else from regular x/y coords."""
    if da.attrs.get("transform") is not None:
        return as_affine(da.attrs["transform"])
    try:
        x = np.asarray(da["x"].values, dtype="float64")
        y = np.asarray(da["y"].values, dtype="float64")
    except KeyError:
        raise RasterFormatError("数据缺少 transform 属性和 x/y 坐标，无法确定地理位置",
                                "the array has neither attrs['transform'] nor x/y coordinates") from None
    if x.size < 2 or y.size < 2:
        raise RasterFormatError("数据缺少 transform 属性且网格小于 2×2，无法推算像元大小",
                                "no attrs['transform'] and the grid is too small to infer pixel size")
    dx = (x[-1] - x[0]) / (x.size - 1)
    dy = (y[-1] - y[0]) / (y.size - 1)
    return Affine(dx, 0.0, x[0] - dx / 2, 0.0, dy, y[0] - dy / 2)


def get_crs(da: "xr.DataArray") -> str | None:
    crs = da.attrs.get("crs")
    return None if crs is None else str(crs)


def same_crs(a: Any, b: Any) -> bool:
    """CRS equality that understands 'EPSG:4490' vs its WKT; ``None`` equals only ``None``."""
    if a is None or b is None:
        return a is None and b is None
    if str(a) == str(b):
        return True
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return CRS.from_user_input(a) == CRS.from_user_input(b)
    except CRSError:  # unparsable CRS text cannot equal a valid one
        return False


def crs_label(crs: Any) -> str | None:
    """Short form 'EPSG:nnnn' when the CRS has one, else its WKT; ``None`` passes through."""
    if crs is None:
        return None
    from rasterio.crs import CRS

    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    return f"EPSG:{epsg}" if epsg else c.to_wkt()


def check_crs(actual: Any, expected: Any, what: str) -> None:
    """Raise :class:`CRSMismatchError` unless ``actual`` is ``expected`` (``expected=None`` skips)."""
    if expected is None:
        return
    if not same_crs(actual, expected):
        raise CRSMismatchError(what, actual, expected)


def _coords(transform: Affine, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    if transform.b != 0 or transform.d != 0:
        raise RasterFormatError("不支持旋转的栅格网格，请先重采样为正北方向网格",
                                "rotated grids are not supported; resample to a north-up grid first")
    x = transform.c + (np.arange(width, dtype="float64") + 0.5) * transform.a
    y = transform.f + (np.arange(height, dtype="float64") + 0.5) * transform.e
    return x, y


def make_dataarray(array: np.ndarray, transform: Any, crs: str | None = STORAGE_CRS,
                   nodata: float | int | None = None, name: str | None = None,
                   attrs: Mapping[str, Any] | None = None) -> "xr.DataArray":
    """Wrap a 2-D ``(rows, cols)`` array (or 3-D with a leading band dim) as a georeferenced DataArray.

    Coordinates are pixel centres computed from ``transform`` so that ``x``/``y`` agree with what
    GDAL and QGIS show; ``attrs`` keeps the exact transform, which coordinates alone would round.
    """
    import xarray as xr

    arr = np.asarray(array)
    if arr.ndim not in (2, 3):
        raise RasterFormatError(f"栅格数组应为二维（行, 列），实际为 {arr.ndim} 维",
                                f"a raster array must be 2-D (rows, cols), got {arr.ndim}-D")
    tr = as_affine(transform)
    x, y = _coords(tr, arr.shape[-2], arr.shape[-1])
    meta = dict(attrs or {})
    meta.update(crs=None if crs is None else str(crs), transform=tuple(tr)[:6], nodata=nodata)
    dims = ("y", "x") if arr.ndim == 2 else ("band", "y", "x")
    coords: dict[str, Any] = {"y": y, "x": x}
    if arr.ndim == 3:
        coords["band"] = np.arange(1, arr.shape[0] + 1)
    return xr.DataArray(arr, dims=dims, coords=coords, name=name, attrs=meta)


# --------------------------------------------------------------------------------------------------
# GeoTIFF
# --------------------------------------------------------------------------------------------------

def _nodata_ok(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def write_geotiff(da: "xr.DataArray", path: str | os.PathLike, *, nodata: float | int | None = None,
                  crs: str | None = None) -> Path:
    """Write a 2-D layer as a tiled (256×256), DEFLATE-compressed GeoTIFF with a predictor.

    ``crs``/``nodata`` default to the DataArray's attrs; the CRS must be the storage CRS so every
    file the toolkit writes reads back without surprises. NaN cells are written as ``nodata`` when a
    numeric nodata is set. ``attrs['layer_id']``/``attrs['unit']`` become GeoTIFF tags.
    """
    import rasterio

    if da.ndim != 2:
        raise RasterFormatError(f"GeoTIFF 只写单个二维图层，收到 {da.ndim} 维数据；多重现期请用 NetCDF",
                                f"write_geotiff takes one 2-D layer, got {da.ndim}-D; use NetCDF for stacks")
    if tuple(da.dims) != ("y", "x"):
        da = da.transpose("y", "x")
    crs = crs if crs is not None else (get_crs(da) or STORAGE_CRS)
    check_crs(crs, STORAGE_CRS, f"图层 {da.name or path}")
    nd = nodata if nodata is not None else da.attrs.get("nodata")
    tr = get_transform(da)
    data = np.asarray(da.values)
    if data.dtype == np.bool_:
        data = data.astype("uint8")
    if data.dtype == np.float16:
        data = data.astype("float32")
    if np.issubdtype(data.dtype, np.floating) and _nodata_ok(nd):
        data = np.where(np.isnan(data), np.asarray(nd, dtype=data.dtype), data)
    predictor = 3 if np.issubdtype(data.dtype, np.floating) else 2
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = data.shape
    profile = dict(
        driver="GTiff", height=height, width=width, count=1, dtype=data.dtype.name,
        crs=crs, transform=tr, nodata=nd, tiled=True, blockxsize=BLOCK_SIZE, blockysize=BLOCK_SIZE,
        compress="deflate", predictor=predictor, BIGTIFF="IF_SAFER",
    )
    tags = {k: str(da.attrs[k]) for k in ("layer_id", "unit", "return_period") if da.attrs.get(k) is not None}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if tags:
            dst.update_tags(**tags)
        if da.name is not None:
            dst.set_band_description(1, str(da.name))
    return path


def read_raster(path: Any, *, expected_crs: str | None = STORAGE_CRS, band: int = 1,
                masked: bool = False) -> "xr.DataArray":
    """Read one band of a raster (path or open rasterio dataset) into a DataArray, checking its CRS.

    A file in another CRS raises :class:`CRSMismatchError` (pass ``expected_crs=None`` to accept any).
    ``masked=True`` returns float with NaN for nodata, otherwise values keep their nodata code.
    """
    import rasterio
    from rasterio.io import DatasetReaderBase

    if isinstance(path, DatasetReaderBase):
        return _read_open(path, expected_crs=expected_crs, band=band, masked=masked)
    p = Path(path)
    if not p.exists():
        raise RasterNotFoundError(p)
    with rasterio.open(p) as src:
        return _read_open(src, expected_crs=expected_crs, band=band, masked=masked)


def _read_open(src: Any, *, expected_crs: str | None, band: int, masked: bool) -> "xr.DataArray":
    crs = crs_label(src.crs) if src.crs else None
    check_crs(crs, expected_crs, f"栅格文件 {src.name}")
    if not 1 <= band <= src.count:
        raise RasterFormatError(f"栅格文件 {src.name} 只有 {src.count} 个波段，没有第 {band} 波段",
                                f"{src.name} has {src.count} band(s); band {band} does not exist")
    data = src.read(band)
    nodata = src.nodatavals[band - 1]
    if nodata is not None and np.issubdtype(data.dtype, np.integer):
        nodata = int(nodata)
    if masked:
        data = data.astype("float64" if data.dtype.itemsize > 4 else "float32")
        if _nodata_ok(nodata):
            data[data == nodata] = np.nan
    tags = src.tags()
    tags.update(src.tags(band))
    attrs: dict[str, Any] = {"source": str(src.name)}
    for key in ("layer_id", "unit"):
        if key in tags:
            attrs[key] = tags[key]
    if "return_period" in tags:
        attrs["return_period"] = int(float(tags["return_period"]))
    name = src.descriptions[band - 1] or attrs.get("layer_id") or Path(str(src.name)).stem
    return make_dataarray(data, src.transform, crs=crs, nodata=np.nan if masked else nodata,
                          name=name, attrs=attrs)


# --------------------------------------------------------------------------------------------------
# NetCDF stacks (flood depth per return period)
# --------------------------------------------------------------------------------------------------

def _gdal_geotransform(tr: Affine) -> str:
    return " ".join(repr(float(v)) for v in tr.to_gdal())


def _grid_mapping_attrs(crs: str, tr: Affine) -> dict[str, Any]:
    """CF grid mapping + the GDAL/rioxarray ``spatial_ref``/``GeoTransform`` so GDAL and QGIS agree."""
    from rasterio.crs import CRS

    c = CRS.from_user_input(crs)
    attrs: dict[str, Any] = {}
    try:
        from pyproj import CRS as ProjCRS

        attrs.update(ProjCRS.from_user_input(crs).to_cf())
    except ImportError:  # pyproj ships with geopandas; without it keep the GDAL attributes only
        attrs["grid_mapping_name"] = "latitude_longitude" if c.is_geographic else "unknown"
    wkt = c.to_wkt()
    attrs.update(crs_wkt=wkt, spatial_ref=wkt, GeoTransform=_gdal_geotransform(tr), epsg_code=crs_label(crs))
    return attrs


def write_netcdf_stack(arrays: Mapping[int, "xr.DataArray"], path: str | os.PathLike, dim: str = "return_period",
                       *, name: str | None = None) -> Path:
    """Write same-grid layers (e.g. flood depth per return period) as one NetCDF variable ``(dim, y, x)``.

    Keys become the ``dim`` coordinate (sorted). Georeferencing is stored twice, CF-style
    (``grid_mapping`` → ``spatial_ref`` with ``crs_wkt``) and GDAL-style (``GeoTransform``), so
    :func:`read_netcdf`, GDAL and QGIS all read the same grid back.
    """
    import xarray as xr

    if not arrays:
        raise RasterFormatError("没有可写入的图层", "no layers to write")
    keys = sorted(arrays)
    first = arrays[keys[0]]
    tr = get_transform(first)
    crs = get_crs(first) or STORAGE_CRS
    check_crs(crs, STORAGE_CRS, f"图层 {first.name or keys[0]}")
    nodata = first.attrs.get("nodata")
    layers = []
    for k in keys:
        da = arrays[k]
        if da.ndim != 2:
            raise RasterFormatError(f"{dim}={k} 的图层不是二维", f"layer {dim}={k} is not 2-D")
        if tuple(da.dims) != ("y", "x"):
            da = da.transpose("y", "x")
        if da.shape != first.shape or not get_transform(da).almost_equals(tr):
            raise RasterFormatError(f"{dim}={k} 的图层网格与 {dim}={keys[0]} 不一致，无法合并为一个文件",
                                    f"layer {dim}={k} is not on the same grid as {dim}={keys[0]}")
        check_crs(get_crs(da) or STORAGE_CRS, crs, f"图层 {dim}={k}")
        layers.append(np.asarray(da.values))
    data = np.stack(layers)
    if np.issubdtype(data.dtype, np.floating) and _nodata_ok(nodata):
        data = np.where(np.isnan(data), np.asarray(nodata, dtype=data.dtype), data)
    x, y = _coords(tr, data.shape[1], data.shape[2])
    var_name = name or first.name or "data"
    var_attrs = {k: v for k, v in first.attrs.items()
                 if k not in (*_GEO_ATTRS, "source", "return_period", "layer_id") and _nc_attr_ok(v)}
    var_attrs["grid_mapping"] = "spatial_ref"
    if "unit" in var_attrs and "units" not in var_attrs:
        var_attrs["units"] = var_attrs["unit"]  # CF spelling, for Panoply/QGIS
    layer_ids = [arrays[k].attrs.get("layer_id") for k in keys]
    if all(layer_ids):
        var_attrs["layer_ids"] = " ".join(str(i) for i in layer_ids)
    var = xr.DataArray(data, dims=(dim, "y", "x"),
                       coords={dim: np.asarray(keys), "y": y, "x": x}, attrs=var_attrs)
    from rasterio.crs import CRS

    geographic = CRS.from_user_input(crs).is_geographic
    ds = xr.Dataset({var_name: var})
    ds["x"].attrs.update(
        {"standard_name": "longitude", "units": "degrees_east", "axis": "X"} if geographic
        else {"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"})
    ds["y"].attrs.update(
        {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"} if geographic
        else {"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"})
    ds = ds.assign_coords(spatial_ref=xr.DataArray(np.int32(0), attrs=_grid_mapping_attrs(crs, tr)))
    ds.attrs["Conventions"] = "CF-1.8"
    encoding: dict[str, Any] = {var_name: {"zlib": True, "complevel": 4,
                                           "chunksizes": (1, min(BLOCK_SIZE, data.shape[1]),
                                                          min(BLOCK_SIZE, data.shape[2]))}}
    encoding[var_name]["_FillValue"] = nodata if _nodata_ok(nodata) else None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path, engine="netcdf4", encoding=encoding)
    return path


def _nc_attr_ok(v: Any) -> bool:
    return isinstance(v, (str, int, float, np.integer, np.floating)) and not isinstance(v, bool)


def read_netcdf(path: str | os.PathLike, var: str | None = None, *,
                expected_crs: str | None = STORAGE_CRS) -> "xr.DataArray":
    """Read one variable of a NetCDF written by :func:`write_netcdf_stack` (or any CF grid with a
    ``GeoTransform``/regular x,y) into memory, with the same attrs convention as :func:`read_raster`.
    """
    import xarray as xr

    p = Path(path)
    if not p.exists():
        raise RasterNotFoundError(p)
    with xr.open_dataset(p, engine="netcdf4", mask_and_scale=False, decode_coords=False) as ds:
        candidates = [v for v in ds.data_vars if v not in ("spatial_ref", "crs") and ds[v].ndim >= 2]
        if var is None:
            if len(candidates) != 1:
                raise RasterFormatError(f"{p} 含多个（或没有）栅格变量：{candidates}；请用 var= 指定",
                                        f"{p} holds {len(candidates)} grid variables {candidates}; pass var=")
            var = candidates[0]
        if var not in ds.data_vars:
            raise RasterFormatError(f"{p} 中没有变量“{var}”；可用的有：{candidates}",
                                    f"{p} has no variable '{var}'; available: {candidates}")
        da = ds[var].load()
        gm_name = da.attrs.get("grid_mapping", "spatial_ref")
        gm = ds[gm_name].attrs if gm_name in ds.variables else {}
    crs = None
    wkt = gm.get("crs_wkt") or gm.get("spatial_ref")
    if gm.get("epsg_code"):
        crs = crs_label(gm["epsg_code"])
    elif wkt:
        crs = crs_label(wkt)
    check_crs(crs, expected_crs, f"NetCDF 文件 {p}")
    if "GeoTransform" in gm:
        g = [float(v) for v in str(gm["GeoTransform"]).split()]
        tr = Affine.from_gdal(*g)
    else:
        tr = get_transform(da.assign_attrs(transform=None))
    nodata = da.attrs.get("_FillValue")
    if nodata is not None:
        nodata = nodata.item() if hasattr(nodata, "item") else nodata
    attrs = {k: v for k, v in da.attrs.items() if k not in ("_FillValue", "grid_mapping", "coordinates")}
    attrs["source"] = str(p)
    da = da.drop_vars([c for c in da.coords if c not in da.dims])
    out = make_dataarray(da.values, tr, crs=crs, nodata=nodata, name=var, attrs=attrs)
    if da.ndim == 3:
        lead = da.dims[0]
        out = out.rename({"band": lead}).assign_coords({lead: da[lead].values})
    return out
