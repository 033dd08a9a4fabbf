"""The raster grid every generated layer shares, and the deterministic random streams.

One :class:`Grid` (EPSG:4490, north-up, square cells in degrees) covers the county's bounding box plus a
margin. Metric work on the grid (slopes, distances) uses the local metres-per-degree of the CGCS2000
ellipsoid at the grid's central latitude, which is accurate to well under 1 % across one county.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from affine import Affine

CRS = "EPSG:4490"

# CGCS2000 ellipsoid (same a and f as GRS 80 to the precision that matters here)
_A = 6378137.0
_F = 1 / 298.257222101
_E2 = _F * (2 - _F)


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(metres per degree of longitude, metres per degree of latitude) at latitude ``lat``."""
    phi = math.radians(lat)
    s2 = math.sin(phi) ** 2
    n = _A / math.sqrt(1 - _E2 * s2)  # prime-vertical radius
    m = _A * (1 - _E2) / (1 - _E2 * s2) ** 1.5  # meridional radius
    return math.radians(1) * n * math.cos(phi), math.radians(1) * m


def rng_for(seed: int, county_code: str, step: str) -> np.random.Generator:
    """An independent, reproducible random stream for one build step.

    Keyed by seed, county and step name (CRC32, not Python's salted ``hash``), so changing, say, the
    number of buildings never changes the terrain, and two counties with one seed still differ.
    """
    county_key = int(county_code) if county_code.isdigit() else zlib.crc32(county_code.encode("utf-8"))
    return np.random.default_rng([int(seed), county_key, zlib.crc32(step.encode("utf-8"))])


@dataclass(frozen=True)
class Grid:
    """A north-up grid: ``west``/``north`` of the top-left corner, ``res`` degrees, ``height`` × ``width``."""

    west: float
    north: float
    res: float
    width: int
    height: int

    @classmethod
    def around(cls, bounds: tuple[float, float, float, float], res: float, margin: float) -> "Grid":
        """The grid covering ``bounds`` (minx, miny, maxx, maxy) plus ``margin`` degrees, snapped to ``res``."""
        minx, miny, maxx, maxy = bounds
        west = math.floor((minx - margin) / res) * res
        south = math.floor((miny - margin) / res) * res
        east = math.ceil((maxx + margin) / res) * res
        north = math.ceil((maxy + margin) / res) * res
        width = int(round((east - west) / res))
        height = int(round((north - south) / res))
        return cls(round(west, 9), round(north, 9), res, width, height)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def transform(self) -> Affine:
        return Affine(self.res, 0.0, self.west, 0.0, -self.res, self.north)

    @property
    def south(self) -> float:
        return self.north - self.height * self.res

    @property
    def east(self) -> float:
        return self.west + self.width * self.res

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self.west, self.south, self.east, self.north

    @property
    def centre_lat(self) -> float:
        return (self.north + self.south) / 2

    @property
    def cell_m(self) -> tuple[float, float]:
        """Cell size in metres (dx, dy) at the central latitude."""
        mx, my = metres_per_degree(self.centre_lat)
        return self.res * mx, self.res * my

    @property
    def cell_area_km2(self) -> float:
        dx, dy = self.cell_m
        return dx * dy / 1e6

    def lons(self) -> np.ndarray:
        return self.west + (np.arange(self.width) + 0.5) * self.res

    def lats(self) -> np.ndarray:
        return self.north - (np.arange(self.height) + 0.5) * self.res

    def xy_m(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates in metres from the top-left corner: (x[1, W], y[H, 1]), y growing south."""
        dx, dy = self.cell_m
        return ((np.arange(self.width) + 0.5) * dx)[None, :], ((np.arange(self.height) + 0.5) * dy)[:, None]

    def rowcol(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col, inside) of points; row/col are clipped into the grid, ``inside`` says which were in it."""
        col = np.floor((np.asarray(lon) - self.west) / self.res).astype(np.int64)
        row = np.floor((self.north - np.asarray(lat)) / self.res).astype(np.int64)
        inside = (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        return np.clip(row, 0, self.height - 1), np.clip(col, 0, self.width - 1), inside

    def cell_centre(self, row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.west + (np.asarray(col) + 0.5) * self.res, self.north - (np.asarray(row) + 0.5) * self.res

    def coarsen(self, factor: int) -> "Grid":
        """A grid with ``factor``-times larger cells over (at least) the same area."""
        return Grid(self.west, self.north, self.res * factor, math.ceil(self.width / factor),
                    math.ceil(self.height / factor))


def rasterize(geoms, grid: Grid, *, values=None, fill: int = 0, all_touched: bool = False,
              dtype: str = "uint8") -> np.ndarray:
    """Burn shapely geometries into the grid (value 1, or one value per geometry)."""
    from rasterio import features

    geoms = [g for g in geoms if g is not None and not g.is_empty]
    if not geoms:
        return np.full(grid.shape, fill, dtype=dtype)
    vals = [1] * len(geoms) if values is None else list(values)
    return features.rasterize(list(zip(geoms, vals)), out_shape=grid.shape, transform=grid.transform,
                              fill=fill, all_touched=all_touched, dtype=dtype)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)
