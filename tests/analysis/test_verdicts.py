"""Verdicts users can trust (issue 13): declared metric direction, Student/Welch, disagreeing
tests, pairs per partner, question 3 without matching mutants, caveats, minimal imports,
escaping of user strings."""
import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from greenhp.analysis import analyse, resampling
from greenhp.analysis.comparison import _two_sample, _two_sample_many, compare_mutants
from greenhp.analysis.correlation import bootstrap_corr_ci, bootstrap_corr_cis_many
from greenhp.analysis.pair_sensitivity import sensitivity
from greenhp.analysis.recommend import pareto_front, recommend
from greenhp.analysis.resampling import bootstrap_means, rng_for
from greenhp.analysis.summary import rst_escape, short_answers, write_summary
from greenhp.analysis.tables import validate_runs

from conftest import make_runs
from testutil import ROOT


def _hand_table(orig, mut, metric="total_energy_j", subject="s", metric_name="accuracy"):
    """A single-mode table of one original and one mutant of lr with the given values of
    ``metric`` (the other metrics constant-ish)."""
    rows = []
    for mid, h, values, lr in (("s__original", "none", orig, 1.0), ("s__lr__x0.1", "lr", mut, 0.1)):
        for i, v in enumerate(values):
            row = dict(run_id=f"{mid}-{i}", subject=subject, mutant_id=mid, hyperparameter=h,
                       status="ok", total_energy_j=1000.0 + i, accuracy=0.9 + 0.001 * i, hp_lr=lr)
            row[metric] = v
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- metric direction
def _mse(hps, mode):
    return {5.0: 0.1, 15.0: 0.3}.get(hps["epochs"], 0.2)


def test_minimised_metric_is_better_when_lower():
    raw = make_runs(mutants={"epochs": [5.0, 15.0]}, accuracy=_mse, metric_name="test_mse")
    with pytest.raises(ValueError, match="direction of task metric 'test_mse' is not declared"):
        validate_runs(raw)
    for runs in (validate_runs(raw.assign(metric_direction="minimize")),
                 validate_runs(raw, {"test_mse": "minimize"})):
        comp = compare_mutants(runs, n_boot=50)
        task = comp[comp.metric == "metric_value"].set_index("mutant_id")
        assert task.loc["digits_cnn__epochs__x5", "verdict"] == "lower"
        assert task.loc["digits_cnn__epochs__x5", "outcome"] == "better"
        assert task.loc["digits_cnn__epochs__x15", "outcome"] == "worse"
        assert set(task["metric_direction"]) == {"minimize"}
        recs = recommend(comp, runs)
        assert list(recs.mutant_id) == ["digits_cnn__epochs__x5"]
        assert recs.metric_verdict.iloc[0] == "better"
        front = pareto_front(runs).set_index("mutant_id")["pareto_optimal"]
        # low energy and low error: the only optimum; high energy + high error is not optimal
        assert front.to_dict() == {"digits_cnn__epochs__x15": False, "digits_cnn__epochs__x5": True,
                                   "digits_cnn__original": False}


def test_subject_declares_direction():
    from greenhp.subjects import REGISTRY
    from greenhp.subjects.base import Subject

    assert all(s.metric_direction in ("maximize", "minimize") for s in REGISTRY.values())
    with pytest.raises(ValueError, match="metric 'test_mse' has no declared direction; pass "
                                         'metric_direction="minimize"'):
        Subject("reg", "d", "test_mse", {"lr": 0.1}, run=lambda hp, ctx: None)
    assert Subject("reg", "d", "test_mse", {"lr": 0.1}, run=lambda hp, ctx: None,
                   metric_direction="minimize").metric_direction == "minimize"
    assert Subject("c", "d", "accuracy", {"lr": 0.1}, run=lambda hp, ctx: None).metric_direction == "maximize"


def test_record_row_carries_direction():
    from greenhp.record import RUN_COLUMNS, to_row

    assert "metric_direction" in RUN_COLUMNS
    rec = {"run_id": "r", "mode": "single", "subject": "s", "mutant_id": "s__original",
           "hyperparameter": "none", "operator": "none", "repetition": 1, "seed": 1,
           "status": "ok", "timing": {"duration_s": 1.0},
           "energy": {d: {"energy_j": 1.0, "method": "rapl"} for d in ("gpu", "cpu", "dram")}
           | {"total": {"energy_j": 3.0, "estimated": False, "domains": ["gpu"]}},
           "metric": {"name": "test_mse", "value": 0.2, "direction": "minimize"},
           "carbon": {"energy_kwh": None, "co2e_g": None}, "device": "cpu", "requested": {}}
    assert to_row(rec)["metric_direction"] == "minimize"
    del rec["metric"]["direction"]  # an old record
    assert to_row(rec)["metric_direction"] is None


