"""Replacement value of buildings: floor area × unit cost by structure type, setting (urban/rural) and use.

The unit costs are data (``exposure/data/unit_costs.yaml``) with their source — an explicit assumption
until a county loads its own cost figures (pass ``table=`` a :class:`UnitCostTable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).with_name("data")
UNIT_COSTS_FILE = DATA_DIR / "unit_costs.yaml"


@dataclass(frozen=True)
class UnitCostTable:
    urban: Mapping[str, float]          # CNY/m² by structure type, urban
    rural_factor: float
    use_factor: Mapping[str, float]
    source_zh: str
    source_en: str
    price_year: int

    def unit_cost(self, structure_type: str | None, setting: str, use: str | None) -> float:
        """CNY per m² for one building (unknown structure → 'other', unknown use → factor 1)."""
        base = self.urban.get(structure_type or "other", self.urban["other"])
        factor = self.use_factor.get(use or "other", 1.0)
        return float(base * factor * (self.rural_factor if setting == "rural" else 1.0))


@lru_cache(maxsize=4)
def load_unit_costs(path: str | Path = UNIT_COSTS_FILE) -> UnitCostTable:
    import yaml

    d = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return UnitCostTable(urban={k: float(v) for k, v in d["urban"].items()}, rural_factor=float(d["rural_factor"]),
                         use_factor={k: float(v) for k, v in d["use_factor"].items()},
                         source_zh=d["source_zh"], source_en=d["source_en"], price_year=int(d["price_year"]))


def unit_costs(structure_type, setting, use, table: UnitCostTable | None = None) -> np.ndarray:
    """Vectorised :meth:`UnitCostTable.unit_cost` over aligned arrays (looked up once per distinct triple)."""
    import pandas as pd

    table = table or load_unit_costs()
    keys = pd.DataFrame({"s": pd.Series(structure_type, dtype=object).fillna("other").to_numpy(),
                         "g": pd.Series(setting, dtype=object).fillna("urban").to_numpy(),
                         "u": pd.Series(use, dtype=object).fillna("other").to_numpy()})
    codes, uniques = pd.MultiIndex.from_frame(keys).factorize()
    costs = np.array([table.unit_cost(s, g, u) for s, g, u in uniques], dtype="float64")
    return costs[codes] if len(codes) else np.zeros(0)


def replacement_values(floor_area, structure_type, setting, use, table: UnitCostTable | None = None) -> np.ndarray:
    """value_cny = floor_area × unit cost; a missing or negative area is worth 0."""
    area = np.nan_to_num(np.asarray(floor_area, dtype="float64"), nan=0.0)
    return np.maximum(area, 0.0) * unit_costs(structure_type, setting, use, table)
