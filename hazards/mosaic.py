"""City-wide hazard layers from per-county ones (致灾因子图层拼接).

Specialist agencies — and the sample generator — deliver hazard rasters county by county, each on its
own grid with a margin reaching into the neighbours. A city assessment needs one grid: for every layer
id (file stem, as :mod:`risk.hazard_layers` expects) present in any county folder, :func:`mosaic_hazards`
writes one GeoTIFF covering all of them:

- target grid: the union of the inputs' extents at the finest input pixel size, snapped to multiples
  of that size (EPSG:4490, north up);
- each input is placed on it by nearest-neighbour (values are never blended or invented);
- **ownership**: a pixel whose centre lies in a county's polygon takes that county's value, so the
  margins of a neighbour's raster never overwrite a county's own data; pixels outside every polygon
  (sea, the outer margin) take the first input that has a value there.

Stacks (``flood_depth.nc``) are not copied: the per-return-period GeoTIFFs beside them are mosaicked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hazards.errors import RasterFormatError
from hazards.io import (
    STORAGE_CRS,
    get_transform,
    make_dataarray,
    read_raster,
    write_geotiff,
)


@dataclass(frozen=True)
class MosaicSource:
    """One county's hazard folder and the polygon (EPSG:4490) whose pixels it owns (None: owns none)."""

    directory: Path
    area: Any = None
    name: str = ""


@dataclass
class MosaicResult:
    out_dir: Path
    layers: dict[str, Path] = field(default_factory=dict)
    shape: tuple[int, int] = (0, 0)            # rows, cols of the city grid
    resolution: float = 0.0
    bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    sources: dict[str, int] = field(default_factory=dict)   # layer → how many inputs had it


def _grid(arrays: Sequence[Any], resolution: float | None) -> tuple[Any, int, int, float, tuple]:
    from affine import Affine

    res = resolution or min(min(abs(get_transform(a).a), abs(get_transform(a).e)) for a in arrays)
    xs, ys = [], []
    for a in arrays:
        tr = get_transform(a)
        h, w = a.shape[-2:]
        xs += [tr.c, tr.c + tr.a * w]
        ys += [tr.f, tr.f + tr.e * h]
    west, east = math.floor(min(xs) / res + 1e-9) * res, math.ceil(max(xs) / res - 1e-9) * res
    south, north = math.floor(min(ys) / res + 1e-9) * res, math.ceil(max(ys) / res - 1e-9) * res
    cols, rows = int(round((east - west) / res)), int(round((north - south) / res))
    return Affine(res, 0.0, west, 0.0, -res, north), rows, cols, res, (west, south, east, north)


def _place(da, dst_transform, rows: int, cols: int) -> np.ndarray:
    """The input on the target grid (float64, NaN where it has no value)."""
    from rasterio.warp import Resampling, reproject

    src = np.asarray(da.values, dtype="float64")
    nd = da.attrs.get("nodata")
    if nd is not None and not (isinstance(nd, float) and math.isnan(nd)):
        src = np.where(src == nd, np.nan, src)
    out = np.full((rows, cols), np.nan, dtype="float64")
    reproject(src, out, src_transform=get_transform(da), src_crs=STORAGE_CRS, src_nodata=np.nan,
              dst_transform=dst_transform, dst_crs=STORAGE_CRS, dst_nodata=np.nan, resampling=Resampling.nearest)
    return out


def mosaic_hazards(sources: Sequence[MosaicSource], out_dir: str | Path, *, resolution: float | None = None,
                   layers: Sequence[str] | None = None) -> MosaicResult:
    """Merge the county folders' ``*.tif`` layers into one GeoTIFF per layer id in ``out_dir``."""
    from rasterio.features import geometry_mask

    if not sources:
        raise RasterFormatError("没有要拼接的致灾因子目录", "no hazard folders to mosaic")
    ids: dict[str, list[tuple[MosaicSource, Path]]] = {}
    for s in sources:
        d = Path(s.directory)
        if not d.is_dir():
            raise FileNotFoundError(2, "找不到致灾因子目录 / hazards folder not found", str(d))
        for p in sorted(d.glob("*.tif")):
            if layers is None or p.stem in layers:
                ids.setdefault(p.stem, []).append((s, p))
    if not ids:
        raise RasterFormatError("各目录中没有 GeoTIFF 致灾因子图层", "the folders hold no GeoTIFF hazard layers")
    # one grid for every layer, so layers line up pixel for pixel as in a county folder
    first = {lid: [read_raster(p) for _, p in items] for lid, items in ids.items()}
    transform, rows, cols, res, bounds = _grid([a for arrs in first.values() for a in arrs], resolution)
    owned: dict[int, np.ndarray] = {}
    for k, s in enumerate(sources):
        if s.area is not None and not s.area.is_empty:
            owned[k] = geometry_mask([s.area], out_shape=(rows, cols), transform=transform, invert=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = MosaicResult(out, {}, (rows, cols), res, bounds)
    index = {id(s): k for k, s in enumerate(sources)}
    for lid, items in ids.items():
        placed = [(index[id(s)], _place(da, transform, rows, cols)) for (s, _), da in zip(items, first[lid])]
        merged = np.full((rows, cols), np.nan)
        for k, arr in placed:                       # owners first
            if k in owned:
                take = owned[k] & np.isfinite(arr)
                merged[take] = arr[take]
        for _, arr in placed:                       # then whoever has a value
            take = np.isnan(merged) & np.isfinite(arr)
            merged[take] = arr[take]
        ref = first[lid][0]
        dtype = np.asarray(ref.values).dtype
        nd = ref.attrs.get("nodata")
        if np.issubdtype(dtype, np.integer):
            if nd is None:
                raise RasterFormatError(f"整数图层 {lid} 没有 nodata 值，无法拼接空白处",
                                        f"integer layer {lid} has no nodata value to mark gaps with")
            data = np.where(np.isnan(merged), nd, merged).astype(dtype)
        else:
            data = merged.astype(dtype)
            nd = nd if nd is not None else np.nan
        attrs = {k: ref.attrs[k] for k in ("layer_id", "unit", "return_period") if ref.attrs.get(k) is not None}
        da = make_dataarray(data, transform, crs=STORAGE_CRS, nodata=nd, name=str(ref.name or lid), attrs=attrs)
        result.layers[lid] = write_geotiff(da, out / f"{lid}.tif")
        result.sources[lid] = len(items)
    return result


__all__ = ["MosaicResult", "MosaicSource", "mosaic_hazards"]
