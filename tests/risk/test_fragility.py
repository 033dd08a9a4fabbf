"""Fragility primitives against hand-computed values and OpenQuake's clipping rules."""

import math

import numpy as np
import pytest
from scipy import stats

from risk.fragility import (OQ_MIN_FRACTION, ContinuousFragility, DiscreteFragility, FragilityError,
                            FragilityModel, continuous_from_moments, damage_state_probabilities, lognormal_poe)

PHI_1 = 0.8413447460685429  # standard normal CDF at 1


# -------------------------------------------------------------------------------- moments → (median, β)

def test_continuous_from_moments_hand_values():
    # m = 0.2, s = 0.05: median = 0.04 / sqrt(0.0425) = 0.194028500…, beta = sqrt(ln 1.0625) = 0.246220677…
    median, beta = continuous_from_moments(0.2, 0.05)
    assert median == pytest.approx(0.19402850002906638, rel=1e-12)
    assert beta == pytest.approx(0.24622067706923975, rel=1e-12)
    # m = 0.25, s = 0.08
    median, beta = continuous_from_moments(0.25, 0.08)
    assert median == pytest.approx(0.23810603679983106, rel=1e-12)
    assert beta == pytest.approx(0.31223328022050617, rel=1e-12)


@pytest.mark.parametrize("m, s", [(0.2, 0.05), (0.4, 0.12), (1.3, 0.9), (0.05, 0.0001)])
def test_moments_are_the_lognormal_arithmetic_moments(m, s):
    # a lognormal with this median and beta has arithmetic mean m and standard deviation s
    median, beta = continuous_from_moments(m, s)
    assert median * math.exp(beta ** 2 / 2) == pytest.approx(m, rel=1e-12)
    assert m * math.sqrt(math.exp(beta ** 2) - 1) == pytest.approx(s, rel=1e-9)


def test_moments_vectorised_and_validated():
    med, beta = continuous_from_moments(np.array([0.2, 0.25]), np.array([0.05, 0.08]))
    assert med.shape == beta.shape == (2,)
    assert continuous_from_moments(0.3, 0.0) == (0.3, 0.0)
    with pytest.raises(FragilityError, match="mean"):
        continuous_from_moments(0.0, 0.1)
    with pytest.raises(ValueError):
        continuous_from_moments(0.2, -0.1)


# ------------------------------------------------------------------------------------- lognormal_poe

def test_lognormal_poe_hand_values():
    assert lognormal_poe(0.3, 0.3, 0.5) == pytest.approx(0.5)
    assert lognormal_poe(0.3 * math.exp(0.5), 0.3, 0.5) == pytest.approx(PHI_1, rel=1e-12)
    assert lognormal_poe(0.3 * math.exp(-0.5), 0.3, 0.5) == pytest.approx(1 - PHI_1, rel=1e-12)
    assert lognormal_poe(0.0, 0.3, 0.5) == 0.0


def test_lognormal_poe_step_when_beta_zero_and_broadcasts():
    np.testing.assert_array_equal(lognormal_poe([0.1, 0.3, 0.5], 0.3, 0.0), [0.0, 1.0, 1.0])
    out = lognormal_poe(np.array([[0.1], [0.2]]), np.array([0.1, 0.2]), 0.4)
    assert out.shape == (2, 2)
    assert out[0, 0] == pytest.approx(0.5) and out[1, 1] == pytest.approx(0.5)


# ------------------------------------------------------------------------- OpenQuake continuous function

def test_continuous_matches_scipy_lognorm_as_openquake_computes_it():
    f = ContinuousFragility("LS1", 0.25, 0.08, min_iml=0.1, max_iml=9.9)
    x = np.array([0.12, 0.2, 0.25, 0.4, 1.0])
    sigma = math.sqrt(math.log(0.08 ** 2 / 0.25 ** 2 + 1))
    mu = 0.25 ** 2 / math.sqrt(0.08 ** 2 + 0.25 ** 2)
    np.testing.assert_allclose(f(x), stats.lognorm.cdf(x, sigma, scale=mu), rtol=1e-12)


def test_continuous_clips_to_min_and_max_iml():
    f = ContinuousFragility("LS1", 0.25, 0.08, min_iml=0.1, max_iml=0.5)
    got = f([0.0, 0.05, 0.1, 0.5, 3.0])
    assert got[0] == got[1] == got[2] > 0  # below minIML the curve is held at minIML (OQ)
    assert got[3] == got[4]
    x = np.array([0.2, 0.3])
    f([x])  # the caller's array is never modified
    np.testing.assert_array_equal(x, [0.2, 0.3])


def test_continuous_no_damage_limit_applies_after_clipping():
    # OQ compares the *clipped* levels with noDamageLimit: below a minIML above the limit, damage stays
    f = ContinuousFragility("LS1", 0.25, 0.08, min_iml=0.1, max_iml=2.0, no_damage_limit=0.05)
    assert f([0.01])[0] == pytest.approx(f([0.1])[0]) and f([0.01])[0] > 0
    g = ContinuousFragility("LS1", 0.25, 0.08, min_iml=0.0, max_iml=0.0, no_damage_limit=0.15)
    np.testing.assert_array_equal(g([0.1, 0.15]), [0.0, 0.0])
    assert g([0.16])[0] > 0


def test_continuous_rejects_bad_bounds():
    with pytest.raises(FragilityError, match="minIML"):
        ContinuousFragility("LS1", 0.2, 0.05, min_iml=1.0, max_iml=0.5)


