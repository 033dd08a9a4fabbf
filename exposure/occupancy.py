"""Occupants of buildings by day and night, and people at public facilities.

Residents: each village's resident population is shared among its residential buildings in proportion to
residential floor area; non-residential buildings get occupants per 100 m² by use; facilities get
their people from their own capacity fields (students, beds, residents, seats, visitors). The factors
are data (``exposure/data/occupancy.yaml``) with their source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).with_name("data")
OCCUPANCY_FILE = DATA_DIR / "occupancy.yaml"


@dataclass(frozen=True)
class OccupancyTable:
    day_factor: float
    night_factor: float
    residential_share: Mapping[str, float]
    fallback_m2_per_person: Mapping[str, float]
    per_100m2: Mapping[str, tuple[float, float]]          # use → (day, night)
    facilities: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)
    source_zh: str = ""
    source_en: str = ""


@lru_cache(maxsize=4)
def load_occupancy(path: str | Path = OCCUPANCY_FILE) -> OccupancyTable:
    import yaml

    d = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    res = d["residential"]
    return OccupancyTable(
        day_factor=float(res["day_factor"]), night_factor=float(res["night_factor"]),
        residential_share={k: float(v) for k, v in res["residential_share"].items()},
        fallback_m2_per_person={k: float(v) for k, v in res["fallback_m2_per_person"].items()},
        per_100m2={k: (float(v["day"]), float(v["night"])) for k, v in d["per_100m2"].items()},
        facilities=d.get("facilities", {}), source_zh=d["source_zh"], source_en=d["source_en"])


@dataclass(frozen=True)
class ResidentAllocation:
    residents: np.ndarray          # per building, float (people are shared, not rounded)
    allocated: float               # population placed in buildings
    unallocated: float             # population of villages with no residential building
    villages_without_houses: tuple[str, ...]
    villages_by_fallback: tuple[str, ...]   # villages with houses but no population return


def allocate_residents(village_code, floor_area, use, setting, population: Mapping[str, float],
                       table: OccupancyTable | None = None) -> ResidentAllocation:
    """Share each village's resident population among its residential buildings by floor area.

    ``population`` maps village code → resident population. Villages with houses but no population
    figure get floor area / per-capita floor area (urban or rural figure) instead.
    """
    import pandas as pd

    table = table or load_occupancy()
    df = pd.DataFrame({"v": pd.Series(village_code, dtype=object).to_numpy(),
                       "a": np.nan_to_num(np.asarray(floor_area, dtype="float64"), nan=0.0),
                       "u": pd.Series(use, dtype=object).to_numpy(),
                       "g": pd.Series(setting, dtype=object).to_numpy()})
    share = df["u"].map(table.residential_share).fillna(0.0).to_numpy()
    weight = np.maximum(df["a"].to_numpy(), 0.0) * share
    df["w"] = weight
    total_w = df.groupby("v", dropna=False)["w"].transform("sum").to_numpy()
    pop = df["v"].map({str(k): float(v) for k, v in population.items() if v is not None and np.isfinite(v)})
    has_pop = pop.notna().to_numpy()
    residents = np.zeros(len(df))
    ok = has_pop & (total_w > 0)
    residents[ok] = pop.to_numpy(dtype="float64")[ok] * weight[ok] / total_w[ok]
    fb = (~has_pop) & (weight > 0)
    per_person = df["g"].map(table.fallback_m2_per_person).fillna(table.fallback_m2_per_person.get("urban", 40.0))
    residents[fb] = weight[fb] / per_person.to_numpy(dtype="float64")[fb]
    housed = set(df.loc[weight > 0, "v"].astype(str))
    without = tuple(sorted(str(k) for k, v in population.items() if str(k) not in housed and (v or 0) > 0))
    unallocated = float(sum(float(population[k]) for k in without))
    fallback_villages = tuple(sorted(set(df.loc[fb, "v"].astype(str))))
    return ResidentAllocation(residents, float(residents[ok].sum()), unallocated, without, fallback_villages)


def building_occupants(residents, floor_area, use, table: OccupancyTable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(occupants by day, occupants by night) per building: residents × day/night factors plus
    non-residential floor area × persons per 100 m² of its use (a mixed building counts both parts)."""
    import pandas as pd

    table = table or load_occupancy()
    res = np.nan_to_num(np.asarray(residents, dtype="float64"), nan=0.0)
    area = np.maximum(np.nan_to_num(np.asarray(floor_area, dtype="float64"), nan=0.0), 0.0)
    u = pd.Series(use, dtype=object).fillna("other")
    non_res_share = 1.0 - u.map(table.residential_share).fillna(0.0).to_numpy()
    default = table.per_100m2.get("other", (0.0, 0.0))
    dens = u.map(lambda x: table.per_100m2.get(x, default))
    day_d = np.array([d[0] for d in dens], dtype="float64") if len(dens) else np.zeros(0)
    night_d = np.array([d[1] for d in dens], dtype="float64") if len(dens) else np.zeros(0)
    non_res_area = area * non_res_share / 100.0
    day = res * table.day_factor + non_res_area * day_d
    night = res * table.night_factor + non_res_area * night_d
    return day, night


def facility_people(facilities, table: OccupancyTable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(people by day, people by night) at each public facility from its capacity fields."""
    table = table or load_occupancy()
    n = len(facilities)
    day = np.zeros(n)
    night = np.zeros(n)
    cols = set(facilities.columns)

    def col(name: str) -> np.ndarray:
        if name == "students_boarding":
            if "students" not in cols:
                return np.zeros(n)
            boarding = facilities["boarding"].astype(str).eq("1").to_numpy() if "boarding" in cols else np.zeros(n, bool)
            return np.where(boarding, _num(facilities["students"]), 0.0)
        return _num(facilities[name]) if name in cols else np.zeros(n)

    ftype = facilities["facility_type"].astype(str).to_numpy() if "facility_type" in cols else np.full(n, "")
    for kind, rule in table.facilities.items():
        sel = ftype == kind
        if not sel.any():
            continue
        for name, f in (rule.get("day") or {}).items():
            day[sel] += col(name)[sel] * float(f)
        for name, f in (rule.get("night") or {}).items():
            night[sel] += col(name)[sel] * float(f)
    return day, night


def _num(series) -> np.ndarray:
    import pandas as pd

    return np.nan_to_num(pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64"), nan=0.0)
