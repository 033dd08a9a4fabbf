"""Historical disasters: trend test and slope, loss-share weights, largest events, model comparison, command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from risk import history as h
from risk.registry import RISK_HAZARDS


def test_mann_kendall_and_sen_slope_on_a_known_series():
    from scipy import stats

    rng = np.random.default_rng(3)
    years = np.arange(1978, 2021)
    y = 40.0 + 2.5 * (years - 1978) + rng.normal(0, 4.0, years.size)
    t = h.mann_kendall(y, years)
    assert t.trend == "increasing" and t.p < 1e-6
    assert t.slope == pytest.approx(2.5, abs=0.15)
    assert t.slope_low < 2.5 < t.slope_high
    # Kendall's tau between value and year is the MK statistic's tau (no ties in time)
    assert t.tau == pytest.approx(stats.kendalltau(years, y).statistic, abs=1e-9)
    down = h.mann_kendall(-y, years)
    assert down.trend == "decreasing" and down.slope == pytest.approx(-t.slope)
    flat = h.mann_kendall(rng.normal(0, 1, years.size), years)
    assert flat.trend == "no trend" and flat.p > 0.05
    const = h.mann_kendall(np.zeros(10))
    assert const.trend == "no trend" and const.p == 1.0


def test_hand_computed_mann_kendall_statistic():
    # y = 1, 3, 2, 4: pairs (i<j) with y_j > y_i: 5, with y_j < y_i: 1 → S = 4, var = n(n−1)(2n+5)/18 = 52/6
    t = h.mann_kendall([1.0, 3.0, 2.0, 4.0])
    assert t.s == 4
    z = (4 - 1) / np.sqrt(4 * 3 * 13 / 18)
    assert t.z == pytest.approx(z)
    # pairwise slopes (j>i): 2, 0.5, 1, −1, 0.5, 2 → sorted −1, 0.5, 0.5, 1, 2, 2 → median 0.75
    assert t.slope == pytest.approx(0.75)


def _annual(rows):
    cols = ["division_level", "county_code", "township_code", "year", "hazard_type", "affected_people", "deaths",
            "missing", "direct_loss"]
    return h.prepare_annual(pd.DataFrame(rows, columns=cols))


def test_loss_weights_sum_to_one_and_match_hand_shares():
    a = _annual([
        ("township", None, "T1", 2020, "flood", 100, 1, 0, 300.0),
        ("township", None, "T2", 2020, "drought_hydro", 50, 0, 0, 60.0),
        ("township", None, "T2", 2020, "drought", 50, 0, 0, 40.0),     # meteorological drought → drought too
        ("township", None, "T1", 2020, "hail", 10, 0, 0, 999.0),       # no risk hazard models hail
    ])
    w = h.loss_weights(h.county_series(a)).set_index("risk_hazard")
    assert w["weight"].sum() == pytest.approx(1.0)
    assert w.loc["flood", "weight"] == pytest.approx(0.75)
    assert w.loc["drought", "weight"] == pytest.approx(0.25)
    assert w.loc["earthquake", "weight"] == 0.0
    assert set(w.index) == {hz.id for hz in RISK_HAZARDS}
    assert h.unmapped_losses(h.county_series(a)) == {"hail": pytest.approx(999.0)}
    assert h.weights_dict(w.reset_index())["flood"] == pytest.approx(0.75)


def test_no_recorded_losses_falls_back_to_registry_weights():
    w = h.loss_weights(h.county_series(_annual([])))
    assert w["weight"].sum() == pytest.approx(1.0)
    assert (w["weight_basis"] == "no recorded losses: registry default weights").all()


def test_county_rows_are_not_counted_twice_with_township_rows():
    a = _annual([
        ("county", "211481", None, 1994, "flood", 1000, 3, 0, 500.0),
        ("township", None, "T1", 1994, "flood", 600, 2, 0, 300.0),     # part of the county figure
        ("township", None, "T1", 1995, "flood", 10, 0, 0, 10.0),       # no county row that year
    ])
    s = h.county_series(a)
    assert s.loc[(1994, "flood"), "direct_loss"] == 500.0
    assert s.loc[(1995, "flood"), "direct_loss"] == 10.0


def test_prices_are_brought_to_2020():
    assert h.CPI.factor_to(2020) == pytest.approx(1.0)
    assert h.CPI.factor_to(1978) == pytest.approx(6.865)
    assert h.CPI.factor_to(1960) == h.CPI.factor_to(1978)          # before 1978 held at 1978 prices
    a = _annual([("township", None, "T1", 1990, "flood", 1, 0, 0, 100.0)])
    assert a["direct_loss_2020"].iloc[0] == pytest.approx(100.0 * 686.5 / 216.4)


def test_trend_rows_for_each_hazard_and_all():
    years = np.arange(1978, 2021)
    rows = [("township", None, "T1", int(y), "flood", 100, 0, 0, 10.0 * (y - 1977)) for y in years]
    rows += [("township", None, "T1", int(y), "hail", 100, 0, 0, 5.0) for y in years[::2]]
    t = h.trends(h.county_series(_annual(rows)))
    assert set(t["hazard_type"]) == {"flood", "hail", "all"}
    fl = t[(t["hazard_type"] == "flood") & (t["metric"] == "direct_loss_2020")].iloc[0]
    assert fl["trend"] == "increasing" and fl["significant"] == 1
    assert fl["years_with_records"] == 43 and "显著上升" in fl["text_zh"]


def test_comparison_flags_an_order_of_magnitude():
    n = h.LAST_YEAR - h.FIRST_YEAR + 1
    # recorded flood losses at 2020 prices: T1 43 万元 in total → 1 万元/yr = 1e4 CNY/yr; T2 430 万元 → 1e5 CNY/yr
    a = _annual([("township", None, "T1", 2020, "flood", 10, 0, 0, 43.0),
                 ("township", None, "T2", 2020, "flood", 10, 0, 0, 430.0),
                 ("township", None, "T3", 2020, "rainstorm", 10, 0, 0, 5.0)])
    model = pd.DataFrame({"township_code": ["T1", "T2", "T3", "T4"],
                          "flood_loss": [2e5, 3e5, 5e5, 1e6], "earthquake_loss": [1e5, 1e5, 1e5, 1e5],
                          "storm_surge_loss": [0.0, 0.0, 0.0, 0.0], "wind_loss": [0.0, 0.0, 0.0, 0.0]})
    c = h.compare_losses(a, model).set_index("township_code")
    assert c.loc["T1", "flood_recorded_cny"] == pytest.approx(43.0 * 1e4 / n)
    assert c.loc["T1", "flood_log10_ratio"] == pytest.approx(np.log10(2e5 / 1e4))       # 1.30 → flagged
    assert c.loc["T1", "flood_flag"] == 1 and c.loc["T1", "flag"] == 1
    assert c.loc["T2", "flood_log10_ratio"] == pytest.approx(np.log10(3.0)) and c.loc["T2", "flag"] == 0
    assert c.loc["T3", "flood_recorded_cny"] == 0.0 and c.loc["T3", "flood_flag"] == 1  # model loss, none recorded
    assert "历史无记录" in c.loc["T3", "verdict_zh"]
    assert np.isnan(c.loc["T4", "recorded_total_cny"]) or c.loc["T4", "recorded_total_cny"] is None
    assert c.loc["T4", "flag"] == 0 and c.loc["T4", "verdict_zh"] == "无历史统计记录"
    # earthquakes: no losses in 43 years is no evidence against a 475-year model — never flagged
    assert (c["earthquake_flag"] == 0).all()
    assert c.loc["T2", "model_total_cny"] == pytest.approx(3e5)        # the total leaves the rare hazard out


def test_comparison_without_a_model_lists_records_only():
    a = _annual([("township", None, "T1", 2020, "flood", 10, 0, 0, 43.0)])
    c = h.compare_losses(a, None)
    assert (c["flag"] == 0).all() and c["verdict_zh"].iloc[0].startswith("无模型结果")


def test_largest_events_merge_records_and_map_affected_townships():
    import geopandas as gpd
    from shapely.geometry import box

    towns = gpd.GeoDataFrame({"code": ["T1", "T2", "T3"], "name": ["甲", "乙", "丙"]},
                             geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)], crs=4490)
    div = lambda *codes: json.dumps([{"affected_township_code": c, "township_affected_people": 1} for c in codes])
    ev = gpd.GeoDataFrame({
        "event_name": ["1994年洪水", "1994年洪水", "2013年暴雨", "1949年大水"],
        "hazard_type": ["flood", "flood", "rainstorm", "flood"],
        "start_date": ["1994-08-15", "1994-08-16", "2013-08-16", "1949-08-01"],
        "end_date": ["1994-08-18", "1994-08-19", "2013-08-17", "1949-08-05"],
        "affected_divisions": [div("T1"), div("T2"), div("T3"), div("T1", "T3")],
        "affected_people": [100, 200, 50, 1000], "deaths": [1, 0, 0, 20], "missing": [0, 0, 0, 0],
        "direct_loss": [200.0, 100.0, 400.0, 10.0], "census_township": ["T1", "T2", "T3", "T1"]},
        geometry=[box(0.4, 0.4, 0.5, 0.5)] * 4, crs=4490)
    top = h.largest_events(ev, towns, n=2)
    # at 2020 prices: 300 万元 × 1.95 (1994) = 586 > 400 × 1.18 (2013) = 472 > 10 × 6.9 (1949, at 1978 prices)
    assert h.CPI.factor_to(1994) == pytest.approx(1.953, abs=0.005)
    assert list(top["event_name"]) == ["1994年洪水", "2013年暴雨"]
    first = top.iloc[0]
    assert first["records"] == 2 and first["affected_people"] == 300 and first["townships"] == "T1,T2"
    assert first.geometry.area == pytest.approx(2.0)                       # the two townships' outline
    assert first["direct_loss_2020_wan"] == pytest.approx(300.0 * h.CPI.factor_to(1994))


def _history_gpkg(d):
    import geopandas as gpd
    import pyogrio
    from shapely.geometry import box

    gpkg = d / "county.gpkg"
    towns = gpd.GeoDataFrame({"code": ["211481001", "211481002"], "name": ["甲镇", "乙乡"]},
                             geometry=[box(120.0, 40.0, 120.1, 40.1), box(120.1, 40.0, 120.2, 40.1)], crs=4490)
    towns.to_file(gpkg, layer="townships", driver="GPKG")
    rng = np.random.default_rng(5)
    rows = []
    for y in range(1978, 2021):
        for t, scale in (("211481001", 100.0), ("211481002", 1.0)):
            rows.append({"division_level": "township", "county_code": None, "township_code": t, "year": y,
                         "hazard_type": "flood", "affected_people": 100, "deaths": 0, "missing": 0,
                         "direct_loss": scale * (1 + 0.05 * (y - 1978)) * float(rng.uniform(0.8, 1.2)) /
                         h.CPI.factor_to(y), "census_state": "received"})
    pyogrio.write_dataframe(pd.DataFrame(rows), gpkg, layer="disaster_annual")
    ev = gpd.GeoDataFrame({"event_name": ["1994年洪水"], "hazard_type": ["flood"], "start_date": ["1994-08-15"],
                           "end_date": ["1994-08-18"],
                           "affected_divisions": [json.dumps([{"affected_township_code": "211481001"}])],
                           "affected_people": [1000], "deaths": [2], "missing": [0], "direct_loss": [900.0],
                           "census_township": ["211481001"], "census_state": ["received"]},
                          geometry=[box(120.01, 40.01, 120.02, 40.02)], crs=4490)
    ev.to_file(gpkg, layer="disaster_event", driver="GPKG")
    return gpkg


def test_history_command_writes_layers_and_csv(tmp_path):
    import pyogrio
    from click.testing import CliRunner

    from census_cli.cmd_risk_extra import history

    gpkg = _history_gpkg(tmp_path)
    r = CliRunner().invoke(history, ["--gpkg", str(gpkg), "--out", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["model_available"] is False and s["weights"]["flood"] == pytest.approx(1.0)
    assert s["largest_events"][0]["event_name"] == "1994年洪水"
    assert any(t["hazard_type"] == "flood" and t["trend"] == "increasing" for t in s["significant_loss_trends"])
    layers = dict(pyogrio.list_layers(gpkg))
    assert layers["history_comparison"] == "MultiPolygon" and layers["history_events"] == "MultiPolygon"
    assert {"history_trends", "history_weights"} <= set(layers)
    for name in ("history_trends", "history_weights", "history_comparison", "history_events"):
        assert (tmp_path / "out" / f"{name}.csv").is_file()

    # after a risk assessment: 甲镇's model agrees, 乙乡's model is 100× its records → flagged
    n = 43
    rec = pyogrio.read_dataframe(gpkg, layer="history_comparison").set_index("township_code")["flood_recorded_cny"]
    model = pd.DataFrame({"township_code": ["211481001", "211481002"],
                          "flood_loss": [rec["211481001"] * 2, rec["211481002"] * 100]})
    pyogrio.write_dataframe(model, gpkg, layer="risk_townships")
    r = CliRunner().invoke(history, ["--gpkg", str(gpkg)])
    assert r.exit_code == 0, r.output
    assert "乙乡（211481002）：模型高于记录 100 倍" in r.stdout
    c = pyogrio.read_dataframe(gpkg, layer="history_comparison").set_index("township_code")
    assert c.loc["211481001", "flag"] == 0 and c.loc["211481002", "flag"] == 1
    assert (gpkg.parent / "history" / "history_trends.csv").is_file()            # default --out
    assert n == h.LAST_YEAR - h.FIRST_YEAR + 1


def test_history_command_errors(tmp_path):
    import geopandas as gpd
    from click.testing import CliRunner
    from shapely.geometry import box

    from census_cli.cmd_risk_extra import history

    r = CliRunner().invoke(history, ["--gpkg", str(tmp_path / "none.gpkg")])
    assert r.exit_code == 2
    g = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame({"code": ["1"]}, geometry=[box(0, 0, 1, 1)], crs=4490).to_file(g, layer="townships")
    r = CliRunner().invoke(history, ["--gpkg", str(g)])
    assert r.exit_code == 1 and "disaster_annual" in r.output
    r = CliRunner().invoke(history, ["--help"])
    assert "Example" in r.output and "census risk history" in r.output
