"""Exposure from the county geodatabase: buildings (rural_house + urban_house), facilities, population.

Reads the **current** revision of every record (the form layers hold only those, see geodb.county) whose
review state is not ``rejected``, with its footprint. Every building gets, in one frame:

- a common set of attributes from either house form (``setting`` = urban | rural),
- ``lon``/``lat``: a point inside the footprint (centroid, or a point on the surface for odd shapes),
- ``value_cny`` (exposure.value), ``residents``, ``occupants_day``/``occupants_night`` (exposure.occupancy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exposure.footprints import STORAGE_CRS, ExposureError, ExposureFileNotFound
from exposure.occupancy import (
    OccupancyTable,
    allocate_residents,
    building_occupants,
    facility_people,
    load_occupancy,
)
from exposure.value import UnitCostTable, load_unit_costs, replacement_values
from schemas.errors import Code
from geodb import layers as L

BUILDING_FORMS = ("rural_house", "urban_house")
NOT_REJECTED = "census_state IS NULL OR census_state <> 'rejected'"

# columns every building carries (None where a form does not ask)
BUILDING_COLUMNS = ("census_uuid", "building_id", "form_id", "setting", "township_code", "village_code", "use",
                    "structure_type", "floors", "floor_area", "year_built", "year_band", "seismic_measures",
                    "professional_design", "retrofitted", "design_code", "fortification_intensity")
_NUMERIC = ("floors", "floor_area", "year_built")


@dataclass
class Exposure:
    """Buildings and facilities ready for the risk assessment, plus what could not be placed."""

    buildings: Any                 # GeoDataFrame, EPSG:4490
    facilities: Any                # GeoDataFrame (points), EPSG:4490
    village_population: dict[str, float]
    unallocated_population: float = 0.0
    villages_without_houses: tuple[str, ...] = ()
    villages_by_fallback: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


def layer_names(gpkg: str | Path) -> list[str]:

    if not L.exists(gpkg):
        raise ExposureFileNotFound(L.as_target(gpkg))
    return L.list_layers(gpkg)


def read_layer(gpkg: str | Path, layer: str, *, where: str | None = None, geometry: bool = True,
               columns: list[str] | None = None):
    """One layer as a (Geo)DataFrame; a missing layer is an error naming the file and the layer."""

    names = layer_names(gpkg)
    if layer not in names:
        raise ExposureError(f"{gpkg} 中没有图层“{layer}”；现有图层：{', '.join(names)}",
                            f"{gpkg} has no layer '{layer}'; it has: {', '.join(names)}", code=Code.FILE_UNREADABLE)
    if columns is not None:
        have = set(L.field_names(gpkg, layer))
        columns = [c for c in columns if c in have]
    df = L.read_dataframe(gpkg, layer, where=where, read_geometry=geometry, columns=columns)
    if geometry and getattr(df, "crs", None) is not None and df.crs.to_epsg() != 4490:
        raise ExposureError(f"{gpkg}:{layer} 的坐标系为 {df.crs.to_string()}，应为 EPSG:4490",
                            f"{gpkg}:{layer} is in {df.crs.to_string()}, not EPSG:4490")
    return df


def _house_frame(gpkg: Path, form_id: str):
    import geopandas as gpd
    import pandas as pd

    gdf = read_layer(gpkg, form_id, where=NOT_REJECTED)
    out = pd.DataFrame(index=gdf.index)
    for col in BUILDING_COLUMNS:
        out[col] = gdf[col] if col in gdf.columns else None
    out["form_id"] = form_id
    out["setting"] = "urban" if form_id == "urban_house" else "rural"
    # rural_house has no township field: the village code (12 digits) starts with its township's 9
    vcode = out["village_code"].astype("string")
    tcode = out["township_code"].astype("string")
    fallback = gdf["census_township"].astype("string") if "census_township" in gdf.columns else vcode.str[:9]
    out["township_code"] = tcode.fillna(vcode.str[:9]).fillna(fallback)
    for col in _NUMERIC:
        out[col] = pd.to_numeric(out[col], errors="coerce")
    for col in ("census_uuid", "building_id", "village_code", "use", "structure_type", "year_band",
                "seismic_measures", "professional_design", "retrofitted", "design_code", "fortification_intensity"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return gpd.GeoDataFrame(out, geometry=gdf.geometry.values, crs=STORAGE_CRS)


def representative_points(geoms) -> tuple[np.ndarray, np.ndarray]:
    """lon, lat of a point inside each footprint (centroid when it is inside, else a surface point)."""
    import shapely

    arr = np.asarray(geoms)
    lon = np.full(len(arr), np.nan)
    lat = np.full(len(arr), np.nan)
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr)) if len(arr) else np.zeros(0, bool)
    if ok.any():
        g = arr[ok]
        cen = shapely.centroid(g)
        inside = shapely.within(cen, g) | (shapely.get_type_id(g) == 0)
        if not inside.all():
            cen = np.where(inside, cen, shapely.point_on_surface(g))
        lon[ok] = shapely.get_x(cen)
        lat[ok] = shapely.get_y(cen)
    return lon, lat


def read_buildings(gpkg: str | Path, *, unit_costs: UnitCostTable | None = None,
                   occupancy: OccupancyTable | None = None, population: dict[str, float] | None = None):
    """Buildings of both house forms with value and occupants (see module doc); also returns the
    resident allocation. Missing floor area falls back to footprint area (GK metres) × storeys."""
    import geopandas as gpd
    import pandas as pd

    from exposure.footprints import gk_crs_for

    gpkg = L.as_target(gpkg)
    names = layer_names(gpkg)
    frames = [_house_frame(gpkg, f) for f in BUILDING_FORMS if f in names]
    if not frames:
        raise ExposureError(f"{gpkg} 中没有房屋图层（rural_house / urban_house）；请先导入房屋调查数据",
                            f"{gpkg} has no house layer (rural_house / urban_house); import the house returns first",
                            code=Code.FILE_UNREADABLE)
    frames = [f for f in frames if len(f)] or frames[:1]
    b = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=STORAGE_CRS)
    b["lon"], b["lat"] = representative_points(b.geometry.values)
    floors = b["floors"].fillna(1).clip(lower=1)
    b["floors"] = floors
    missing = b["floor_area"].isna() | (b["floor_area"] <= 0)
    if missing.any():
        lon0 = float(np.nanmean(b["lon"])) if np.isfinite(b["lon"]).any() else 120.0
        area = b.geometry[missing].to_crs(gk_crs_for(lon0)).area.to_numpy()
        b.loc[missing, "floor_area"] = area * floors[missing].to_numpy()
    b["structure_type"] = b["structure_type"].where(b["structure_type"].notna(), "other")
    b["use"] = b["use"].where(b["use"].notna(), "other")
    b["value_cny"] = replacement_values(b["floor_area"], b["structure_type"], b["setting"], b["use"], unit_costs)
    if population is None:
        population = read_village_population(gpkg)
    alloc = allocate_residents(b["village_code"], b["floor_area"], b["use"], b["setting"], population, occupancy)
    b["residents"] = alloc.residents
    b["occupants_day"], b["occupants_night"] = building_occupants(b["residents"], b["floor_area"], b["use"], occupancy)
    return b, alloc


def read_village_population(gpkg: str | Path) -> dict[str, float]:
    """village code → resident population from village_population (not rejected); empty if no layer."""
    import pandas as pd

    if "village_population" not in layer_names(gpkg):
        return {}
    df = read_layer(gpkg, "village_population", where=NOT_REJECTED, geometry=False,
                    columns=["village_code", "resident_population"])
    pop = pd.to_numeric(df["resident_population"], errors="coerce")
    return {str(v): float(p) for v, p in zip(df["village_code"], pop) if v is not None and pd.notna(p)}


def read_facilities(gpkg: str | Path, occupancy: OccupancyTable | None = None):
    """Public service facilities (points) with ``people_day``/``people_night`` from their capacities."""
    import geopandas as gpd

    if "public_facility" not in layer_names(gpkg):
        return gpd.GeoDataFrame({"facility_id": [], "facility_type": [], "people_day": [], "people_night": []},
                                geometry=gpd.GeoSeries([], crs=STORAGE_CRS), crs=STORAGE_CRS)
    f = read_layer(gpkg, "public_facility", where=NOT_REJECTED)
    f["people_day"], f["people_night"] = facility_people(f, occupancy)
    return f


def load_exposure(gpkg: str | Path, *, unit_costs: UnitCostTable | None = None,
                  occupancy: OccupancyTable | None = None) -> Exposure:
    """Buildings, facilities and village population of a county geodatabase (see module doc)."""
    occupancy = occupancy or load_occupancy()
    unit_costs = unit_costs or load_unit_costs()
    population = read_village_population(gpkg)
    buildings, alloc = read_buildings(gpkg, unit_costs=unit_costs, occupancy=occupancy, population=population)
    notes = []
    if alloc.villages_without_houses:
        notes.append(f"{len(alloc.villages_without_houses)} villages have population but no residential building")
    if alloc.villages_by_fallback:
        notes.append(f"{len(alloc.villages_by_fallback)} villages have houses but no population return "
                     f"(residents from floor area per person)")
    return Exposure(buildings, read_facilities(gpkg, occupancy), population, alloc.unallocated,
                    alloc.villages_without_houses, alloc.villages_by_fallback, notes)
