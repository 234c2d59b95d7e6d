import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from greenhp.analysis.comparison import (
    cliffs_delta, cliffs_magnitude, compare_mutants, outcome, verdict, win_tie_loss,
)
from greenhp.analysis.correlation import bh_qvalues, correlations
from greenhp.analysis.pair_sensitivity import SENS_MUTANT_COLUMNS, sensitivity
from greenhp.analysis.tables import validate_runs


# ------------------------------------------------------------------ Benjamini-Hochberg
@pytest.mark.parametrize("p", [
    [0.01, 0.04, 0.03, 0.2, 0.5, 0.001, 0.04],
    list(np.random.default_rng(3).uniform(0, 0.2, 40)),
    [1.0, 1.0, 0.9],
    [0.05],
])
def test_bh_matches_scipy(p):
    np.testing.assert_allclose(bh_qvalues(p), sps.false_discovery_control(p, method="bh"))


def test_bh_ignores_nan():
    q = bh_qvalues([0.01, np.nan, 0.04])
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2]], sps.false_discovery_control([0.01, 0.04]))


# ------------------------------------------------------------------ Cliff's delta
@pytest.mark.parametrize("x, y, expected", [
    ([4, 5, 6], [1, 2, 3], 1.0),                 # all x above
    ([1, 2, 3], [4, 5, 6], -1.0),                # all x below
    ([1, 2], [1, 2], 0.0),                       # ties: (0 + -1 + 1 + 0)/4
    ([1, 2, 3], [2], 0.0),                       # -1, 0, +1
    ([3, 3, 4], [1, 3], 4 / 6),                  # 3:+1,0  3:+1,0  4:+1,+1
])
def test_cliffs_delta_hand(x, y, expected):
    assert cliffs_delta(x, y) == pytest.approx(expected)


def test_cliffs_delta_antisymmetric_and_nan():
    x, y = [1.0, 7.0, 2.0, 9.0], [3.0, 3.0, 8.0]
    assert cliffs_delta(x, y) == pytest.approx(-cliffs_delta(y, x))
    # 1:-1-1-1, 7:+1+1-1, 2:-1-1-1, 9:+1+1+1 -> (-3+1-3+3)/12
    assert cliffs_delta(x, y) == pytest.approx(-2 / 12)
    assert np.isnan(cliffs_delta([], [1.0]))


@pytest.mark.parametrize("d, label", [(0.0, "negligible"), (0.1469, "negligible"), (0.147, "small"),
                                      (-0.329, "small"), (0.33, "medium"), (0.474, "large"),
                                      (-1.0, "large")])
def test_magnitude(d, label):
    assert cliffs_magnitude(d) == label


# ------------------------------------------------------------------ verdict rule edges
def test_verdict_edges():
    # convention: p == alpha is significant; |delta| == threshold is a difference
    assert verdict(0.05, 0.5, 0.05, 0.147) == "higher"
    assert verdict(0.0500001, 0.5, 0.05, 0.147) == "same"
    assert verdict(0.01, -0.147, 0.05, 0.147) == "lower"
    assert verdict(0.01, 0.1469, 0.05, 0.147) == "same"
    assert np.isnan(verdict(np.nan, 0.5))
    assert outcome("lower", lower_is_better=True) == "better"
    assert outcome("lower", lower_is_better=False) == "worse"


# ------------------------------------------------------------------ correlations
def test_correlations_match_scipy(runs):
    runs = validate_runs(runs)
    c = correlations(runs, n_boot=100, seed=0)
    ok = runs[(runs.status == "ok") & (runs.subject == "digits_cnn") & (runs["mode"] == "single")
              & runs.hyperparameter.isin(["none", "lr"])]
    x, y = ok["hp_lr"].to_numpy(), ok["metric_value"].to_numpy()
    for method, fn in (("pearson", sps.pearsonr), ("spearman", sps.spearmanr)):
        row = c[(c.subject == "digits_cnn") & (c["mode"] == "single") & (c.hyperparameter == "lr")
                & (c.metric == "metric_value") & (c.method == method)].iloc[0]
        ref = fn(x, y)
        assert row.coefficient == pytest.approx(ref.statistic)
        assert row.p_value == pytest.approx(ref.pvalue)
        assert row.n == len(x) == 19  # one diverged run excluded
        assert row.n_excluded == 1
        assert row.ci_low <= row.coefficient <= row.ci_high
    # energy grows with epochs in the synthetic data
    e = c[(c.hyperparameter == "epochs") & (c.metric == "total_energy_j") & (c.method == "spearman")]
    assert (e.coefficient > 0.9).all()


