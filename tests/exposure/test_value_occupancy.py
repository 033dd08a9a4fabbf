"""Replacement value, residents and occupants, facility people."""

import numpy as np
import pandas as pd
import pytest

from exposure.occupancy import allocate_residents, building_occupants, facility_people
from exposure.value import load_unit_costs, replacement_values


def test_unit_costs_by_structure_setting_and_use():
    t = load_unit_costs()
    assert t.unit_cost("brick_concrete", "rural", "residence") == pytest.approx(1800 * 0.75)
    assert t.unit_cost("rc_frame", "urban", "medical") == pytest.approx(2400 * 1.3)
    assert t.unit_cost(None, "urban", None) == pytest.approx(t.urban["other"])
    v = replacement_values([100.0, np.nan, 50.0], ["masonry", "steel", "wood"], ["rural", "urban", "urban"],
                           ["residence", "office", "storage"])
    assert v == pytest.approx([100 * 1300 * 0.75, 0.0, 50 * 1500 * 0.7])
    assert "假定" in t.source_zh and "ssumption" in t.source_en


def test_residents_shared_by_residential_floor_area():
    a = allocate_residents(["V1", "V1", "V1", "V2", "V3"], [60.0, 40.0, 500.0, 97.8, 10.0],
                           ["residence", "mixed", "office", "residence", "residence"],
                           ["rural", "urban", "urban", "rural", "rural"], {"V1": 100.0, "V4": 50.0, "V3": 0.0})
    # V1: weights 60 and 40·0.5 = 20 → 75 and 25; office gets none. V2: no return → 97.8 m² / 48.9 m² = 2
    assert a.residents == pytest.approx([75.0, 25.0, 0.0, 2.0, 0.0])
    assert a.villages_without_houses == ("V4",) and a.unallocated == 50.0
    assert a.villages_by_fallback == ("V2",)


def test_day_and_night_occupants():
    day, night = building_occupants([10.0, 0.0, 4.0], [100.0, 200.0, 100.0], ["residence", "office", "mixed"])
    # residence: 0.5 / 1.0 × residents; office 5 / 0.2 per 100 m²; mixed: residents + half its area at 3 / 0
    assert day == pytest.approx([5.0, 10.0, 2.0 + 1.5])
    assert night == pytest.approx([10.0, 0.4, 4.0])


def test_facility_people_from_capacities():
    f = pd.DataFrame({"facility_type": ["school", "school", "hospital", "hotel"], "students": [100, 50, None, None],
                      "boarding": ["1", "0", None, None], "staff": [10, 5, 20, None], "beds": [None, None, 30, 10]})
    day, night = facility_people(f)
    assert day == pytest.approx([110, 55, 50, 3])
    assert night == pytest.approx([100, 0, 30, 6])
