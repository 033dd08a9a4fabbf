"""Capacity index per township and village: a hand-computed case."""

import json

import numpy as np
import pandas as pd
import pytest

from exposure.capacity import (
    TOWNSHIP_INDICATORS,
    combine,
    minmax,
    township_capacity,
    village_capacity,
)


def _townships():
    return pd.DataFrame({
        "township_code": ["T1", "T2", "T3"],
        "fulltime_staff": [10, 10, 0], "parttime_staff": [0, 0, 0], "info_officers": [0, 0, 0],
        "emergency_plan": ["1", "1", "0"], "plan_revised_year": [2020, 2010, None],
        "drill_participants_2020": [100, 0, 200], "trainees_2020": [0, 0, 0],
        "shelters_capacity": [500, 2000, 0], "warning_means": ["sms wechat", "sms", "sms gong siren"],
        "has_warehouse": ["1", "0", "0"], "reserve_items": ["[]", "[]", "[]"],
        "rescue_teams": [json.dumps([{"team_type": "medical", "team_members": 10}]), "[]",
                         json.dumps([{"team_type": "volunteer", "team_members": 5}])],
        "team_members_total": [None, None, None],
    })


def test_township_capacity_hand_case():
    pop = {"T1": 1000.0, "T2": 2000.0, "T3": 1000.0}
    out = township_capacity(_townships(), ["T1", "T2", "T3", "T4"], pop).set_index("township_code")
    # min–max scores (training constant → dropped, weights renormalised over 0.9):
    # T1: .15·1 + .10·1 + .10·.5 + .20·.5 + .15·.5 + .10·1 + .10·1 = .675 → .75
    # T2: .15·.5 + .10·.5 + .20·1 = .325 → .3611;  T3: .10·1 + .15·1 + .10·.5 = .30 → .3333
    assert out.loc["T1", "capacity_index"] == pytest.approx(0.75)
    assert out.loc["T2", "capacity_index"] == pytest.approx(0.325 / 0.9)
    assert out.loc["T3", "capacity_index"] == pytest.approx(0.30 / 0.9)
    assert "cap_training" not in out.columns
    assert out.loc["T4", "capacity_index"] == 0.0 and not out.loc["T4", "has_return"]
    assert out.loc["T1", "has_return"]


def test_minmax_and_constant_indicators():
    assert minmax(np.array([2.0, 4.0, np.nan])).tolist() == [0.0, 1.0, 0.0]
    assert minmax(np.array([3.0, 3.0])) is None
    idx, scores = combine({i.id: np.array([1.0, 1.0]) for i in TOWNSHIP_INDICATORS}, TOWNSHIP_INDICATORS)
    assert idx.tolist() == [0.5, 0.5] and scores == {}


def test_village_capacity_uses_the_form_population_when_needed():
    df = pd.DataFrame({"village_code": ["V1", "V2"], "resident_population": [100, 400],
                       "shelters_capacity": [100, 100], "risk_map": ["1", "0"],
                       "demo_community": ["1", "0"], "demo_level": ["national", None]})
    out = village_capacity(df, ["V1", "V2"], {}).set_index("village_code")
    # shelter per resident 1.0 vs 0.25 → 1/0; risk_map 1/0; demo 1/0: V1 gets every point
    assert out.loc["V1", "capacity_index"] == pytest.approx(1.0)
    assert out.loc["V2", "capacity_index"] == pytest.approx(0.0)
