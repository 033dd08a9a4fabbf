"""Write the assessment into the county GeoPackage and the risk GeoTIFFs (risk outputs contract).

Layers ``risk_buildings``, ``risk_grid``, ``risk_townships``, ``risk_villages`` (EPSG:4490) and the
attribute tables ``risk_breaks``, ``risk_runs`` are overwritten as a whole on every run (GDAL drops the
old table with its R-tree and metadata), so a re-run never leaves duplicates. GeoTIFFs go to
``<gpkg dir>/risk/``: ``<H>_level.tif`` and ``comprehensive_level.tif`` (uint8, nodata 0) and
``<H>_loss.tif`` (float32 CNY/yr, nodata −9999) on the assessment grid in its Gauss-Krüger CRS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from exposure.footprints import STORAGE_CRS
from risk.grid import GridSpec
from risk.registry import RISK_HAZARD_IDS
from geodb import layers as L

LAYERS = ("risk_buildings", "risk_grid", "risk_townships", "risk_villages", "risk_breaks", "risk_runs")
LOSS_NODATA = -9999.0
BLOCK = 256


def _ints(df, cols: Iterable[str]) -> None:
    for c in cols:
        if c in df.columns:
            df[c] = np.asarray(df[c]).astype(np.int32)


def level_columns(df) -> list[str]:
    return [c for c in df.columns if c.endswith("_level")]


def geometry_type_of(gdf, default: str) -> str:
    import shapely

    types = set(shapely.get_type_id(gdf.geometry.values[~gdf.geometry.isna().to_numpy()]).tolist())
    if types <= {3}:
        return "Polygon"
    if types <= {3, 6}:
        return "MultiPolygon"
    return default


def write_features(path: Path, gdf, layer: str, geometry_type: str, *, append: bool = False,
                   description: str | None = None) -> None:
    """A feature layer in EPSG:4490 (reprojected if needed), replacing any layer of that name."""
    if gdf.crs is not None and gdf.crs.to_epsg() != 4490:
        gdf = gdf.to_crs(STORAGE_CRS)
    gdf = gdf.copy()
    _ints(gdf, level_columns(gdf) + [c for c in ("buildings",) if c in gdf.columns])
    L.write_layer(path, gdf, layer, geometry_type=geometry_type, append=append, description=description,
                   promote_to_multi=(geometry_type == "MultiPolygon"))


def write_table(path: Path, df, layer: str, description: str | None = None) -> None:
    L.write_layer(path, df, layer, description=description)


def clean_rasters(directory: Path) -> None:
    """Remove the GeoTIFFs an earlier run wrote (only our own file names)."""
    if not directory.is_dir():
        return
    ours = {f"{h}_{kind}.tif" for h in (*RISK_HAZARD_IDS, "comprehensive") for kind in ("level", "loss")}
    for p in directory.iterdir():
        if p.name in ours:
            p.unlink()


def _write_tif(path: Path, data: np.ndarray, spec: GridSpec, nodata, tags: dict) -> Path:
    import rasterio

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = data.shape
    tiled = h >= BLOCK and w >= BLOCK
    profile = dict(driver="GTiff", height=h, width=w, count=1, dtype=data.dtype.name, crs=spec.crs,
                   transform=spec.transform, nodata=nodata, compress="deflate",
                   predictor=3 if np.issubdtype(data.dtype, np.floating) else 2)
    if tiled:
        profile.update(tiled=True, blockxsize=BLOCK, blockysize=BLOCK)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.update_tags(**{k: str(v) for k, v in tags.items()})
    return path


def write_rasters(directory: Path, spec: GridSpec, grid, hazard_ids: Sequence[str], loss_ids: Sequence[str],
                  run_id: str) -> list[Path]:
    """Level and loss rasters of the grid frame (needs columns ``key``, ``H_level``, ``H_loss``)."""
    clean_rasters(directory)
    rows, cols = spec.raster_rows_cols(grid["key"].to_numpy(dtype=np.int64))
    written = []
    for h in (*hazard_ids, "comprehensive"):
        arr = np.zeros((spec.ny, spec.nx), dtype=np.uint8)
        arr[rows, cols] = np.asarray(grid[f"{h}_level"], dtype=np.uint8)
        written.append(_write_tif(directory / f"{h}_level.tif", arr, spec, 0,
                                  {"layer_id": f"{h}_level", "unit": "level", "run_id": run_id}))
    for h in loss_ids:
        arr = np.full((spec.ny, spec.nx), LOSS_NODATA, dtype=np.float32)
        arr[rows, cols] = np.nan_to_num(np.asarray(grid[f"{h}_loss"], dtype=np.float64), nan=LOSS_NODATA)
        written.append(_write_tif(directory / f"{h}_loss.tif", arr, spec, LOSS_NODATA,
                                  {"layer_id": f"{h}_loss", "unit": "CNY/yr", "run_id": run_id}))
    return written