# ---------------------------------------------------------------- tests and their disagreement
def test_student_and_welch_verdicts_differ():
    table = _hand_table([100, 100.5, 99.5, 100.2, 99.8, 100.1, 99.9, 100.3], [96.0, 99.0, 93.0])
    runs = validate_runs(table)
    by = {}
    for test in ("welch", "student"):
        comp = compare_mutants(runs, n_boot=50, test=test)
        by[test] = comp[comp.metric == "total_energy_j"].iloc[0]
    a = np.array([100, 100.5, 99.5, 100.2, 99.8, 100.1, 99.9, 100.3])
    b = np.array([96.0, 99.0, 93.0])
    assert by["student"].p_value == pytest.approx(sps.ttest_ind(b, a).pvalue)
    assert by["welch"].p_value == pytest.approx(sps.ttest_ind(b, a, equal_var=False).pvalue)
    assert by["student"].verdict == "lower" and by["welch"].verdict == "same"
    assert by["student"].test == "student"
    with pytest.raises(ValueError, match="test must be one of welch, student, mwu"):
        compare_mutants(runs, test="ttest")


def test_disagreeing_tests_are_flagged(tmp_path):
    """The issue's case: accuracy "same" by Welch (p 0.34) while one run sits at chance level and
    Mann-Whitney says different (p 0.008)."""
    table = _hand_table([0.90, 0.91, 0.905, 0.895, 0.902], [0.89, 0.885, 0.888, 0.892, 0.10],
                        metric="accuracy")
    table["total_energy_j"] = np.where(table.hyperparameter == "none", 1000.0, 800.0) + np.arange(len(table))
    runs = validate_runs(table)
    tables = analyse(runs, n_boot=50)
    comp = tables["comparisons"]
    acc = comp[comp.metric == "metric_value"].iloc[0]
    assert acc.verdict == "same" and bool(acc.tests_disagree)
    assert "the tests disagree: Welch t p = 0.338, Mann-Whitney p = 0.00794" in acc.note
    rec = tables["recommendations"].iloc[0]
    assert "accuracy tests disagree" in rec.caveats and "not robust" in rec.caveats
    text = write_summary(runs, tables, tmp_path / "s.rst").read_text().replace("\\", "")
    assert "Verdicts the two tests disagree on" in text and "Caveat: accuracy tests disagree" in text


def test_longer_duration_is_a_caveat():
    raw = make_runs(mutants={"epochs": [5.0]})
    raw.loc[raw.mutant_id == "digits_cnn__epochs__x5", "duration_s"] *= 3.0  # slower, less energy
    tables = analyse(validate_runs(raw), n_boot=50)
    rec = tables["recommendations"].iloc[0]
    assert rec.duration_change_pct > 0 and rec.caveats.startswith("longer duration: +")
    assert "(significant)" in rec.caveats


# ---------------------------------------------------------------- pairs per partner
def _two_partners():
    low = make_runs(modes=("single", "pair"), mutants={"epochs": [5.0, 15.0]}, partner="a__original")
    high = make_runs(modes=("pair",), mutants={"epochs": [5.0, 15.0]}, partner="b__original",
                     energy=lambda hps, mode: 4000.0 - 50.0 * hps["epochs"], seed=1)
    high["run_id"] = high["run_id"] + "-b"
    return validate_runs(pd.concat([low, high], ignore_index=True))


