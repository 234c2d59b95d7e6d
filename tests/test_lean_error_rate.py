"""The lean design's two-stage decision and the false-positive rate docs/lean.md documents for it
("What it can get wrong"): simulated, seeded."""
import numpy as np
import pytest
from scipy import stats

from greenhp.lean.error_rate import simulate, t_pvalues


@pytest.mark.parametrize("test", ["welch", "student"])
def test_t_pvalues_are_scipys(test):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((50, 3)), rng.standard_normal((50, 5)) + 0.5
    want = stats.ttest_ind(a, b, axis=1, equal_var=test == "student").pvalue
    assert np.allclose(t_pvalues(a, b, test), want)


@pytest.mark.parametrize("test", ["welch", "student"])
@pytest.mark.parametrize("first_wave", [2, 3])
@pytest.mark.parametrize("band", [(0.005, 0.3), (0.005, 0.2)])
def test_documented_band_keeps_the_false_positive_rate_at_alpha(first_wave, test, band):
    # docs/lean.md: with the band's low end at alpha / 10 (0.005) and its high end 0.2 or 0.3, the two-stage
    # design calls a difference under the null no more often than alpha (+ 0.002, the simulation's
    # error at 40,000 comparisons), 5 repetitions, Welch's or Student's t
    for other_metric in (False, True):
        rate = simulate(first_wave, 5, band, alpha=0.05, n_sim=40000, seed=3, test=test,
                        other_metric=other_metric)
        assert rate.rate_lean <= 0.052


def test_a_low_end_above_alpha_over_5_inflates_the_rate():
    # docs/lean.md: first wave 2, band [0.02, 0.3): about 0.055 against the fixed-n test's 0.043 (Welch)
    rate = simulate(2, 5, (0.02, 0.3), alpha=0.05, n_sim=20000, seed=3, other_metric=False)
    assert rate.rate_lean > 0.05 > rate.rate_fixed
    assert rate.rate_lean - rate.rate_fixed > 0.008


def test_power_stays_close_to_the_fixed_design():
    # an effect of 2 sd: the two-stage design finds it within 10 points of the fixed-n test
    rate = simulate(2, 5, (0.005, 0.3), effect=2.0, n_sim=20000, seed=3)
    assert rate.rate_fixed - 0.10 < rate.rate_lean <= rate.rate_fixed + 0.01
    assert 0.4 < rate.mutant_runs < 1.0
