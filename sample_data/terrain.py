"""A plausible DEM for the county: hills inland, a coastal plain, valleys carved by the rivers.

Recipe (all heights in metres, distances in km from the coast ``d``):

* regional form: a coastal plain a few km wide (width varies along the shore), rising inland into hills
  and low mountains whose relief grows with ``1 - exp(-d / 22 km)`` — the pattern of western Liaoning,
  where the 松岭/医巫闾 ranges reach several hundred metres to about 1 000 m;
* texture: multi-octave spectral (power-law, fBm) noise plus ridged noise for crests, generated with one
  FFT each, amplitude scaled by the regional form;
* sea: a gently shelving floor (Bohai depths of a few to 20-odd metres near the shore);
* valleys: rivers found on this surface (see :mod:`hydrology`) cut beds that fall monotonically to the sea
  (breaching the sills of closed hollows rather than filling them);
  the DEM is lowered to a valley surface — a flat floodplain whose width grows with catchment area,
  then valley sides — wherever that is lower than the hills.

A county with no sea (inland, no ``--sea``) gets a virtual coast 20–60 km away in a seeded direction, so
it still has a regional slope for its rivers to follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

from .grid import Grid, metres_per_degree, rasterize, smoothstep
from .hydrology import FlowTree, flow_tree, nearest_index


def spectral_noise(shape: tuple[int, int], cell_m: tuple[float, float], rng: np.random.Generator, *,
                   beta: float = 2.0, lmin_m: float = 0.0, lmax_m: float = 1e9) -> np.ndarray:
    """Gaussian noise with power spectrum ∝ k^-beta between wavelengths ``lmin_m`` and ``lmax_m``
    (metres), zero mean and unit standard deviation; generated on a padded grid so edges do not wrap."""
    h, w = shape
    ph, pw = h + h // 4 + 8, w + w // 4 + 8
    white = rng.standard_normal((ph, pw))
    f = np.fft.rfft2(white)
    dx, dy = cell_m
    ky = np.fft.fftfreq(ph, d=dy)[:, None]
    kx = np.fft.rfftfreq(pw, d=dx)[None, :]
    k = np.hypot(kx, ky)
    k[0, 0] = np.inf
    amp = k ** (-beta / 2)
    amp[(k < 1.0 / lmax_m) | (k > (1.0 / lmin_m if lmin_m > 0 else np.inf))] = 0.0
    field = np.fft.irfft2(f * amp, s=(ph, pw))[:h, :w]
    field -= field.mean()
    sd = field.std()
    return field / sd if sd > 0 else field


def sea_mask(grid: Grid, sea: BaseGeometry | None) -> np.ndarray:
    """Cells whose centre lies in the sea."""
    if sea is None or sea.is_empty:
        return np.zeros(grid.shape, bool)
    box = shapely.box(*grid.bounds).buffer(grid.res)
    return rasterize([shapely.intersection(sea, box)], grid).astype(bool)


def coast_distance_km(grid: Grid, sea: BaseGeometry | None, sea_cells: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Distance (km) from each cell to the sea, and whether it is a real sea (False: a virtual coast)."""
    h, w = grid.shape
    dx, dy = grid.cell_m
    if sea is not None and not sea.is_empty:
        far = np.full(grid.shape, np.inf)
        if sea_cells.any():
            far = ndimage.distance_transform_edt(~sea_cells, sampling=(dy, dx)) / 1000.0
        # sea outside the grid: exact distances on a coarse lattice, interpolated
        step = max(1, int(round(2000.0 / min(dx, dy))))
        rows = np.unique(np.r_[np.arange(0, h, step), h - 1])
        cols = np.unique(np.r_[np.arange(0, w, step), w - 1])
        lon, lat = grid.cell_centre(*np.meshgrid(rows, cols, indexing="ij"))
        mx, my = metres_per_degree(grid.centre_lat)
        scaled = shapely.transform(sea, lambda c: c * np.array([mx, my]))
        pts = shapely.points(lon.ravel() * mx, lat.ravel() * my)
        d = (shapely.distance(pts, scaled) / 1000.0).reshape(rows.size, cols.size)
        from scipy.interpolate import RegularGridInterpolator

        interp = RegularGridInterpolator((rows, cols), d)
        rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        coarse = interp(np.stack([rr.ravel(), cc.ravel()], -1)).reshape(h, w)
        dist = np.minimum(far, coarse)
        dist[sea_cells] = 0.0
        return dist, True
    # inland county without a sea: a virtual straight coast in a seeded direction
    theta = rng.uniform(0, 2 * np.pi)
    x, y = grid.xy_m()
    proj = (x - x.mean()) * np.cos(theta) + (y - y.mean()) * np.sin(theta)
    d0 = rng.uniform(20, 60)  # the grid's seaward edge lies this far from the virtual coast
    dist = d0 + (proj - proj.min()) / 1000.0
    return np.broadcast_to(dist, grid.shape).copy(), False


