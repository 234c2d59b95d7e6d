import math

import numpy as np
import pytest

from greenhp.analysis.recommend import J_PER_KWH, pareto_front, pareto_mask, recommend
from greenhp.analysis.comparison import compare_mutants
from greenhp.analysis.tables import validate_runs


def _acc(hps, mode):
    if hps["epochs"] < 4:
        return 0.80  # too short: accuracy collapses
    if hps["epochs"] > 12:
        return 0.96
    return 0.95 - 0.05 * abs(math.log10(hps["lr"]))


def test_recommend_known_answer(runs_factory):
    runs = validate_runs(runs_factory(mutants={"epochs": [3.0, 5.0, 15.0], "lr": [0.1]},
                                      accuracy=_acc))
    comp = compare_mutants(runs, n_boot=100)
    recs = recommend(comp, runs, alpha=0.05, carbon_g_per_kwh=400.0, price_per_kwh=0.5)
    # epochs 3 saves most but loses accuracy; 15 costs more; lr 0.1 saves nothing
    assert list(recs.mutant_id) == ["digits_cnn__epochs__x5"]
    r = recs.iloc[0]
    assert r["rank"] == 1 and r.metric_verdict == "same"
    assert r.saving_pct == pytest.approx(50.0, abs=3.0)
    assert r.saving_j == pytest.approx(r.energy_original_j - r.energy_mutant_j)
    assert r.saving_kwh == pytest.approx(r.saving_j / J_PER_KWH)
    assert r.saving_co2e_g == pytest.approx(r.saving_kwh * 400.0)
    assert r.cost_saving == pytest.approx(r.saving_kwh * 0.5)
    assert r.saving_pct_ci_low < r.saving_pct < r.saving_pct_ci_high
    assert not r.estimated


def test_recommend_ranks_by_saving_and_marks_estimates(runs_factory):
    runs = validate_runs(runs_factory(mutants={"epochs": [8.0, 5.0, 6.0]}, estimated=True))
    recs = recommend(compare_mutants(runs, n_boot=50), runs)
    assert list(recs.value) == [5.0, 6.0, 8.0]
    assert list(recs["rank"]) == [1, 2, 3]
    assert recs.estimated.all() and (recs.energy_methods == "estimate_cpu_time").all()


def test_recommend_empty_keeps_columns(runs_factory):
    runs = validate_runs(runs_factory(mutants={"epochs": [15.0]}))
    recs = recommend(compare_mutants(runs, n_boot=20), runs)
    assert recs.empty and "cost_saving" in recs.columns


def test_pareto_mask_hand():
    e = [1.0, 2.0, 2.0, 3.0, np.nan, 0.5]
    p = [0.5, 0.9, 0.9, 0.8, 1.0, 0.4]
    # (2,0.9) twice: both optimal (neither strictly dominates); (3,0.8) dominated; NaN never
    assert list(pareto_mask(e, p)) == [True, True, True, False, False, True]


def test_pareto_front_known(runs_factory):
    runs = validate_runs(runs_factory(mutants={"epochs": [3.0, 5.0, 15.0], "lr": [0.1]},
                                      accuracy=_acc, noise=0.0, acc_noise=0.0))
    pf = pareto_front(runs)
    opt = set(pf.loc[pf.pareto_optimal, "mutant_id"])
    assert opt == {"digits_cnn__epochs__x3", "digits_cnn__epochs__x5", "digits_cnn__epochs__x15"}
    orig = pf[pf.mutant_id == "digits_cnn__original"].iloc[0]
    assert orig.mean_energy_j == pytest.approx(1000.0) and orig.mean_metric == pytest.approx(0.95)


def test_pareto_front_lower_is_better_metric(runs_factory):
    runs = validate_runs(runs_factory(mutants={"epochs": [5.0, 15.0]}, metric_name="loss",
                                      accuracy=lambda h, m: 1.0 / h["epochs"], noise=0, acc_noise=0))
    pf = pareto_front(runs).set_index("mutant_id")
    # loss falls with epochs: every configuration trades energy for loss -> all optimal
    assert pf.pareto_optimal.all()
    runs2 = validate_runs(runs_factory(mutants={"epochs": [5.0, 15.0]}, metric_name="loss",
                                       accuracy=lambda h, m: h["epochs"], noise=0, acc_noise=0))
    pf2 = pareto_front(runs2).set_index("mutant_id")
    assert list(pf2.index[pf2.pareto_optimal]) == ["digits_cnn__epochs__x5"]