def test_pair_statistics_are_per_partner(tmp_path):
    runs = _two_partners()
    tables = analyse(runs, n_boot=50)
    corr = tables["correlations"]
    rho = corr[(corr.method == "spearman") & (corr.metric == "total_energy_j")
               & (corr.hyperparameter == "epochs")]
    rho = rho.set_index(rho["partner"].fillna(""))
    assert rho.loc["a__original", "coefficient"] > 0.8 and rho.loc["b__original", "coefficient"] < -0.8
    assert rho.loc["a__original", "n"] == 15 and rho.loc["b__original", "n"] == 15  # not pooled (30)
    assert set(tables["pareto"].query("mode == 'pair'").partner) == {"a__original", "b__original"}
    assert set(tables["win_tie_loss"].query("mode == 'pair'").partner) == {"a__original", "b__original"}
    recs = tables["recommendations"]
    assert set(recs.query("mode == 'pair'").partner) == {"a__original", "b__original"}
    per = tables["sensitivity"]
    assert set(per.partner) == {"a__original", "b__original"}
    text = write_summary(runs, tables, tmp_path / "s.rst").read_text().replace("\\", "")
    assert "digits_cnn (pair, beside a__original)" in text and "digits_cnn (pair, beside b__original)" in text
    q2 = text[text.index("2. Which changes"):text.index("3. Is energy")]
    savings = [float(x.split(" saves ")[1].split(" %")[0]) for x in q2.splitlines() if " saves " in x]
    assert len(savings) >= 3 and savings == sorted(savings, reverse=True)  # best saving first


# ---------------------------------------------------------------- question 3
def test_question3_matches_by_value_and_tests_without_matching():
    single = make_runs(modes=("single",), mutants={"epochs": [5.0, 15.0]})
    pair = make_runs(modes=("pair",), mutants={"epochs": [5.0, 8.0, 13.0]})
    pair["mutant_id"] = pair["mutant_id"].str.replace("__x", "__p")  # own ids, as the reference study
    pair["run_id"] = pair["run_id"] + "-p"
    runs = validate_runs(pd.concat([single, pair], ignore_index=True))
    comp = compare_mutants(runs, n_boot=50)
    per, tests, _ = sensitivity(runs, comp)
    assert list(per.mutant_id) == ["digits_cnn__epochs__p5"]
    assert per.mutant_id_single.iloc[0] == "digits_cnn__epochs__x5" and per.match.iloc[0] == "same value"
    m = tests[(tests.kind == "matched") & (tests.scope == "overall")].iloc[0]
    assert m.n == 1 and m.n_pair_unmatched == 2 and m.n_single_unmatched == 1
    u = tests[(tests.kind == "unmatched") & (tests.scope == "overall")].iloc[0]
    assert u.n_pair == 3 and u.n_single == 2 and np.isfinite(u.mwu_p)
    assert u.mwu_p == pytest.approx(sps.mannwhitneyu(
        comp.query("mode == 'pair' and metric == 'total_energy_j'").rel_change.abs(),
        comp.query("mode == 'single' and metric == 'total_energy_j'").rel_change.abs()).pvalue)


def test_question3_answerable_without_matching_mutants():
    single = make_runs(modes=("single",), mutants={"epochs": [5.0, 15.0, 8.0]})
    pair = make_runs(modes=("pair",), mutants={"epochs": [6.0, 12.0, 14.0]})
    pair["run_id"] = pair["run_id"] + "-p"
    runs = validate_runs(pd.concat([single, pair], ignore_index=True))
    a3 = short_answers(runs, analyse(runs, n_boot=50))[2]
    assert not a3.startswith("Not answerable") and "no mutant was measured in both modes" in a3
    assert "Mann-Whitney U of 3 pair against 3 single comparisons" in a3


# ---------------------------------------------------------------- sorting, bootstrap
def test_comparisons_sort_mutant_ids_naturally():
    raw = make_runs(mutants={"lr": [823.0, 1070.0, 9.0]})
    comp = compare_mutants(validate_runs(raw), n_boot=20)
    assert list(dict.fromkeys(comp.mutant_id)) == [
        "digits_cnn__lr__x9", "digits_cnn__lr__x823", "digits_cnn__lr__x1070"]


