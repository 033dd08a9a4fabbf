"""``build_sample``: a whole generated county — divisions, terrain, work map, facilities, hazard layers.

The boundaries are real (葫芦岛市 and its six county-level units) or the user's; everything inside them
is generated, deterministically for a given seed (each step draws from its own random stream, see
:func:`grid.rng_for`). Output layout (all EPSG:4490)::

    OUT/sample.gpkg        county, city, townships, villages, rivers, roads, sea, buildings, facilities, faults
    OUT/terrain/dem.tif
    OUT/hazards/<layer_id>.tif, OUT/hazards/flood_depth.nc
    OUT/quicklook/<name>.png   (with quicklook=True)
    OUT/manifest.json      county, seed, counts, files with sha256, crs, generator version
"""

from __future__ import annotations

import importlib.metadata
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import shapely

from .boundaries import DEFAULT_COUNTY, County, load_county, read_boundary_file, with_sea
from .errors import SampleBuildError
from .grid import CRS, Grid, rng_for

FORMAT_VERSION = 1
DEFAULT_RESOLUTION = 0.001  # degrees ≈ 85 m × 111 m at 40° N
STEPS = ("boundaries", "terrain", "divisions", "rivers_roads", "buildings", "facilities", "hazards", "writing",
         "quicklook", "manifest")

ProgressFn = Callable[[str, int, int], None]


def generator_version() -> str:
    try:
        pkg = importlib.metadata.version("census-toolkit")
    except importlib.metadata.PackageNotFoundError:
        pkg = "0+unknown"
    return f"{pkg}/sample-format-{FORMAT_VERSION}"


@dataclass
class SampleResult:
    """What a build made: paths and counts."""

    out_dir: Path
    county_code: str
    county_name: str
    seed: int
    coastal: bool
    gpkg: Path
    dem: Path
    hazards: dict[str, Path]
    flood_netcdf: Path | None
    manifest: Path
    quicklooks: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary_zh(self) -> str:
        c = self.counts
        return (f"{self.county_name}（{self.county_code}）：{c.get('townships', 0)} 个乡镇（街道）、"
                f"{c.get('villages', 0)} 个村（社区）、{c.get('buildings', 0)} 栋房屋、"
                f"{c.get('facilities', 0)} 处公共服务设施、{len(self.hazards)} 个致灾因子图层")

    def summary_en(self) -> str:
        c = self.counts
        return (f"{self.county_code}: {c.get('townships', 0)} townships, {c.get('villages', 0)} villages, "
                f"{c.get('buildings', 0)} buildings, {c.get('facilities', 0)} facilities, "
                f"{len(self.hazards)} hazard layers")

    def as_dict(self) -> dict:
        return {"out_dir": str(self.out_dir), "county_code": self.county_code, "county_name": self.county_name,
                "seed": self.seed, "coastal": self.coastal, "gpkg": str(self.gpkg), "dem": str(self.dem),
                "hazards": {k: str(v) for k, v in self.hazards.items()},
                "flood_netcdf": str(self.flood_netcdf) if self.flood_netcdf else None,
                "quicklooks": {k: str(v) for k, v in self.quicklooks.items()},
                "manifest": str(self.manifest), "counts": self.counts, "seconds": round(self.seconds, 2)}


def resolve_county(county: str | None = DEFAULT_COUNTY, boundary: str | Path | None = None,
                   sea: str | Path | None = None) -> County:
    """The county to build: a ``boundary`` file wins over a shipped ``county`` code."""
    if boundary is not None:
        return read_boundary_file(boundary, sea=sea)
    return with_sea(load_county(county or DEFAULT_COUNTY), sea)


def _clean(out: Path) -> None:
    """Remove what an earlier build left (only our own files; anything else in OUT stays)."""
    for name in ("sample.gpkg", "sample.gpkg-journal", "sample.gpkg-wal", "sample.gpkg-shm", "manifest.json"):
        p = out / name
        if p.exists():
            p.unlink()
    for d in ("terrain", "hazards", "quicklook"):
        if (out / d).is_dir():
            shutil.rmtree(out / d)