@dataclass
class Terrain:
    """The generated land surface and what the later steps need from it."""

    grid: Grid
    dem: np.ndarray  # metres; sea floor negative
    sea: np.ndarray  # bool, cell centre in the sea
    coast_km: np.ndarray  # distance to the (real or virtual) coast
    real_coast: bool
    tree: FlowTree
    acc_km2: np.ndarray  # upstream area
    river: np.ndarray  # bool, river cells (upstream area ≥ river threshold)
    bed: np.ndarray  # normal water level at river cells (nan elsewhere)
    hand: np.ndarray  # height above the nearest river's water level (HAND), metres
    river_dist_m: np.ndarray  # distance to nearest river cell
    river_near_acc: np.ndarray  # upstream area of that nearest river cell (km²)
    slope: np.ndarray  # rise/run
    aspect: np.ndarray  # radians, direction the slope faces (0 = north, clockwise)
    relief: np.ndarray  # max-min within ~1 km
    tpi: np.ndarray  # topographic position: height above the ~2 km neighbourhood mean


RIVER_KM2 = 8.0  # upstream area at which a drainage line is mapped as a river
CARVE_KM2 = 1.5  # smaller gullies still cut a little


def raw_dem(grid: Grid, coast_km: np.ndarray, sea_cells: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The uncarved surface (coastal plain, hills and ridges, sea floor) and the 0–1 "hills" weight."""
    cell = grid.cell_m
    shape = grid.shape
    d = coast_km
    macro = spectral_noise(shape, cell, rng, beta=3.0, lmin_m=12_000)  # where the mountains are higher
    plain_w = 3.0 + 2.5 * np.tanh(spectral_noise(shape, cell, rng, beta=3.0, lmin_m=8_000))  # 0.5–5.5 km
    fbm = spectral_noise(shape, cell, rng, beta=2.7, lmin_m=2 * min(cell), lmax_m=40_000)
    fine = spectral_noise(shape, cell, rng, beta=2.0, lmin_m=2 * min(cell), lmax_m=3_000)
    inland = 1.0 - np.exp(-d / 22.0)
    hills = smoothstep((d - plain_w) / 9.0)
    mountains = hills * (0.45 + 0.55 * inland) * np.clip(1.0 + 0.4 * macro, 0.35, 1.6)
    plain = 0.6 + 2.2 * d + 1.5 * np.clip(fbm, -2, 2) * smoothstep(d / 2.0)
    peaks = np.clip(0.5 + 0.28 * fbm, 0.0, None) ** 1.6  # broad lows, sharper highs
    tilt = 3.2 * np.minimum(d, 60.0)  # regional rise away from the coast keeps rivers running seawards
    upland = 15.0 + tilt + 540.0 * mountains * peaks + 18.0 * mountains * fine
    z = plain * (1 - hills) + np.maximum(upland, plain) * hills
    # islands (every land patch but the largest) rise from the shore into a hill or two
    land = ~sea_cells
    lab, n = ndimage.label(land)
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        islands = land & (lab != int(np.argmax(sizes)))
        top = rng.uniform(40.0, 120.0)
        z = np.where(islands, z + top * smoothstep(d / 0.8) * (0.7 + 0.3 * np.tanh(fbm)), z)
    z = np.maximum(z, 0.4)
    # sea floor: a few metres near the shore, shelving to 20-odd metres offshore
    if sea_cells.any():
        dsea = ndimage.distance_transform_edt(sea_cells, sampling=(cell[1], cell[0])) / 1000.0
        z = np.where(sea_cells, -(0.8 + 1.1 * dsea + 0.8 * np.clip(fbm, -2, 2)).clip(0.3, 30), z)
    return z, hills


def carve_valleys(z: np.ndarray, tree: FlowTree, acc_km2: np.ndarray, land: np.ndarray,
                  cell_m: tuple[float, float], upland: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower the DEM to a valley surface around every drainage line; returns (dem, bed).

    ``upland`` (0 on the coastal plain … 1 in the hills) scales how deep rivers cut: a few metres on the
    plain, tens of metres in the hills.
    """
    drain = land & (acc_km2 >= CARVE_KM2)
    la = np.log10(np.maximum(acc_km2, CARVE_KM2))
    dla = la - np.log10(CARVE_KM2)
    incision = (1.5 + 7.0 * dla) * (0.25 + 0.75 * upland)  # ~2 m gullies on the plain … ~25 m big rivers
    bed = np.where(drain, np.maximum(z - incision, 0.2), np.nan)
    # beds never rise downstream: carry the lowest bed seen so far down each flow path, which cuts
    # (breaches) through the sills of closed hollows instead of filling them into lakes
    flat_bed = bed.ravel().tolist()
    rec = tree.receiver.tolist()
    dflat = drain.ravel()
    up_first = tree.order[::-1]
    for c in up_first[dflat[up_first]].tolist():
        r = rec[c]
        if r >= 0 and flat_bed[r] == flat_bed[r] and flat_bed[c] < flat_bed[r]:  # x == x: not NaN
            flat_bed[r] = flat_bed[c]
    bed = np.asarray(flat_bed).reshape(z.shape)
    dist, near = nearest_index(drain, cell_m)
    bed_n = bed.ravel()[near].reshape(z.shape)
    la_n = dla.ravel()[near].reshape(z.shape)
    floor_w = 30.0 + 120.0 * la_n ** 1.5  # floodplain half-width, m (≤ ~600)
    side = 0.42 / (1.0 + 0.6 * la_n)  # steep gullies, broad main valleys
    valley = bed_n + 0.002 * np.minimum(dist, floor_w) + side * np.maximum(dist - floor_w, 0.0)
    out = np.where(land, np.minimum(z, valley), z)
    out = np.where(land, np.maximum(out, 0.3), out)
    return out, bed


def slope_aspect(z: np.ndarray, cell_m: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = cell_m
    gy, gx = np.gradient(z, dy, dx)  # gy: change per metre southwards (rows grow south)
    slope = np.hypot(gx, gy)
    # the slope faces down-gradient; north = -row direction
    aspect = np.mod(np.arctan2(-gx, gy), 2 * np.pi)
    return slope, aspect


def seaward_edges(coast_km: np.ndarray, share: float = 0.25) -> np.ndarray:
    """Edge cells through which rivers may leave the grid: the seaward quarter of the grid's rim, so
    rivers run to the coast instead of wandering off inland edges."""
    rim = np.zeros(coast_km.shape, bool)
    rim[0, :] = rim[-1, :] = rim[:, 0] = rim[:, -1] = True
    cut = np.quantile(coast_km[rim], share)
    return rim & (coast_km <= cut)


def build_terrain(grid: Grid, sea: BaseGeometry | None, rng: np.random.Generator) -> Terrain:
    sea_cells = sea_mask(grid, sea)
    coast, real = coast_distance_km(grid, sea, sea_cells, rng)
    z0, hills = raw_dem(grid, coast, sea_cells, rng)
    land = ~sea_cells
    cell_km2 = grid.cell_area_km2
    edge_out = seaward_edges(coast)
    tree0 = flow_tree(z0, sea_cells, edge_out)
    acc0 = tree0.accumulate(cell_km2)
    dem, _ = carve_valleys(z0, tree0, acc0, land, grid.cell_m, hills)
    # final drainage on the carved surface
    tree = flow_tree(dem, sea_cells, edge_out)
    acc = tree.accumulate(cell_km2)
    river = land & (acc >= RIVER_KM2)
    bed = np.where(river, tree.filled, np.nan)  # water surface at normal flow
    if river.any():
        rdist, near = nearest_index(river, grid.cell_m)
        bed_near = bed.ravel()[near].reshape(dem.shape)
        near_acc = acc.ravel()[near].reshape(dem.shape)
    else:  # a tiny county without any river: everything is "far" from drainage
        rdist = np.full(dem.shape, 1e9)
        bed_near = np.full(dem.shape, float(dem.min()))
        near_acc = np.zeros(dem.shape)
    hand = np.where(land, np.maximum(dem - bed_near, 0.0), 0.0)
    slope, aspect = slope_aspect(dem, grid.cell_m)
    k_relief = max(3, int(round(1000.0 / min(grid.cell_m))) | 1)
    relief = ndimage.maximum_filter(dem, k_relief) - ndimage.minimum_filter(dem, k_relief)
    tpi = dem - ndimage.uniform_filter(dem, max(3, 2 * k_relief + 1))
    return Terrain(grid, dem.astype("float32"), sea_cells, coast, real, tree, acc, river, bed, hand,
                   rdist, near_acc, slope, aspect, relief, tpi)