@pytest.mark.parametrize("x_kind", ["discrete", "continuous", "many_groups"])
@pytest.mark.parametrize("y_ties", [True, False])
def test_fast_bootstrap_equals_copying_resamples(x_kind, y_ties):
    # every path of the weighted ranks: x in few groups (one-hot product) or in more than 64
    # (per-item ranks), y with ties (group ranks) or without (running weights)
    n = 40 if x_kind != "many_groups" else 150
    g = np.random.default_rng(5)
    x = (g.choice([1.0, 2.0, 5.0], n) if x_kind == "discrete"
         else np.round(g.normal(size=n), 3 if x_kind == "continuous" else 6))
    x[:2] = x[2]  # ties in a continuous x too
    if x_kind == "many_groups":
        assert np.unique(x).size > 64
    y = g.normal(size=n) * 3 + x
    y = np.round(y, 1) if y_ties else y
    assert (np.unique(y).size < n) == y_ties
    idx = np.random.default_rng(1).integers(0, n, size=(300, n))
    for method in ("pearson", "spearman"):
        xb, yb = x[idx], y[idx]
        if method == "spearman":
            xb, yb = sps.rankdata(xb, axis=1), sps.rankdata(yb, axis=1)
        with np.errstate(all="ignore"):
            r = np.array([sps.pearsonr(a, b).statistic if np.ptp(a) and np.ptp(b) else np.nan
                          for a, b in zip(xb, yb)])
        want = np.percentile(r[np.isfinite(r)], [2.5, 97.5])
        got = bootstrap_corr_ci(x, y, method, 300, np.random.default_rng(1))
        np.testing.assert_allclose(got, want, rtol=1e-9)


# ---------------------------------------------------------------- minimal import
def test_minimal_table_gives_the_same_statistics(runs):
    cols = ["run_id", "subject", "mutant_id", "hyperparameter", "status", "mode", "partner",
            "duration_s", "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "accuracy",
            "hp_epochs", "hp_lr", "hp_gamma"]
    mini = runs[cols].copy()
    mini.loc[mini.hyperparameter == "none", ["hp_epochs", "hp_lr", "hp_gamma"]] = np.nan
    full_t, mini_t = analyse(runs, n_boot=100), analyse(mini, n_boot=100)
    shared = ["gpu_energy_j", "cpu_energy_j", "dram_energy_j", "total_energy_j", "duration_s",
              "metric_value"]
    for name, num in (("correlations", ["coefficient", "p_value", "ci_low", "ci_high", "n"]),
                      ("comparisons", ["mean_original", "mean_mutant", "rel_change", "t_p", "mwu_p",
                                       "cliffs_delta", "rel_change_ci_low", "rel_change_ci_high"])):
        a = full_t[name][full_t[name].metric.isin(shared)].reset_index(drop=True)
        b = mini_t[name][mini_t[name].metric.isin(shared)].reset_index(drop=True)
        assert len(a) == len(b) > 0, name
        pd.testing.assert_frame_equal(a[num].astype(float), b[num].astype(float), rtol=1e-9)
        assert list(a.get("verdict", a.metric)) == list(b.get("verdict", b.metric))
    assert list(full_t["recommendations"].mutant_id) == list(mini_t["recommendations"].mutant_id)


# ---------------------------------------------------------------- escaping (issue 11, failure 1)
EVIL = "evil\n\n.. raw:: html\n\n   <img src=x onerror=alert(1)>\n\n`x <javascript:alert(2)>`_ |s|"


def test_rst_escape_makes_markup_inert():
    from docutils.core import publish_parts

    html = publish_parts(f"Study **{rst_escape(EVIL)}** done.", writer="html")["html_body"]
    assert "<img" not in html and "javascript:" not in html.replace("javascript:alert(2)&gt;", "")
    assert "href=" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_report_front_page_escapes_the_study_name():
    """workflow.rst rendered as Snakemake does (jinja, then docutils with raw HTML enabled)."""
    import jinja2
    from docutils.core import publish_parts

    config = {"study": EVIL, "repetitions": 5, "_report_rst": {"study": rst_escape(EVIL), "runs_table": ""}}
    smk = type("Snakemake", (), {"config": config})
    text = (ROOT / "workflow" / "report" / "workflow.rst").read_text()
    rst = jinja2.Environment().from_string(text).render(snakemake=smk, categories={}, files=[])
    html = publish_parts(rst, writer="html")["html_body"]
    assert "<img" not in html and "href=\"javascript" not in html
    assert "onerror=alert(1)" in html  # shown as text


def test_summary_escapes_data_strings(tmp_path):
    from docutils.core import publish_parts

    raw = make_runs(subjects=("s<img src=x onerror=alert(1)>",), mutants={"epochs": [5.0]}, reps=3,
                    statuses={("s<img src=x onerror=alert(1)>__epochs__x5", 1): "failed"})
    raw["reason"] = np.where(raw.status == "failed", EVIL.replace("\n", " "), "")
    runs = validate_runs(raw)
    text = write_summary(runs, analyse(runs, n_boot=30), tmp_path / "s.rst").read_text()
    html = publish_parts(text, writer="html")["html_body"]  # raw enabled, as in the report
    assert "<img" not in html and "href=\"javascript" not in html


