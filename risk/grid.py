"""The assessment grid: square cells of ``grid_m`` metres in the county's Gauss-Krüger zone.

Cells are aligned to multiples of ``grid_m`` in the GK CRS (EPSG:4549 for 葫芦岛), so grids of
neighbouring counties line up. A cell is kept when it intersects the county (union of townships) or
holds a building (so no building is ever dropped from the totals). ``cell_id`` names the lower-left
corner: ``E{easting}N{northing}`` in metres. A building belongs to the cell containing its
representative point — pure arithmetic on projected coordinates, so 20 million buildings cost one
coordinate transform and a few array operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from exposure.footprints import STORAGE_CRS, gk_crs_for
from risk.errors import RiskError


@dataclass(frozen=True)
class GridSpec:
    crs: str
    size: float            # metres
    x0: float              # lower-left corner of cell (0, 0)
    y0: float
    nx: int
    ny: int

    def keys(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Flat cell key iy·nx + ix of projected points; −1 outside the grid or for NaN."""
        with np.errstate(invalid="ignore"):
            ix = np.floor((x - self.x0) / self.size)
            iy = np.floor((y - self.y0) / self.size)
        ok = np.isfinite(ix) & np.isfinite(iy) & (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        key = np.full(len(x), -1, dtype=np.int64)
        key[ok] = iy[ok].astype(np.int64) * self.nx + ix[ok].astype(np.int64)
        return key

    def cell_ids(self, keys: np.ndarray) -> np.ndarray:
        ix = keys % self.nx
        iy = keys // self.nx
        xs = self.x0 + ix * self.size
        ys = self.y0 + iy * self.size
        return np.array([f"E{x:.0f}N{y:.0f}" for x, y in zip(xs, ys)], dtype=object)

    def boxes(self, keys: np.ndarray):
        import shapely

        ix = keys % self.nx
        iy = keys // self.nx
        x = self.x0 + ix * self.size
        y = self.y0 + iy * self.size
        return shapely.box(x, y, x + self.size, y + self.size)

    @property
    def transform(self):
        """Affine of the grid as a north-up raster (row 0 = northern edge)."""
        from affine import Affine

        return Affine(self.size, 0.0, self.x0, 0.0, -self.size, self.y0 + self.ny * self.size)

    def raster_rows_cols(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.ny - 1 - keys // self.nx, keys % self.nx


def project(lon, lat, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:4490 lon/lat → projected x/y (metres) in ``crs``."""
    from pyproj import Transformer

    tr = Transformer.from_crs(STORAGE_CRS, crs, always_xy=True)
    x, y = tr.transform(np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64"))
    return np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")


def make_grid(townships, grid_m: float = 1000.0, crs: str | None = None) -> GridSpec:
    """The grid covering the townships (a GeoDataFrame in EPSG:4490)."""
    if not (grid_m > 0 and math.isfinite(grid_m)):
        raise RiskError(f"网格大小必须为正数（米），收到 {grid_m}", f"grid size must be a positive number of metres, got {grid_m}")
    if len(townships) == 0:
        raise RiskError("县级数据库中没有乡镇边界（townships 图层为空），无法建立评估网格",
                        "the county database has no township boundaries (empty townships layer); cannot build the grid")
    minx, miny, maxx, maxy = townships.total_bounds
    crs = crs or gk_crs_for((minx + maxx) / 2)
    pminx, pminy, pmaxx, pmaxy = townships.to_crs(crs).total_bounds
    x0 = math.floor(pminx / grid_m) * grid_m
    y0 = math.floor(pminy / grid_m) * grid_m
    nx = int(math.ceil((pmaxx - x0) / grid_m))
    ny = int(math.ceil((pmaxy - y0) / grid_m))
    return GridSpec(crs, float(grid_m), float(x0), float(y0), max(nx, 1), max(ny, 1))


def extend_for_points(spec: GridSpec, x: np.ndarray, y: np.ndarray) -> GridSpec:
    """The same grid (same origin alignment) grown to cover every finite point."""
    fin = np.isfinite(x) & np.isfinite(y)
    if not fin.any():
        return spec
    g = spec.size
    x0 = min(spec.x0, math.floor(float(x[fin].min()) / g) * g)
    y0 = min(spec.y0, math.floor(float(y[fin].min()) / g) * g)
    x1 = max(spec.x0 + spec.nx * g, math.floor(float(x[fin].max()) / g) * g + g)
    y1 = max(spec.y0 + spec.ny * g, math.floor(float(y[fin].max()) / g) * g + g)
    return GridSpec(spec.crs, g, x0, y0, int(round((x1 - x0) / g)), int(round((y1 - y0) / g)))


def county_cells(spec: GridSpec, townships) -> np.ndarray:
    """Keys of the cells that intersect any township polygon."""
    import shapely

    union = shapely.union_all(townships.to_crs(spec.crs).geometry.values)
    keys = np.arange(spec.nx * spec.ny, dtype=np.int64)
    boxes = spec.boxes(keys)
    shapely.prepare(union)
    return keys[shapely.intersects(union, boxes)]


def cell_frame(spec: GridSpec, keys: np.ndarray, townships, code_col: str = "code") -> Any:
    """GeoDataFrame of the cells ``keys`` (GK CRS): key, cell_id, township_code (majority by area), area_km2."""
    import geopandas as gpd
    import shapely

    keys = np.unique(np.asarray(keys, dtype=np.int64))
    boxes = spec.boxes(keys)
    tw = townships.to_crs(spec.crs)
    codes = tw[code_col].astype(str).to_numpy()
    tree = shapely.STRtree(tw.geometry.values)
    ci, ti = tree.query(boxes, predicate="intersects")
    majority = np.full(len(keys), None, dtype=object)
    if ci.size:
        inter = shapely.area(shapely.intersection(boxes[ci], tw.geometry.values[ti]))
        order = np.lexsort((codes[ti], -inter, ci))      # per cell: largest share first, ties → lowest code
        ci, ti = ci[order], ti[order]
        first = np.r_[True, ci[1:] != ci[:-1]]
        majority[ci[first]] = codes[ti[first]]
    return gpd.GeoDataFrame({"key": keys, "cell_id": spec.cell_ids(keys), "township_code": majority,
                             "area_km2": np.full(len(keys), spec.size * spec.size / 1e6)},
                            geometry=boxes, crs=spec.crs)