def test_correlation_bh_family(runs):
    c = correlations(validate_runs(runs), n_boot=20)
    fam = c[(c.subject == "mlp") & (c["mode"] == "pair") & (c.method == "pearson")]
    np.testing.assert_allclose(fam.q_value, sps.false_discovery_control(fam.p_value))
    assert len(fam) == 3 * 8  # 3 hps x 8 metrics (net energy all NaN: skipped)
    assert "total_net_energy_j" not in set(c.metric)
    assert "gpu_share_j" not in set(c[c["mode"] == "single"].metric)


def test_bootstrap_reproducible(runs):
    runs = validate_runs(runs)
    a = correlations(runs, n_boot=200, seed=7)
    b = correlations(runs, n_boot=200, seed=7)
    d = correlations(runs, n_boot=200, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.ci_low.dropna(), d.ci_low.dropna())
    # a test's interval does not depend on which other groups are analysed
    one = correlations(runs[runs.subject == "mlp"], n_boot=200, seed=7)
    pd.testing.assert_frame_equal(
        one[["ci_low", "ci_high"]].reset_index(drop=True),
        a[a.subject == "mlp"][["ci_low", "ci_high"]].reset_index(drop=True))


def test_constant_x_gives_nan_with_note(runs_factory):
    raw = runs_factory(mutants={"gamma": [0.7, 0.7]})
    raw["run_id"] = [f"r{i}" for i in range(len(raw))]  # the two mutants share an id
    runs = validate_runs(raw)
    c = correlations(runs, n_boot=50)
    assert c.coefficient.isna().all()
    assert c.note.str.contains("constant hyperparameter").all()


# ------------------------------------------------------------------ mutant comparisons
def test_compare_mutants_against_scipy(runs):
    runs = validate_runs(runs)
    comp = compare_mutants(runs, n_boot=200, seed=1)
    r = comp[(comp.mutant_id == "digits_cnn__epochs__x5") & (comp["mode"] == "single")
             & (comp.metric == "total_energy_j")].iloc[0]
    sel = runs[(runs.subject == "digits_cnn") & (runs["mode"] == "single")]
    a = sel[sel.hyperparameter == "none"].total_energy_j.to_numpy()
    b = sel[sel.mutant_id == "digits_cnn__epochs__x5"].total_energy_j.to_numpy()
    t = sps.ttest_ind(b, a, equal_var=False)
    assert r.t_statistic == pytest.approx(t.statistic) and r.t_p == pytest.approx(t.pvalue)
    assert r.mwu_p == pytest.approx(sps.mannwhitneyu(b, a).pvalue)
    assert r.cliffs_delta == -1.0 and r.magnitude == "large"
    assert r.verdict == "lower" and r.outcome == "better"
    assert r.rel_change == pytest.approx(b.mean() / a.mean() - 1)
    assert r.rel_change_ci_low < r.rel_change < r.rel_change_ci_high
    # diverged run counted, not used
    d = comp[(comp.mutant_id == "digits_cnn__lr__x3") & (comp["mode"] == "single")
             & (comp.metric == "total_energy_j")].iloc[0]
    assert d.n_mutant == 4 and d.n_excluded_mutant == 1
    # pair rows carry the partner; every mutant x mode has a task-metric row
    assert set(comp[comp["mode"] == "pair"].partner) == {"other__original"}
    assert (comp.metric == "metric_value").sum() == 2 * 2 * 9
    # accuracy falls for lr mutants -> worse performance
    acc = comp[(comp.mutant_id == "digits_cnn__lr__x0.1") & (comp.metric == "metric_value")]
    assert set(acc.verdict) == {"lower"} and set(acc.outcome) == {"worse"}


def test_compare_mutants_mwu_and_loss_direction(runs_factory):
    runs = validate_runs(runs_factory(metric_name="loss", mutants={"lr": [0.01]}))
    comp = compare_mutants(runs, n_boot=50, test="mwu")
    r = comp[comp.metric == "metric_value"].iloc[0]
    assert r.p_value == r.mwu_p and r.test == "mwu"
    # the "loss" fell from ~0.95 to ~0.85: lower is better for a loss
    assert r.verdict == "lower" and r.outcome == "better"
    with pytest.raises(ValueError):
        compare_mutants(runs, test="t")


def test_too_few_runs_gives_nan_verdict(runs_factory):
    statuses = {("digits_cnn__lr__x0.1", k): "failed" for k in range(4)}
    runs = validate_runs(runs_factory(mutants={"lr": [0.1]}, statuses=statuses))
    comp = compare_mutants(runs, n_boot=50)
    assert comp.verdict.isna().all()
    assert comp.note.str.contains("fewer than 2").all()
    assert (comp.n_excluded_mutant == 4).all()