# ---------------------------------------------------------------- batched tests, shared resamples
@pytest.mark.parametrize("sizes", [(12, [10, 10, 15, 10]), (6, [5, 7, 5])])
@pytest.mark.parametrize("equal_var", [False, True])
def test_batched_two_sample_tests_equal_one_by_one(sizes, equal_var):
    # sizes above 8 are stacked into one scipy call; small ones (exact Mann-Whitney p) go alone
    na, nbs = sizes
    g = np.random.default_rng(3)
    a = np.round(g.normal(10, 1, na), 1)  # ties, within and across samples
    bs = [np.round(g.normal(10 + 0.3 * i, 1 + 0.2 * i, nb), 1) for i, nb in enumerate(nbs)]
    got = _two_sample_many(a, bs, equal_var)
    want = [_two_sample(a, b, equal_var) for b in bs]
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-12)


def test_bootstrap_means_are_those_of_copying_resamples():
    g = np.random.default_rng(4)
    v = g.normal(size=(30, 3))
    v[[2, 7], 2] = np.nan  # the third metric misses two runs: its own resamples
    got = bootstrap_means(v, 200, 7, ("s", "single", "", "original"))
    for j in range(3):
        col = v[:, j][np.isfinite(v[:, j])]
        mask = np.isfinite(v[:, j])
        rng = rng_for(7, "s", "single", "", "original", col.size,
                      zlib.crc32(np.packbits(mask).tobytes()))
        want = col[rng.integers(0, col.size, size=(200, col.size))].mean(axis=1)
        np.testing.assert_allclose(got[j], want, rtol=1e-12)
    # the first two metrics share their resamples; a column's means do not depend on the others
    alone = bootstrap_means(v[:, :1], 200, 7, ("s", "single", "", "original"))
    np.testing.assert_allclose(alone[0], got[0], rtol=1e-12)
    assert bootstrap_means(v[:1], 200, 7, ("k",)) == [None, None, None]  # fewer than 2 runs


def test_bootstrap_means_do_not_depend_on_the_memory_chunks(monkeypatch):
    v = np.random.default_rng(6).normal(size=(50, 2))
    whole = bootstrap_means(v, 300, 1, ("x",))
    monkeypatch.setattr(resampling, "_BOOT_CELLS", 50 * 7)  # 7 resamples at a time
    chunked = bootstrap_means(v, 300, 1, ("x",))
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_pareto_flags_configurations_with_any_estimated_run():
    raw = make_runs()
    one = raw.mutant_id.unique()[1]
    raw.loc[(raw.mutant_id == one) & (raw.repetition == 2), "energy_estimated"] = True
    raw.loc[raw.energy_estimated.astype(bool), "cpu_method"] = "estimate_cpu_time"
    front = pareto_front(validate_runs(raw))
    assert front.set_index("mutant_id")["estimated"].to_dict() == {
        m: m == one for m in raw.mutant_id.unique()}


def test_correlation_intervals_do_not_depend_on_the_chunks():
    g = np.random.default_rng(8)
    x = g.choice([1.0, 2.0, 4.0], 60)
    ys = [g.normal(size=60) + x, np.round(g.normal(size=60), 0)]
    want = bootstrap_corr_cis_many(x, ys, 200, np.random.default_rng(2))
    flat = lambda cis: [v for c in cis for m in ("pearson", "spearman") for v in c[m]]  # noqa: E731
    for chunk in (1, 7, 200):
        got = bootstrap_corr_cis_many(x, ys, 200, np.random.default_rng(2), chunk=chunk)
        np.testing.assert_allclose(flat(got), flat(want), rtol=1e-12)  # Pearson: BLAS sum order


def test_analysis_tables_are_the_same_in_two_processes():
    from greenhp.analysis import TABLE_NAMES

    runs = validate_runs(make_runs(modes=("single", "pair"), reps=4))
    one, two = analyse(runs, n_boot=50), analyse(runs, n_boot=50, workers=2)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(one[name], two[name], check_exact=True)