# --------------------------------------------------------------------------- OpenQuake discrete function

IMLS = (0.1, 0.2, 0.3, 0.5)
POES = (0.0073, 0.35, 0.74, 0.99)


def test_discrete_linear_interpolation_hand_values():
    f = DiscreteFragility("LS1", IMLS, POES)
    np.testing.assert_allclose(f([0.1, 0.15, 0.25, 0.4, 0.5]),
                               [0.0073, (0.0073 + 0.35) / 2, (0.35 + 0.74) / 2, (0.74 + 0.99) / 2, 0.99])


def test_discrete_above_last_level_holds_last_poe():
    f = DiscreteFragility("LS1", IMLS, POES)
    np.testing.assert_array_equal(f([0.6, 5.0]), [0.99, 0.99])


def test_discrete_below_first_level_without_limit_is_zero():
    f = DiscreteFragility("LS1", IMLS, POES)
    np.testing.assert_array_equal(f([0.05, 0.0999]), [0.0, 0.0])
    np.testing.assert_array_equal(f([0.0, 0.0]), [0.0, 0.0])


def test_discrete_zero_intensity_is_undamaged_whatever_the_batch():
    f = DiscreteFragility("LS1", (0.0, 0.1), (0.05, 0.5))  # degenerate: PoE 0.05 at IML 0
    assert f([0.0])[0] == 0.0 and f([0.0, 0.1])[0] == 0.0  # same alone or with other values
    assert f([0.05])[0] == pytest.approx(0.275)


def test_discrete_no_damage_limit_below_first_level_starts_curve_at_zero():
    # OQ FragilityFunctionList.build prepends (noDamageLimit, 0) when noDamageLimit <= imls[0]
    f = DiscreteFragility("LS1", (0.1, 0.2), (0.2, 0.6), no_damage_limit=0.05)
    np.testing.assert_allclose(f([0.04, 0.05, 0.075, 0.1, 0.15]), [0.0, 0.0, 0.1, 0.2, 0.4])


def test_discrete_no_damage_limit_inside_the_range_zeroes_below_it():
    f = DiscreteFragility("LS1", (0.0, 0.1, 0.2), (0.0, 0.2, 0.6), no_damage_limit=0.15)
    np.testing.assert_allclose(f([0.05, 0.1499, 0.15, 0.2]), [0.0, 0.0, 0.4, 0.6])


def test_discrete_zero_limit_means_no_limit():
    # noDamageLimit="0" in NRML is falsy in OQ: the curve is used as given
    assert DiscreteFragility("LS1", (0.0, 0.1), (0.0, 0.5), no_damage_limit=0.0)([0.05])[0] == pytest.approx(0.25)


@pytest.mark.parametrize("imls, poes, match", [
    ((0.1, 0.2), (0.1,), "levels"),
    ((0.2, 0.1), (0.1, 0.2), "increasing"),
    ((0.1, 0.2), (0.1, 1.2), "0..1"),
    ((), (), "at least one"),
])
def test_discrete_validation(imls, poes, match):
    with pytest.raises(FragilityError, match=match):
        DiscreteFragility("LS1", imls, poes)


# -------------------------------------------------------------------------- damage-state probabilities

def test_damage_state_probabilities_pairwise_differences():
    np.testing.assert_allclose(damage_state_probabilities([0.8, 0.3]), [0.2, 0.5, 0.3])
    out = damage_state_probabilities(np.array([[0.8, 0.3, 0.1], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.2, 0.5, 0.2, 0.1], [1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(out.sum(axis=-1), 1.0)


def test_damage_state_probabilities_clip_crossing_curves_and_specks():
    # crossing curves (P2 > P1) would give a negative fraction; OQ zeroes fractions below 1e-7
    np.testing.assert_allclose(damage_state_probabilities([0.3, 0.4]), [0.7, 0.0, 0.4])
    np.testing.assert_array_equal(damage_state_probabilities([5e-8, 0.0], OQ_MIN_FRACTION), [1 - 5e-8, 0, 0])


def _model():
    return FragilityModel(("LS1", "LS2"), {
        "RC": [ContinuousFragility("LS1", 0.2, 0.05, 0.1, 9.9), ContinuousFragility("LS2", 0.35, 0.1, 0.1, 9.9)],
        "RM": [DiscreteFragility("LS1", IMLS, POES), DiscreteFragility("LS2", IMLS, (0.001, 0.02, 0.25, 0.72))],
    }, imt="PGA", imt_by_taxonomy={"RM": "SA(0.3)"})


def test_model_damage_fractions_shape_and_values():
    m = _model()
    assert m.damage_states == ("no_damage", "LS1", "LS2")
    assert m.imt_for("RC") == "PGA" and m.imt_for("RM") == "SA(0.3)"
    fr = m.damage_fractions("RM", np.array([[0.15, 0.5], [0.3, 0.0]]))
    assert fr.shape == (2, 2, 3)
    np.testing.assert_allclose(fr[0, 1], [0.01, 0.99 - 0.72, 0.72])
    np.testing.assert_allclose(fr[1, 1], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(fr.sum(axis=-1), 1.0)


def test_model_errors_name_the_problem():
    with pytest.raises(FragilityError, match="W.*RC, RM"):
        _model().poes("W", [0.1])
    with pytest.raises(FragilityError, match="LS2.*LS1|expected"):
        FragilityModel(("LS1", "LS2"), {"RC": [ContinuousFragility("LS2", 0.3, 0.1),
                                               ContinuousFragility("LS1", 0.2, 0.1)]}, "PGA")
