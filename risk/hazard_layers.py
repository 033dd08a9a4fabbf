"""Load the hazard layers a risk assessment needs from a hazards directory.

Each layer id of hazards.registry is the file stem: ``<dir>/<layer_id>.tif``. Flood depths may instead
come as one NetCDF stack ``flood_depth.nc`` (dim ``return_period``, as sample_data writes it). A hazard is
assessed when its intensity layer and at least one of its curve layers are present; the others are
reported as missing, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hazards.io import read_netcdf, read_raster
from risk.errors import RiskError, RiskFileNotFound
from risk.registry import RISK_HAZARDS, CurvePoint, RiskHazard

FLOOD_STACK = "flood_depth.nc"


@dataclass
class HazardStack:
    directory: Path
    arrays: dict[str, Any]                                # layer id → xarray.DataArray (EPSG:4490)
    hazards: tuple[RiskHazard, ...]                       # assessable hazards, curves cut to present layers
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)   # hazard id → missing layer ids

    def layer_ids(self) -> tuple[str, ...]:
        return tuple(self.arrays)


def _read_layer(directory: Path, layer_id: str, stack_cache: dict):
    tif = directory / f"{layer_id}.tif"
    if tif.exists():
        da = read_raster(tif)
        da.name = layer_id
        return da
    if layer_id.startswith("flood_depth_rp") and (directory / FLOOD_STACK).exists():
        if "flood" not in stack_cache:
            stack_cache["flood"] = read_netcdf(directory / FLOOD_STACK)
        st = stack_cache["flood"]
        rp = int(layer_id.removeprefix("flood_depth_rp"))
        dim = st.dims[0]
        if rp in set(int(v) for v in st[dim].values):
            da = st.sel({dim: rp}, drop=True)
            da.attrs = dict(st.attrs)
            da.name = layer_id
            return da
    return None


def load_hazard_layers(hazards_dir: str | Path, hazards: tuple[RiskHazard, ...] = RISK_HAZARDS) -> HazardStack:
    """Every layer the hazards need that exists in ``hazards_dir`` (see module doc)."""
    directory = Path(hazards_dir)
    if not directory.is_dir():
        raise RiskFileNotFound(f"找不到致灾因子目录：{directory}；请用 --hazards 指向含 *.tif 的目录",
                               f"hazards folder not found: {directory}; point --hazards at the folder with the *.tif "
                               f"layers", directory)
    arrays: dict[str, Any] = {}
    cache: dict = {}
    assessable: list[RiskHazard] = []
    missing: dict[str, tuple[str, ...]] = {}
    for hz in hazards:
        absent = []
        for layer in dict.fromkeys((hz.intensity_layer, *hz.layers, *(p.layer for p in hz.curve))):
            if layer in arrays:
                continue
            da = _read_layer(directory, layer, cache)
            if da is None:
                absent.append(layer)
            else:
                arrays[layer] = da
        curve = tuple(p for p in hz.curve if p.layer in arrays)
        if hz.intensity_layer not in arrays or (hz.is_loss and not curve):
            missing[hz.id] = tuple(absent)
            continue
        if absent:
            missing[hz.id] = tuple(absent)
        assessable.append(_with_curve(hz, curve))
    if not assessable:
        raise RiskError(f"{directory} 中没有可用的致灾因子图层（需要如 eq_pga_475.tif、flood_depth_rp100.tif）",
                        f"{directory} holds no usable hazard layer (expected e.g. eq_pga_475.tif, flood_depth_rp100.tif)")
    return HazardStack(directory, arrays, tuple(assessable), missing)


def _with_curve(hz: RiskHazard, curve: tuple[CurvePoint, ...]) -> RiskHazard:
    if curve == hz.curve:
        return hz
    from dataclasses import replace

    return replace(hz, curve=curve)


def zonal_means(arrays: dict[str, Any], layer_ids, polygons) -> dict[str, Any]:
    """Coverage-weighted mean of several layers over polygons (EPSG:4490) in one exactextract pass.

    Same semantics as :func:`hazards.zonal.zonal_stats` ``mean`` (partial pixels weighted, nodata
    ignored, NaN where a polygon has no valid pixel); one pass over the polygons for all north-up
    layers instead of one per layer. Other grids go through hazards.zonal one by one.
    """
    import numpy as np
    from exactextract import exact_extract
    from exactextract.raster import NumPyRasterSource
    from rasterio.crs import CRS

    from hazards.io import STORAGE_CRS, get_transform
    from hazards.zonal import zonal_stats

    out: dict[str, Any] = {}
    if len(polygons) == 0:
        return {lid: np.zeros(0) for lid in layer_ids}
    wkt = CRS.from_user_input(STORAGE_CRS).to_wkt()
    sources, names = [], []
    for lid in dict.fromkeys(layer_ids):
        da = arrays[lid]
        tr = get_transform(da)
        if da.ndim != 2 or tuple(da.dims) != ("y", "x") or tr.b or tr.d or tr.a <= 0 or tr.e >= 0:
            out[lid] = zonal_stats(da, polygons, ["mean"])["mean"].to_numpy()
            continue
        data = np.ascontiguousarray(np.asarray(da.values))
        h, w = data.shape
        sources.append(NumPyRasterSource(data, tr.c, tr.f + tr.e * h, tr.c + tr.a * w, tr.f,
                                         nodata=da.attrs.get("nodata"), srs_wkt=wkt, name=lid))
        names.append(lid)
    if sources:
        geoms = polygons[[polygons.geometry.name]].reset_index(drop=True)
        res = exact_extract(sources, geoms, ["mean"], output="pandas", strategy="feature-sequential")
        for lid in names:
            col = f"{lid}_mean" if len(sources) > 1 else "mean"
            out[lid] = np.asarray(res[col], dtype="float64")
    return out