def test_all_nan_gpu_is_skipped_not_zero(runs_factory):
    runs = runs_factory(mutants={"epochs": [5.0]})
    runs["gpu_energy_j"] = np.nan
    runs = validate_runs(runs)
    comp = compare_mutants(runs, n_boot=50)
    assert "gpu_energy_j" not in set(comp.metric)
    assert "gpu_energy_j" not in set(correlations(runs, n_boot=20).metric)


# ------------------------------------------------------------------ win / tie / loss
def test_win_tie_loss_counts(runs):
    comp = compare_mutants(validate_runs(runs), n_boot=50)
    wtl = win_tie_loss(comp)
    n_mutants = {"epochs": 4, "lr": 3, "gamma": 2}
    sums = wtl.groupby(["subject", "mode", "hyperparameter", "energy_metric"])["count"].sum()
    for (subject, mode, hp, metric), total in sums.items():
        assert total == n_mutants[hp], (subject, mode, hp, metric)
    cell = wtl[(wtl.subject == "digits_cnn") & (wtl["mode"] == "single") & (wtl.hyperparameter == "epochs")
               & (wtl.energy_metric == "total_energy_j")].set_index(["energy_verdict", "performance_verdict"])["count"]
    assert len(cell) == 9
    assert cell[("lower", "same")] == 2 and cell[("higher", "same")] == 2


# ------------------------------------------------------------------ sensitivity
def test_sensitivity_pair_amplifies(runs):
    runs = validate_runs(runs)
    comp = compare_mutants(runs, n_boot=50)
    per, tests, cv = sensitivity(runs, comp)
    assert len(per) == 2 * 9
    e5 = per[(per.subject == "digits_cnn") & (per.mutant_id == "digits_cnn__epochs__x5")].iloc[0]
    assert e5.rel_change_single == pytest.approx(-0.5, abs=0.03)
    assert e5.rel_change_pair == pytest.approx(-0.75, abs=0.03)
    overall = tests[(tests.scope == "overall") & (tests.kind == "matched")].iloc[0]
    d = per.abs_change_diff.to_numpy()
    assert overall.n == 18
    assert overall.wilcoxon_p == pytest.approx(sps.wilcoxon(d).pvalue)
    assert overall.ttest_p == pytest.approx(sps.ttest_rel(per.rel_change_pair.abs(), per.rel_change_single.abs()).pvalue)
    assert overall.mean_diff > 0
    assert set(tests[tests.kind == "matched"].scope) == {
        "digits_cnn", "mlp", "overall", "digits_cnn beside other__original", "mlp beside other__original"}
    row = cv[(cv.mutant_id == "mlp__original") & (cv["mode"] == "single") & (cv.metric == "total_energy_j")].iloc[0]
    v = runs[(runs.mutant_id == "mlp__original") & (runs["mode"] == "single")].total_energy_j
    assert row.cv == pytest.approx(v.std(ddof=1) / v.mean())
    assert 0.001 < row.cv < 0.05


def test_sensitivity_without_pair(runs_factory):
    runs = validate_runs(runs_factory())
    per, tests, cv = sensitivity(runs, compare_mutants(runs, n_boot=20))
    assert per.empty and list(per.columns) == SENS_MUTANT_COLUMNS
    matched = tests[tests.kind == "matched"].iloc[-1]
    assert matched.n == 0 and np.isnan(matched.wilcoxon_p)
    un = tests[tests.kind == "unmatched"].iloc[0]
    assert un.n_pair == 0 and np.isnan(un.mwu_p)


def test_missing_original_or_partner_gives_note(runs_factory):
    runs = runs_factory(modes=("single", "pair"), mutants={"epochs": [5.0]})
    # pair-mode mutant trained beside a partner the original never had
    runs.loc[(runs["mode"] == "pair") & (runs.hyperparameter != "none"), "partner"] = "elsewhere"
    comp = compare_mutants(validate_runs(runs), n_boot=20)
    pair = comp[comp["mode"] == "pair"]
    assert pair.verdict.isna().all() and pair.note.str.contains("partner 'elsewhere'").all()
    assert comp[comp["mode"] == "single"].verdict.notna().all()
    no_orig = validate_runs(runs[runs.hyperparameter != "none"])
    assert compare_mutants(no_orig, n_boot=20).note.str.startswith("no original run").all()
