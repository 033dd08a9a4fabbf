"""Hazard layers for all six census hazard families, tied to the generated terrain.

Every layer is computed on the terrain grid (EPSG:4490), carried over the sea by nearest land value so
coastal pixels that are partly land still have one, and set to the layer's nodata beyond one cell outside
the county. Units, nodata and classes come from :mod:`hazards.registry`.

Models (illustrative, physically shaped, *not* official hazard maps):

* **eq_pga_scenario** — a scenario earthquake of magnitude M on a NE-striking fault through the county
  (the dominant strike of faults in western Liaoning). Attenuation has the form used for eastern China
  (汪素云/俞言祥 2006 style): ``lg PGA[cm/s²] = a + b·M − c·lg(R + d·e^(e·M))`` with R the distance (km)
  to the surface trace of the rupture and a=1.5, b=0.57, c=1.98, d=1.0, e=0.49 (chosen for the sample:
  M 6.5 gives ≈0.3 g on the fault, ≈0.09 g at 20 km, ≈0.03 g at 50 km); times a site factor 0.85–1.25
  (rock on steep high ground … soft sediment on valley floors and the coastal plain).
* **eq_pga_475** — a smooth regional field (≈0.10 g, rising to ≈0.15 g along the fault zone, with a
  long-wavelength term), stored as GB 18306-2015 zone values (0.05/0.10/0.15/0.20/0.30/0.40 g) so the
  map reads like the national zoning map; 兴城 lies in the 0.10 g zone.
* **geo_susceptibility** — score = 0.5·slope + 0.3·local relief + 0.1·river undercutting in the hills
  + 0.1·"lithology" noise (each scaled 0–1), smoothed over ~5 cells, cut at 0.2/0.3/0.43/0.56 into
  classes 5 … 1.
* **rainstorm** — 50-year maximum daily rainfall: 150 mm + up to 40 mm near the coast + orographic
  gain on slopes facing the moist south-easterlies (up to ≈0.07 mm per metre of height) + smooth noise.
* **wind_gust** — 50-year gust: 24 m/s inland + up to 10 m/s at the shore (decay 8 km) + exposure on
  ridges and height, minus shelter in valleys.
* **drought** — 0–1 index rising inland and uphill, lowered near rivers.
* **flood_depth_rpN** — height above nearest drainage (HAND): depth = max(0, stage − HAND), stage =
  (0.35 + 0.75·lg A) m × (1, 1.22, 1.5, 1.72) for N = 10/20/50/100 with A the upstream area (km²) of
  the nearest river, within 4 km of a river; plus ponding on flat coastal land below 3 m. Depth never
  falls as N rises.
* **storm_surge_depth** — surge level 3.0 m at the shore decaying inland as e^(−d/3 km), depth = level −
  ground height where positive; zero on an inland county and everywhere beyond a few km of the coast.
* **fire_danger** — forest cover (higher, steeper ground) × dryness (south/south-west facing slopes) ×
  distance from settlements, 0–1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from scipy import ndimage
from scipy.spatial import cKDTree

from .grid import Grid, metres_per_degree, rasterize, smoothstep
from .terrain import Terrain, spectral_noise

ATTENUATION = dict(a=1.5, b=0.57, c=1.98, d=1.0, e=0.49)
SURGE_LEVEL_M = 3.0
SURGE_DECAY_KM = 3.0
FLOOD_STAGE_FACTOR = {10: 1.0, 20: 1.22, 50: 1.5, 100: 1.72}
GEO_EDGES = ((4, 0.2), (3, 0.3), (2, 0.43), (1, 0.56))  # susceptibility score → class


def pga_attenuation(magnitude: float, r_km: np.ndarray) -> np.ndarray:
    """PGA (g) at distance ``r_km`` from the rupture trace, before the site factor."""
    k = ATTENUATION
    lg = k["a"] + k["b"] * magnitude - k["c"] * np.log10(np.asarray(r_km) + k["d"] * np.exp(k["e"] * magnitude))
    return 10.0 ** lg / 980.665


@dataclass
class Fault:
    """The scenario fault: its whole trace, the rupture segment and the magnitude."""

    trace: shapely.LineString
    rupture: shapely.LineString
    magnitude: float
    strike_deg: float
    name: str = "样例断裂"


@dataclass
class HazardSet:
    layers: dict[str, np.ndarray]
    fault: Fault
    meta: dict = field(default_factory=dict)


def _segment_distance_km(grid: Grid, line: shapely.LineString) -> np.ndarray:
    """Distance (km) from every cell centre to a straight segment."""
    mx, my = metres_per_degree(grid.centre_lat)
    (x0, y0), (x1, y1) = np.asarray(line.coords)[[0, -1]]
    lon, lat = grid.lons()[None, :], grid.lats()[:, None]
    px, py = (lon - x0) * mx, (lat - y0) * my
    vx, vy = (x1 - x0) * mx, (y1 - y0) * my
    t = np.clip((px * vx + py * vy) / (vx * vx + vy * vy), 0.0, 1.0)
    return np.hypot(px - t * vx, py - t * vy) / 1000.0


def place_fault(county_geom, t: Terrain, rng: np.random.Generator) -> Fault:
    grid = t.grid
    mx, my = metres_per_degree(grid.centre_lat)
    inside = rasterize([county_geom], grid).astype(bool) & ~t.sea
    cells = np.flatnonzero(inside)
    cell = int(cells[int(rng.integers(cells.size))]) if cells.size else grid.width * grid.height // 2
    r, c = np.divmod(cell, grid.width)
    lon0, lat0 = grid.cell_centre(r, c)
    strike = float(np.clip(rng.normal(45.0, 12.0), 15.0, 75.0))
    ux, uy = np.sin(np.radians(strike)) / mx, np.cos(np.radians(strike)) / my  # degrees per metre along strike
    magnitude = float(np.round(rng.uniform(6.0, 6.8), 1))
    rup_len = 10 ** (-3.22 + 0.69 * magnitude) * 1000.0 * 1.3  # Wells & Coppersmith (1994) SRL, m
    shift = rng.uniform(-0.3, 0.3) * rup_len
    a = (lon0 + ux * (shift - rup_len / 2), lat0 + uy * (shift - rup_len / 2))
    b = (lon0 + ux * (shift + rup_len / 2), lat0 + uy * (shift + rup_len / 2))
    half = 45_000.0
    trace = shapely.LineString([(lon0 - ux * half, lat0 - uy * half), (lon0 + ux * half, lat0 + uy * half)])
    return Fault(trace=trace, rupture=shapely.LineString([a, b]), magnitude=magnitude, strike_deg=strike)


def _fill_sea(a: np.ndarray, sea: np.ndarray) -> np.ndarray:
    """Sea cells take the value of the nearest land cell."""
    if not sea.any() or sea.all():
        return a
    _, (iy, ix) = ndimage.distance_transform_edt(sea, return_indices=True)
    return a[iy, ix]


def build_hazards(county, t: Terrain, settlements_lonlat: np.ndarray, rng: np.random.Generator) -> HazardSet:
    """All hazard arrays on the terrain grid (nodata already applied)."""
    from hazards.registry import FLOOD_RETURN_PERIODS, get_layer, gb18306_zone

    grid = t.grid
    cell = grid.cell_m
    land = ~t.sea
    dem = np.maximum(t.dem.astype("float64"), 0.0)
    noise = lambda lmin, beta=3.0: spectral_noise(grid.shape, cell, rng, beta=beta, lmin_m=lmin)  # noqa: E731
    sediment = np.exp(-t.slope / 0.05) * np.exp(-t.hand / 15.0)  # valley floors, coastal plain
    layers: dict[str, np.ndarray] = {}

    # earthquake
    fault = place_fault(county.geometry, t, rng)
    r_rup = _segment_distance_km(grid, fault.rupture)
    site = 0.85 + 0.4 * ndimage.uniform_filter(sediment, 5)
    layers["eq_pga_scenario"] = pga_attenuation(fault.magnitude, r_rup) * site
    r_trace = _segment_distance_km(grid, fault.trace)
    field475 = 0.097 + 0.055 * np.exp(-r_trace / 30.0) + 0.006 * noise(30_000)
    layers["eq_pga_475"] = gb18306_zone(field475)

    # geological susceptibility
    s = np.clip((t.slope - 0.03) / 0.5, 0, 1)
    rel = np.clip(t.relief / 400.0, 0, 1)
    undercut = np.exp(-t.river_dist_m / 300.0) * smoothstep(t.slope / 0.15)
    litho = 0.5 + 0.5 * np.tanh(noise(5_000))
    score = 0.5 * s + 0.3 * rel + 0.1 * undercut + 0.1 * litho
    score = ndimage.uniform_filter(score, 5)  # susceptibility is mapped as zones, not pixels
    geo = np.full(grid.shape, 5, dtype=np.uint8)
    for level, edge in GEO_EDGES:
        geo[score >= edge] = level
    layers["geo_susceptibility"] = geo

    # meteorological
    windward = np.maximum(0.0, np.cos(t.aspect - np.radians(135.0))) * smoothstep(t.slope / 0.1)
    smooth_dem = ndimage.uniform_filter(dem, 15)
    rain = (150.0 + 40.0 * np.exp(-t.coast_km / 30.0) + 0.045 * smooth_dem + 0.07 * dem * windward
            + 8.0 * noise(20_000))
    layers["rainstorm"] = rain
    tpi = ndimage.uniform_filter(t.tpi, 5)
    wind = (24.0 + 10.0 * np.exp(-t.coast_km / 8.0) + 6.0 * np.clip(tpi / 80.0, 0, 1) + 0.004 * dem
            - 3.0 * np.clip(-tpi / 50.0, 0, 1) + 0.8 * noise(15_000))
    layers["wind_gust"] = wind
    drought = (0.22 + 0.35 * (1.0 - np.exp(-t.coast_km / 35.0)) + 0.2 * np.clip(dem / 600.0, 0, 1)
               - 0.2 * np.exp(-t.river_dist_m / 800.0) + 0.06 * noise(12_000))
    layers["drought"] = np.clip(drought, 0.0, 1.0)

    # flood (HAND against a stage rising with return period) and coastal ponding
    la = np.log10(np.maximum(t.river_near_acc, 1.0))
    base_stage = 0.2 + 0.45 * la  # rise above normal water level for the 10-year flood
    bankfull = np.where(t.river, 0.5 + 0.5 * la, 0.0)  # the channel itself is deeper
    reach = t.river_dist_m <= 300.0 + 700.0 * la
    pond = np.where(land & (dem < 3.0) & (t.slope < 0.01) & (t.coast_km < 6.0), (3.0 - dem) / 3.0, 0.0)
    for rp in FLOOD_RETURN_PERIODS:
        f = FLOOD_STAGE_FACTOR[rp]
        depth = np.where(reach, np.maximum(base_stage * f - t.hand, 0.0) + bankfull, 0.0)
        depth = np.maximum(depth, 0.45 * f * pond)
        layers[f"flood_depth_rp{rp}"] = np.where(land, depth, 0.0)

    # storm surge
    if t.real_coast and county.coastal:
        level = SURGE_LEVEL_M * np.exp(-t.coast_km / SURGE_DECAY_KM)
        surge = np.where(land, np.maximum(level - dem, 0.0), 0.0)
        surge[surge < 0.01] = 0.0
    else:
        surge = np.zeros(grid.shape)
    layers["storm_surge_depth"] = surge

    # fire
    forest = smoothstep((dem - 60.0) / 300.0) * (0.4 + 0.6 * smoothstep(t.slope / 0.2))
    dry = np.maximum(0.0, np.cos(t.aspect - np.radians(200.0)))
    if len(settlements_lonlat):
        mx, my = metres_per_degree(grid.centre_lat)
        tree = cKDTree(np.asarray(settlements_lonlat) * [mx, my])
        lon, lat = np.meshgrid(grid.lons(), grid.lats())
        dset, _ = tree.query(np.stack([lon.ravel() * mx, lat.ravel() * my], -1), k=1)
        away = smoothstep(dset.reshape(grid.shape) / 2500.0)
    else:
        away = np.ones(grid.shape)
    fire = 0.08 + 0.55 * forest + 0.15 * dry * (0.3 + 0.7 * forest) + 0.17 * away * forest + 0.05 * noise(8_000)
    layers["fire_danger"] = np.clip(fire, 0.0, 1.0)

    # over the sea: nearest land value; beyond one cell outside the county: nodata
    keep = rasterize([county.geometry.buffer(grid.res * 1.5)], grid, all_touched=True).astype(bool)
    out: dict[str, np.ndarray] = {}
    for lid, arr in layers.items():
        spec = get_layer(lid)
        a = _fill_sea(np.asarray(arr), t.sea)
        if lid.startswith("flood_depth") or lid == "storm_surge_depth":
            a = np.where(t.sea, 0.0, a)  # the sea itself is not "inundated land"
        a = np.where(keep, a, spec.nodata).astype(spec.dtype)
        out[lid] = a
    meta = dict(fault_magnitude=fault.magnitude, fault_strike_deg=round(fault.strike_deg, 1),
                rupture=[list(map(float, c)) for c in fault.rupture.coords],
                attenuation=ATTENUATION, surge_level_m=SURGE_LEVEL_M, surge_decay_km=SURGE_DECAY_KM,
                flood_stage_factor={str(k): v for k, v in FLOOD_STAGE_FACTOR.items()})
    return HazardSet(out, fault, meta)


def write_hazards(hs: HazardSet, grid: Grid, out_dir: Path) -> dict[str, Path]:
    """GeoTIFF per layer (stem = layer id) and ``flood_depth.nc`` with a ``return_period`` dimension."""
    from hazards.io import make_dataarray, write_geotiff, write_netcdf_stack
    from hazards.registry import FLOOD_RETURN_PERIODS, get_layer

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    flood = {}
    for lid, arr in hs.layers.items():
        spec = get_layer(lid)
        attrs = {"layer_id": lid, "unit": spec.unit, "long_name": spec.name_en, "name_zh": spec.name_zh}
        if spec.return_period is not None:
            attrs["return_period"] = spec.return_period
        da = make_dataarray(arr, grid.transform, crs="EPSG:4490", nodata=spec.nodata, name=lid, attrs=attrs)
        paths[lid] = write_geotiff(da, out_dir / f"{lid}.tif", nodata=spec.nodata)
        if lid.startswith("flood_depth_rp"):
            flood[spec.return_period] = da
    if flood:
        stack = {rp: flood[rp] for rp in FLOOD_RETURN_PERIODS if rp in flood}
        paths["flood_depth"] = write_netcdf_stack(stack, out_dir / "flood_depth.nc", dim="return_period",
                                                  name="flood_depth")
    return paths
