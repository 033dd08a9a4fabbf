"""The vulnerability library, EAL integration, zoning and the registry against published or hand values."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from risk import vulnerability as vul
from risk.eal import expected_annual_loss
from risk.errors import RiskError, UnknownRiskHazard
from risk.registry import RISK_HAZARD_IDS, comprehensive_weights, get_risk_hazard
from risk.zoning import classify_levels, levels_from_breaks, prevention_zone

# --- HAZUS ----------------------------------------------------------------------------------------


def test_hazus_building_loss_ratios_are_the_sum_of_tables_15_2_to_15_4():
    # RES1: structural 0.5/2.3/11.7/23.4 + NS acceleration 0.5/2.7/8.0/26.6 + NS drift 1.0/5.0/25.0/50.0 (%)
    assert vul.hazus_loss_ratios("RES1") == pytest.approx((0.02, 0.10, 0.447, 1.0))
    assert vul.hazus_loss_ratios("COM1")[3] == pytest.approx(1.0)
    with pytest.raises(RiskError):
        vul.hazus_loss_ratios("NOPE")


def test_hazus_fragility_medians_from_table_5_16():
    lib = vul.eq_library()
    assert lib.medians["URML-PC"] == (0.13, 0.17, 0.26, 0.37)      # Table 5.16d
    assert lib.medians["C1L-HC"] == (0.21, 0.35, 0.70, 1.37)       # Table 5.16a
    assert set(lib.betas.values()) == {0.64}


def test_damage_probabilities_at_a_median_and_summing_to_one():
    p = vul.eq_damage_probabilities(np.array([0.26, 0.05, 3.0]), "URML-PC")
    assert p.sum(axis=-1) == pytest.approx([1, 1, 1])
    # at the extensive median, P(DS >= extensive) = P(ext) + P(complete) = 0.5
    assert p[0, 3] + p[0, 4] == pytest.approx(0.5)
    assert p[2, 4] > 0.99                                            # 3 g: almost surely complete


def test_mean_damage_ratio_against_an_independent_scipy_computation():
    pga = 0.2
    med = np.array([0.13, 0.17, 0.26, 0.37])
    poe = norm.cdf(np.log(pga / med) / 0.64)
    ds = np.array([poe[0] - poe[1], poe[1] - poe[2], poe[2] - poe[3], poe[3]])
    expected = float(ds @ np.array([0.02, 0.10, 0.447, 1.0]))
    got = vul.eq_mean_damage_ratio(np.array([pga]), np.array(["masonry/L/PC"], dtype=object),
                                   np.array(["RES1"], dtype=object))
    assert got[0] == pytest.approx(expected, rel=1e-12)
    # brick_concrete without a code: 0.7 URML-PC + 0.3 RM2L-PC (weighted mapping)
    rm = np.array([0.12, 0.15, 0.22, 0.41])
    poe2 = norm.cdf(np.log(pga / rm) / 0.64)
    ds2 = np.array([poe2[0] - poe2[1], poe2[1] - poe2[2], poe2[2] - poe2[3], poe2[3]])
    mix = 0.7 * expected + 0.3 * float(ds2 @ np.array([0.02, 0.10, 0.447, 1.0]))
    got2 = vul.eq_mean_damage_ratio(np.array([[pga]]), np.array(["brick_concrete/L/PC"], dtype=object),
                                    np.array(["RES1"], dtype=object))
    assert got2[0, 0] == pytest.approx(mix, rel=1e-12)
    assert np.isnan(vul.eq_mean_damage_ratio(np.array([np.nan]), np.array(["masonry/L/PC"], dtype=object),
                                             np.array(["RES1"], dtype=object))[0])


def test_every_census_taxonomy_has_a_mapping():
    lib = vul.eq_library()
    for st, (lmax, mmax) in vul.HEIGHT_BANDS.items():
        heights = ["L"] + (["M"] if lmax is not None else []) + (["H"] if mmax is not None else [])
        for h in heights:
            for d in vul.DESIGN_LEVELS:
                convs = lib.mapping[f"{st}/{h}/{d}"]
                assert math.isclose(sum(w for _, w in convs), 1.0)


def test_design_levels_follow_the_documented_rules():
    import pandas as pd

    df = pd.DataFrame([
        dict(setting="urban", design_code="gb50011_2010", fortification_intensity="7", professional_design="1", year_band="5"),
        dict(setting="urban", design_code="gb50011_2010", fortification_intensity="8", professional_design="1", year_band="5"),
        dict(setting="urban", design_code="gbj11_89", fortification_intensity="7", professional_design="1", year_band="3"),
        dict(setting="urban", design_code="unknown", fortification_intensity="7", professional_design="1", year_band="1"),
        dict(setting="urban", design_code="gb50011_2001", fortification_intensity="7", professional_design="0", year_band="4"),
        dict(setting="rural", seismic_measures="none", professional_design="0", year_band="3"),
        dict(setting="rural", seismic_measures="ring_beam tie_column rc_slab", professional_design="1", year_band="4"),
        dict(setting="rural", seismic_measures="ring_beam tie_column", professional_design="0", year_band="4"),
        dict(setting="rural", seismic_measures="ring_beam tie_column rc_slab", professional_design="1", year_band="1"),
        dict(setting="rural", seismic_measures="none", professional_design="0", year_band="3", retrofitted="1"),
    ])
    assert list(vul.design_levels(df)) == ["MC", "HC", "LC", "PC", "PC", "PC", "MC", "LC", "LC", "LC"]


def test_census_taxonomy_height_bands():
    import pandas as pd

    df = pd.DataFrame({"structure_type": ["masonry", "masonry", "rc_frame", "rc_frame", "earth_wood", None],
                       "floors": [2, 3, 7, 8, 2, 1], "setting": "rural", "seismic_measures": "none",
                       "professional_design": "0", "year_band": "3"})
    assert list(vul.census_taxonomy(df)) == ["masonry/L/PC", "masonry/M/PC", "rc_frame/M/PC", "rc_frame/H/PC",
                                             "earth_wood/L/PC", "other/L/PC"]


# --- flood and wind -------------------------------------------------------------------------------


def test_huizinga_asia_curves_at_published_depths():
    sec = np.array(["residential"] * 5 + ["commercial", "industrial"], dtype=object)
    d = np.array([0.0, 0.5, 1.0, 3.0, 7.0, 2.0, 1.5])
    assert vul.flood_damage_factor(d, sec) == pytest.approx([0.0, 0.327, 0.494, 0.870, 1.0, 0.763, 0.629])
    # linear between published depths
    assert vul.flood_damage_factor(np.array([0.75]), np.array(["residential"], dtype=object))[0] == \
        pytest.approx((0.327 + 0.494) / 2)


def test_flood_damages_only_storeys_under_water():
    ratio = vul.flood_damage_ratio(np.array([1.0, 1.0, 3.5]), np.array(["residential"] * 3, dtype=object),
                                   np.array([1, 6, 2]))
    assert ratio == pytest.approx([0.494, 0.494 / 6, 0.870 + (0.931 - 0.870) * 0.5])


def test_emanuel_wind_curve():
    f = vul.wind_curve()
    assert f.v_thresh == 25.7 and f.v_half == 80.2
    assert f(np.array([20.0, 25.7, 80.2]))[:3] == pytest.approx([0.0, 0.0, 0.5])
    v = np.linspace(20, 120, 50)
    assert np.all(np.diff(f(v)) >= 0)


def test_index_vulnerability_with_age_factor():
    import pandas as pd

    df = pd.DataFrame({"structure_type": ["earth_wood", "masonry", "rc_frame"], "year_band": ["1", "1", "4"],
                       "setting": ["rural", "urban", "urban"]})
    assert vul.index_vulnerability("geological", df) == pytest.approx([1.0, 0.96, 0.4])
    assert vul.index_vulnerability("drought", df) == pytest.approx([0.8, 0.3, 0.3])


# --- expected annual loss -------------------------------------------------------------------------


def test_eal_hand_computed_with_zero_anchor_and_tail():
    # points (λ, L): (0.5, 0) anchor, (0.1, 10), (0.01, 100); tail 0.01 × 100
    # = 0.4·(0+10)/2 + 0.09·(10+100)/2 + 1 = 2 + 4.95 + 1 = 7.95
    assert expected_annual_loss([10.0, 100.0], [10, 100], zero_loss_return_period=2) == pytest.approx(7.95)
    # order of the return periods does not matter; no tail
    assert expected_annual_loss([100.0, 10.0], [100, 10], zero_loss_return_period=2, tail=False) == pytest.approx(6.95)


def test_eal_single_point_is_probability_times_loss():
    assert expected_annual_loss([[50.0], [0.0]], [50]) == pytest.approx([1.0, 0.0])


def test_eal_makes_losses_non_decreasing_and_rejects_bad_input():
    # 20-yr loss below the 10-yr loss is raised to it
    assert expected_annual_loss([10.0, 5.0], [10, 20]) == pytest.approx(0.05 * 10 + 0.05 * 10)
    with pytest.raises(RiskError):
        expected_annual_loss([1.0, 2.0], [10])
    with pytest.raises(RiskError):
        expected_annual_loss([1.0], [10], zero_loss_return_period=20)


# --- zoning ---------------------------------------------------------------------------------------


def test_fixed_levels_at_the_edges():
    lv, zb = classify_levels([0.8, 0.7999, 0.6, 0.4, 0.2, 0.1999, 0.0, np.nan])
    assert lv.tolist() == [1, 2, 2, 3, 4, 5, 5, 0]
    assert zb.method == "fixed" and zb.breaks == (0.2, 0.4, 0.6, 0.8)


@pytest.mark.parametrize("method", ["fisher_jenks", "quantiles"])
def test_breaks_equal_mapclassify(method):
    import mapclassify

    rng = np.random.default_rng(7)
    v = np.concatenate([rng.gamma(2.0, 0.1, 400), np.zeros(50)])
    lv, zb = classify_levels(v, method)
    pos = v[v > 0]
    mc = (mapclassify.FisherJenks(pos, k=5) if method == "fisher_jenks" else mapclassify.Quantiles(pos, k=5))
    assert zb.breaks == pytest.approx(tuple(mc.bins[:4]))
    assert zb.method == method and zb.right_closed
    assert (lv[v > 0] == 5 - mc.yb).all()
    assert (lv[v == 0] == 5).all()


def test_too_few_values_for_jenks_fall_back_to_fixed_and_say_so():
    lv, zb = classify_levels([0.0, 0.5, 0.5, 0.9], "fisher_jenks")
    assert zb.method == "fixed" and "fewer than 5" in zb.source_en
    assert lv.tolist() == [5, 3, 3, 1]


def test_unknown_method_is_an_error():
    with pytest.raises(RiskError):
        classify_levels([0.1], "jenks_sampled")


def test_levels_from_right_closed_breaks():
    from risk.zoning import ZoningBreaks

    zb = ZoningBreaks("quantiles", (1.0, 2.0, 3.0, 4.0), "", "", right_closed=True)
    assert levels_from_breaks([1.0, 1.5, 4.0, 4.1], zb).tolist() == [5, 4, 2, 1]


def test_prevention_zone_rule():
    comp = np.array([2, 4, 3, 4, 5])
    risk = np.array([[3, 3], [1, 4], [4, 4], [2, 5], [2, 5]])
    haz = np.array([[3, 3], [2, 4], [4, 4], [3, 5], [4, 5]])
    assert prevention_zone(comp, risk, haz).tolist() == ["key", "key", "secondary", "secondary", "general"]


# --- registry -------------------------------------------------------------------------------------


def test_registry_ids_and_weights():
    assert RISK_HAZARD_IDS == ("earthquake", "flood", "storm_surge", "wind", "geological", "rainstorm", "drought", "fire")
    assert sum(comprehensive_weights().values()) == pytest.approx(1.0)
    assert get_risk_hazard("flood").zero_loss_return_period == 2.0
    with pytest.raises(UnknownRiskHazard) as e:
        get_risk_hazard("tsunami")
    assert "earthquake" in str(e.value)


def test_prevention_rule_text_matches_the_rule():
    """The sentence printed on maps and in the report describes what prevention_zone() does."""
    import numpy as np

    from risk.zoning import PREVENTION_RULE_ZH, prevention_zone

    assert "重点防治区" in PREVENTION_RULE_ZH and "次重点防治区" in PREVENTION_RULE_ZH
    # one unit per clause of the sentence
    c = np.array([2, 5, 3, 5, 5])
    r = np.array([[5], [1], [5], [2], [1]])
    h = np.array([[5], [2], [5], [3], [4]])
    assert list(prevention_zone(c, r, h)) == ["key", "key", "secondary", "secondary", "general"]