def build_sample(out_dir: str | Path, *, county: str | None = DEFAULT_COUNTY, boundary: str | Path | None = None,
                 sea: str | Path | None = None, buildings: int = 30000, seed: int = 2020, quicklook: bool = False,
                 progress: ProgressFn | None = None, resolution: float = DEFAULT_RESOLUTION) -> SampleResult:
    """Build a sample county into ``out_dir`` (see the module docstring for the layout).

    ``county``: a shipped 6-digit code (default 211481 兴城市); ``boundary``: a GeoJSON/GeoPackage with one
    county polygon carrying ``adcode`` and ``name`` (wins over ``county``); ``sea``: polygons of the sea
    next to it (shipped counties already have one); ``buildings``: footprints on the work map;
    ``resolution``: raster cell size in degrees (tests use a coarser one).
    """
    from .buildings import build_buildings, keepout_points
    from .divisions import build_divisions
    from .facilities import build_facilities
    from .hazard_layers import build_hazards, write_hazards
    from .names import NameMaker
    from .output import fixed_timestamp, write_layer, write_manifest
    from .roads import build_rivers, build_roads
    from .terrain import build_terrain

    t0 = time.perf_counter()
    if int(buildings) < 1:
        raise SampleBuildError("房屋数量至少为 1", "the number of buildings must be at least 1")
    if int(seed) < 0:
        raise SampleBuildError("随机种子不能为负数", "the seed must not be negative")
    if not 0.0002 <= float(resolution) <= 0.02:
        raise SampleBuildError("栅格分辨率应在 0.0002° 到 0.02° 之间", "resolution must be 0.0002°–0.02°")
    total = len(STEPS)
    step_no = 0

    def tick(name: str) -> None:
        nonlocal step_no
        step_no += 1
        if progress:
            progress(name, step_no, total)

    out = Path(out_dir)
    c = resolve_county(county, boundary, sea)
    code = c.adcode
    tick("boundaries")

    grid = Grid.around(c.geometry.bounds, resolution, max(0.02, 3 * resolution))
    sea_geom = None
    if c.sea is not None and not c.sea.is_empty:
        sea_geom = shapely.intersection(c.sea, shapely.box(*grid.bounds).buffer(resolution * 2))
    terrain = build_terrain(grid, sea_geom, rng_for(seed, code, "terrain"))
    tick("terrain")

    names = NameMaker(rng_for(seed, code, "names"))
    div = build_divisions(c, terrain, rng_for(seed, code, "divisions"), names)
    tick("divisions")

    rivers = build_rivers(terrain, c.geometry, names)
    roads = build_roads(terrain, c, list(zip(div.townships["seat_lon"], div.townships["seat_lat"])),
                        list(zip(div.villages["seat_lon"], div.villages["seat_lat"])), div.in_county, c.coastal)
    tick("rivers_roads")

    from .grid import metres_per_degree

    mx, my = metres_per_degree(grid.centre_lat)
    road_w = {"expressway": 30.0, "national": 14.0, "provincial": 11.0, "county": 8.0, "village": 5.0}
    lines = list(roads.geometry.values) + list(rivers.geometry.values)
    widths = [road_w[k] for k in roads["class"]] + [8.0 + 6.0 * o for o in rivers["order"]]
    keepout = keepout_points(lines, widths, mx, my)
    bld = build_buildings(div.villages, div.townships, div.village_label, terrain, c.geometry, div.in_county,
                          int(buildings), rng_for(seed, code, "buildings"), keepout=keepout)
    tick("buildings")

    fac = build_facilities(c, div.townships, div.villages, bld, terrain, rng_for(seed, code, "facilities"), names)
    tick("facilities")

    seats = np.column_stack([div.villages["seat_lon"], div.villages["seat_lat"]])
    hz = build_hazards(c, terrain, seats, rng_for(seed, code, "hazards"))
    tick("hazards")

    import geopandas as gpd

    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    gpkg = out / "sample.gpkg"
    county_gdf = gpd.GeoDataFrame({"adcode": [code], "name": [c.name], "coastal": [int(c.coastal)]},
                                  geometry=[c.geometry], crs=CRS)
    if c.city_geometry is not None:
        city_gdf = gpd.GeoDataFrame({"adcode": [c.city_code], "name": [c.city_name]},
                                    geometry=[c.city_geometry], crs=CRS)
    else:
        city_gdf = gpd.GeoDataFrame({"adcode": [], "name": []}, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    if c.coastal and sea_geom is not None and not sea_geom.is_empty:
        sea_gdf = gpd.GeoDataFrame({"name": ["海域 / sea"]}, geometry=[shapely.intersection(
            sea_geom, shapely.box(*grid.bounds))], crs=CRS)
    else:
        sea_gdf = gpd.GeoDataFrame({"name": []}, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    faults = gpd.GeoDataFrame(
        {"name": [hz.fault.name, f"{hz.fault.name}（设定破裂段）"], "part": ["trace", "rupture"],
         "scenario_mw": [hz.fault.magnitude] * 2, "strike_deg": [round(hz.fault.strike_deg, 1)] * 2},
        geometry=[hz.fault.trace, hz.fault.rupture], crs=CRS)
    layers = {"county": county_gdf, "city": city_gdf, "townships": div.townships, "villages": div.villages,
              "rivers": rivers, "roads": roads, "sea": sea_gdf, "buildings": bld, "facilities": fac,
              "faults": faults}
    with fixed_timestamp():
        for name, gdf in layers.items():
            write_layer(gdf, gpkg, name)
    from hazards.io import make_dataarray, write_geotiff

    dem_path = write_geotiff(make_dataarray(terrain.dem, grid.transform, crs=CRS, nodata=-9999.0, name="dem",
                                            attrs={"layer_id": "dem", "unit": "m"}),
                             out / "terrain" / "dem.tif", nodata=-9999.0)
    hz_paths = write_hazards(hz, grid, out / "hazards")
    flood_nc = hz_paths.pop("flood_depth", None)
    tick("writing")

    quick: dict[str, Path] = {}
    if quicklook:
        quick = _quicklooks(out / "quicklook", grid, terrain, c, div, rivers, roads, bld, fac, hz, sea_geom)
    tick("quicklook")

    counts = {"townships": len(div.townships), "villages": len(div.villages), "buildings": len(bld),
              "facilities": len(fac), "rivers": len(rivers), "roads": len(roads),
              "population": int(div.villages["population"].sum()),
              "households": int(div.villages["households"].sum())}
    content = {
        "generator": "census-toolkit sample_data", "generator_version": generator_version(),
        "format_version": FORMAT_VERSION,
        "county": {"adcode": code, "name": c.name, "city_code": c.city_code, "city_name": c.city_name,
                   "coastal": c.coastal, "area_km2": round(c.area_km2, 2), "boundary_source": c.source},
        "seed": int(seed), "crs": CRS, "resolution_deg": resolution,
        "grid": {"west": grid.west, "north": grid.north, "width": grid.width, "height": grid.height},
        "counts": counts, "reference_date": "2020-12-31",
        "generated": "all contents except the county/city boundaries are synthetic (see sample_data/README.md)",
        "hazard_models": hz.meta,
    }
    files = [gpkg, dem_path, *hz_paths.values(), *([flood_nc] if flood_nc else []), *quick.values()]
    manifest = write_manifest(out / "manifest.json", content, files, out)
    tick("manifest")
    return SampleResult(out_dir=out, county_code=code, county_name=c.name, seed=int(seed), coastal=c.coastal,
                        gpkg=gpkg, dem=dem_path, hazards=hz_paths, flood_netcdf=flood_nc, manifest=manifest,
                        quicklooks=quick, counts=counts, seconds=time.perf_counter() - t0)


def _quicklooks(qdir: Path, grid: Grid, terrain, c: County, div, rivers, roads, bld, fac, hz, sea_geom) -> dict:
    from . import quicklook as ql

    q: dict[str, Path] = {}
    q["dem"] = ql.draw_dem(qdir / "dem.png", grid, terrain, c.geometry, rivers)
    q["divisions"] = ql.draw_divisions(qdir / "divisions.png", grid, c.geometry, div.townships, div.villages)
    q["workmap"] = ql.draw_workmap(qdir / "workmap.png", grid, terrain, c.geometry, div.townships, rivers, roads,
                                   bld, fac)
    q["facilities"] = ql.draw_facilities(qdir / "facilities.png", grid, terrain, c.geometry, div.townships, fac)
    shade = ql.hillshade(terrain.dem, grid)
    for lid, arr in hz.layers.items():
        q[lid] = ql.draw_hazard(qdir / f"{lid}.png", grid, lid, arr, c.geometry, div.townships,
                                sea_mask=terrain.sea, hillshade=shade)
    return q
