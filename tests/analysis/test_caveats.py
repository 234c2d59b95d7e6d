"""Test-agreement caveats only where they carry information (issue 22, item 3): with 3 runs a side
Mann-Whitney U cannot reach p < 0.05 (its smallest two-sided p is 2 / C(6, 3) = 0.1), so a
significant t-test "disagreeing" with it says nothing. Such comparisons are named once, with the
repetitions the rank test needs; genuine disagreements are still listed."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from greenhp.analysis import analyse
from greenhp.analysis.comparison import mwu_min_p
from greenhp.analysis.summary import disagreement_lines, mwu_runs_needed, write_summary
from greenhp.analysis.tables import validate_runs


@pytest.mark.parametrize("n1,n2", [(2, 2), (3, 3), (2, 5), (4, 4), (3, 10), (8, 8)])
def test_smallest_p_without_ties_is_the_exact_one(n1, n2):
    a, b = np.arange(n1) + 0.5, np.arange(n2) + 100.0
    assert mwu_min_p(a, b) == pytest.approx(2 / math.comb(n1 + n2, n1))
    assert mwu_min_p(a, b) == pytest.approx(sps.mannwhitneyu(b, a).pvalue)  # what scipy gives there


def test_smallest_p_follows_the_method_scipy_uses():
    # ties: scipy switches to the normal approximation (the p = 0.077 with 3 runs a side)
    a, b = np.array([1.0, 1.0, 3.0]), np.array([4.0, 5.0, 6.0])
    assert mwu_min_p(a, b) == pytest.approx(sps.mannwhitneyu(b, a).pvalue) == pytest.approx(0.0765, abs=1e-4)
    # both sides above 8: the normal approximation, not the exact 2 / C(18, 9)
    a, b = np.arange(9.0), np.arange(9.0) + 50
    assert mwu_min_p(a, b) == pytest.approx(sps.mannwhitneyu(b, a).pvalue)
    assert mwu_min_p(a, b) > 2 / math.comb(18, 9)
    # an asymmetric tie structure: the most extreme split may be at either end
    a, b = np.array([1.0, 1.0, 1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    both = [sps.mannwhitneyu(x[:3], x[3:]).pvalue for x in (np.sort(np.r_[a, b]), np.sort(np.r_[a, b])[::-1])]
    assert mwu_min_p(a, b) == pytest.approx(min(both))


def test_runs_needed():
    assert mwu_runs_needed(0.05) == 4 and mwu_runs_needed(0.01) == 5 and mwu_runs_needed(0.1) == 3


def _table(n: int) -> pd.DataFrame:
    """One original, two mutants that clearly use less energy (t-test p << 0.05), n runs each."""
    rows = []
    for mid, h, lr, base in (("s__original", "none", 1.0, 1000.0), ("s__lr__x0.1", "lr", 0.1, 800.0),
                             ("s__lr__x3", "lr", 3.0, 700.0)):
        for i in range(n):
            rows.append(dict(run_id=f"{mid}-{i}", subject="s", mutant_id=mid, hyperparameter=h, status="ok",
                             total_energy_j=base + 3.0 * i, accuracy=0.9 + 0.001 * ((i * 7 + lr * 3) % 5),
                             hp_lr=lr))
    return pd.DataFrame(rows)


def test_three_repetitions_say_so_once_instead_of_listing_every_comparison(tmp_path):
    runs = validate_runs(_table(3))
    tables = analyse(runs, n_boot=100)
    comp = tables["comparisons"]
    energy = comp[comp["metric"] == "total_energy_j"]
    assert (energy["t_p"] < 0.05).all() and list(energy["mwu_p"]) == pytest.approx([0.1, 0.1])
    assert list(energy["mwu_min_p"]) == pytest.approx([0.1, 0.1])
    assert energy["tests_disagree"].isna().all()  # not assessable, not "disagree"
    assert energy["note"].str.contains("Mann-Whitney U cannot reach p <= 0.05 with 3 and 3 runs").all()
    recs = tables["recommendations"]
    assert len(recs) == 2 and not any("tests disagree" in str(c) for c in recs["caveats"])
    lines = disagreement_lines(comp, 0.05)
    text = "\n".join(lines)
    assert text.count("cannot reach p <= 0.05") == 1 and "at least 4 runs" in text
    assert "s__lr" not in text  # no comparison listed one by one
    page = write_summary(runs, tables, tmp_path / "s.rst").read_text().replace("\\", "")
    assert page.count("cannot reach p <= 0.05") == 1 and "repetitions: 4" in page


def test_genuine_disagreements_are_still_listed():
    """With 5 runs a side the rank test can reach alpha (smallest p 0.008): the issue-13 case stays."""
    runs = _table(5)
    acc = {"s__original": [0.90, 0.91, 0.905, 0.895, 0.902], "s__lr__x0.1": [0.89, 0.885, 0.888, 0.892, 0.10]}
    for mid, values in acc.items():
        runs.loc[runs["mutant_id"] == mid, "accuracy"] = values
    comp = analyse(validate_runs(runs), n_boot=100)["comparisons"]
    row = comp[(comp["metric"] == "metric_value") & (comp["mutant_id"] == "s__lr__x0.1")].iloc[0]
    assert bool(row["tests_disagree"]) and row["mwu_min_p"] < 0.05
    text = "\n".join(disagreement_lines(comp, 0.05))
    assert "cannot reach" not in text and "s\\_\\_lr\\_\\_x0\\.1" in text
