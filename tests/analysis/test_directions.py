"""One source of truth for a task metric's direction, and an early stop that follows it (issue 22,
items 1, 2 and 8): the declared direction, never the metric's name, decides every verdict, the
early stop, the Pareto front and the figures' labels; the early-stop tolerance is a fraction of
the metric curve's span; bad epoch marks never give a negative saving or an epoch outside the run."""
import numpy as np
import pandas as pd
import pytest

import greenhp.analysis.tables as tables
import greenhp.subjects.base as base
from greenhp import directions
from greenhp.analysis import analyse, analyse_epochs, validate_runs
from greenhp.analysis.epochs import DEFAULT_TOLERANCE, check_tolerance, early_stop
from greenhp.analysis.plots import draw_epoch_curves, draw_tradeoff
from greenhp.analysis.summary import what_if_lines
from greenhp.subjects.base import Subject

PER_EPOCH_J = 10.0


def _runs(runs_factory, metric_name, direction=None, **kw):
    raw = runs_factory(mutants={"epochs": [2.0]}, reps=2, metric_name=metric_name, **kw)
    if direction is not None:
        raw = raw.assign(metric_direction=direction)
    return raw


def _epochs(runs: pd.DataFrame, curve, name: str, n: int = 6) -> pd.DataFrame:
    """Epoch rows of every run: ``curve(k)`` after epoch k of ``n`` (the mutants too, for brevity)."""
    rows = []
    for r in runs.itertuples():
        for k in range(1, n + 1):
            rows.append(dict(run_id=r.run_id, mode=r.mode, subject=r.subject, mutant_id=r.mutant_id,
                             partner=r.partner, repetition=r.repetition, status=r.status, process="main",
                             epoch=k, epochs=n, t_s=0.1 * k, total_energy_j=PER_EPOCH_J * k,
                             gpu_energy_j=np.nan, cpu_energy_j=PER_EPOCH_J * k, energy_estimated=True,
                             metric_name=name, metric_value=curve(k)))
    return pd.DataFrame(rows)


def _original(es: pd.DataFrame) -> pd.Series:
    return es.set_index("mutant_id").loc["digits_cnn__original"]


def ppl(k):  # a perplexity falling from 13 to about 2: flat from epoch 4 on
    return 2.0 + 11.0 * np.exp(-1.5 * (k - 1))


# ---------------------------------------------------------------- one resolver, one list
def test_one_list_of_known_names():
    assert tables.KNOWN_DIRECTIONS is directions.KNOWN_DIRECTIONS
    assert not hasattr(base, "KNOWN_METRIC_DIRECTIONS")
    assert not hasattr(tables, "LOWER_IS_BETTER_METRICS") and not hasattr(tables, "metric_sign")
    for name, d in directions.KNOWN_DIRECTIONS.items():  # a subject and an import read the same list
        assert Subject("s", "d", name, {"lr": 0.1}, run=lambda hp, ctx: None).metric_direction == d
    assert directions.resolve_direction("val_ppl") is None
    assert directions.resolve_direction("val_ppl", settings={"val_ppl": "minimize"}) == "minimize"
    with pytest.raises(ValueError, match="analysis.metric_directions says 'maximize'"):
        directions.resolve_direction("loss", "minimize", {"loss": "maximize"})
    with pytest.raises(ValueError, match="not one of maximize, minimize"):
        Subject("s", "d", "psnr", {"lr": 0.1}, run=lambda hp, ctx: None, metric_direction="up")


@pytest.mark.parametrize("name", ["val_ppl", "psnr"])
def test_early_stop_uses_the_declared_direction_of_an_unlisted_metric(runs_factory, name):
    """The issue's user model: val_ppl declared minimize made rule epochs_stats die."""
    direction = "minimize" if name == "val_ppl" else "maximize"
    runs = validate_runs(_runs(runs_factory, name, direction))
    curve = ppl if name == "val_ppl" else (lambda k: 40.0 - ppl(k))
    row = _original(early_stop(_epochs(runs, curve, name), runs))
    assert row["metric_direction"] == direction and row["epochs"] == 6
    assert 1 < row["stop_epoch"] < 6 and row["saving_j"] > 0
    assert abs(row["metric_at_stop"] - row["final_metric"]) <= row["tolerance_abs"] + 1e-12


def test_a_loss_declared_maximize_is_maximised(runs_factory):
    runs = validate_runs(_runs(runs_factory, "loss", "maximize"))
    # rising: under "minimize" epoch 1 (the lowest) would count as reached at once
    row = _original(early_stop(_epochs(runs, lambda k: 1.0 - 0.5 ** k, "test_loss"), runs))
    assert row["metric_direction"] == "maximize" and row["stop_epoch"] > 1
    assert row["metric_at_stop"] >= row["final_metric"] - row["tolerance_abs"]


def test_the_setting_serves_old_records_and_another_epoch_metric(runs_factory):
    raw = _runs(runs_factory, "val_ppl")  # no metric_direction column: records from before it
    with pytest.raises(ValueError, match="analysis.metric_directions"):
        validate_runs(raw)
    t = analyse_epochs(_epochs(raw, ppl, "val_ppl"), raw, metric_directions={"val_ppl": "minimize"})
    assert _original(t["early_stop"])["stop_epoch"] < 6
    # an epoch metric other than the task metric, direction not declared: a row that says how
    runs = validate_runs(_runs(runs_factory, "psnr", "maximize"))
    row = _original(early_stop(_epochs(runs, ppl, "val_nll"), runs))
    assert np.isnan(row["stop_epoch"]) and "analysis.metric_directions: {val_nll: " in row["note"]
    row = _original(early_stop(_epochs(runs, ppl, "val_nll"), runs, metric_directions={"val_nll": "minimize"}))
    assert row["metric_direction"] == "minimize" and row["stop_epoch"] < 6


def test_verdicts_pareto_and_figures_follow_the_declared_direction(runs_factory):
    # "loss" declared maximize: higher is better whatever the name list says
    raw = runs_factory(mutants={"lr": [0.1, 3.0]}, reps=4, metric_name="loss").assign(metric_direction="maximize")
    runs = validate_runs(raw)
    t = analyse(runs, n_boot=100)
    task = t["comparisons"][t["comparisons"]["metric"] == "metric_value"]
    assert set(task["metric_direction"]) == {"maximize"}
    worse = task[task["mean_mutant"] < task["mean_original"]]  # the metric fell: worse when maximised
    assert set(worse.loc[worse["verdict"] == "lower", "outcome"]) <= {"worse"} and len(worse)
    p = t["pareto"]
    assert set(p["metric_direction"]) == {"maximize"}
    best = p.loc[p["mean_metric"].idxmax()]
    assert bool(best["pareto_optimal"])
    fig = draw_tradeoff(runs, p)
    assert "higher is better" in fig.axes[0].get_ylabel()


# ---------------------------------------------------------------- tolerance
def test_default_tolerance_stops_a_perplexity_where_its_curve_flattens(runs_factory):
    runs = validate_runs(_runs(runs_factory, "val_ppl", "minimize"))
    ep = _epochs(runs, ppl, "val_ppl", n=8)
    row = _original(early_stop(ep, runs))  # the default tolerance
    assert row["tolerance"] == DEFAULT_TOLERANCE == 0.05
    # ppl: 13, 4.45, 2.55, 2.12, 2.03, 2.01, 2.00, 2.00; span 11, tolerance 0.55
    assert row["stop_epoch"] == 3 and row["tolerance_abs"] == pytest.approx(0.05 * (ppl(1) - ppl(8)))
    # the same default on an accuracy 0.1 -> 0.95 stops within a few accuracy points, not at once
    acc = validate_runs(_runs(runs_factory, "accuracy"))
    a = _original(early_stop(_epochs(acc, lambda k: 0.95 - 0.85 * np.exp(-(k - 1)), "accuracy", 8), acc))
    assert 2 < a["stop_epoch"] < 8 and a["final_metric"] - a["metric_at_stop"] <= 0.05 * 0.85 + 1e-9
    lines = what_if_lines(early_stop(ep, runs), None, 0.05)
    assert any("epoch 3 of 8" in line and "lower is better" in line for line in lines)
    assert any("5 % of its curve's span" in line for line in lines)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0, float("nan"), "lots", True])
def test_tolerance_is_a_fraction(bad):
    with pytest.raises(ValueError, match="analysis.early_stop_tolerance"):
        check_tolerance(bad)


@pytest.mark.parametrize("bad", [1.0, 2.0, -0.01])
def test_config_rejects_a_tolerance_that_is_not_a_fraction(default_config, bad):
    from greenhp.study import StudyError, validate_config

    default_config["analysis"]["early_stop_tolerance"] = bad
    with pytest.raises(StudyError, match=r"analysis.early_stop_tolerance: .* allowed: number >= 0 and < 1 "
                                         r"\(a fraction of each metric curve's span"):
        validate_config(default_config)


# ---------------------------------------------------------------- hostile marks
def test_marks_out_of_order_repeated_or_outside_the_run(runs_factory):
    runs = validate_runs(_runs(runs_factory, "accuracy"))
    ep = _epochs(runs, lambda k: 0.5 + 0.1 * k, "accuracy", n=3)
    orig = ep["mutant_id"] == "digits_cnn__original"
    # the original's marks arrive 3, 2, 1 (cumulative energy in arrival order), plus -5, 0, 7 and repeats
    shuffled = []
    for _, g in ep[orig].groupby("run_id", sort=False):
        g = g.iloc[::-1].copy()
        g["total_energy_j"] = PER_EPOCH_J * np.arange(1, 4)
        extra = g.iloc[[0, 0, 0, 0]].assign(epoch=[-5, 0, 7, 3])
        shuffled.append(pd.concat([g, extra]))
    bad = pd.concat([ep[~orig]] + shuffled, ignore_index=True)
    row = _original(early_stop(bad, runs))
    # epoch 3 arrived first; everything after it is out of order or outside 1..3: no later epoch
    # to stop at, nothing negative, and the note counts what was ignored
    assert not (row["saving_j"] < 0) and not (row["stop_epoch"] < 1) and not (row["stop_epoch"] > 3)
    assert "12 epoch mark(s) repeated, out of order or outside epochs 1..3 ignored" in row["note"]  # 6 a run
    assert row["stop_epoch"] == 3 and row["saving_j"] == 0
    assert "2 of 2 run(s) marked only up to epoch" not in row["note"]
    ok = _original(early_stop(ep, runs))
    assert ok["stop_epoch"] >= 1 and ok["saving_j"] >= 0 and pd.isna(ok["note"])


def test_repeated_marks_count_once_and_a_missing_last_epoch_is_said(runs_factory):
    runs = validate_runs(_runs(runs_factory, "accuracy"))
    ep = _epochs(runs, lambda k: 0.5 + 0.1 * k, "accuracy", n=3)
    twice = pd.concat([ep, ep[ep["epoch"] == 1].assign(metric_value=0.0)], ignore_index=True)
    assert _original(early_stop(twice, runs))["metric_at_stop"] == pytest.approx(0.8)
    only_one = ep[~((ep["run_id"] == ep["run_id"].iloc[0]) & (ep["epoch"] > 1))]
    row = _original(early_stop(only_one, runs))
    assert np.isnan(row["stop_epoch"]) and "1 of 2 run(s) marked only up to epoch 1 of 3" in row["note"]


@pytest.mark.parametrize("last", [np.inf, np.nan])
def test_a_non_finite_metric_at_the_last_epoch_is_not_replaced_by_an_earlier_one(runs_factory, last):
    runs = validate_runs(_runs(runs_factory, "accuracy"))
    ep = _epochs(runs, lambda k: 0.5 + 0.1 * k, "accuracy", n=3)
    ep.loc[(ep["epoch"] == 3) & (ep["repetition"] == 0), "metric_value"] = last
    row = _original(early_stop(ep, runs))
    assert np.isnan(row["stop_epoch"]) and np.isnan(row["saving_j"]) and row["epochs"] == 3
    assert "after the last epoch (3) is missing or not finite" in row["note"]
    lines = what_if_lines(early_stop(ep, runs), None, 0.05)
    assert any("no what-if" in line and r"last epoch \(3\)" in line for line in lines)  # rst-escaped


# ---------------------------------------------------------------- figures
def test_epoch_curves_label_the_direction_and_order_the_legend(runs_factory):
    raw = runs_factory(mutants={"epochs": [12.0, 4.0], "lr": [0.1]}, reps=2, metric_name="val_ppl")
    runs = validate_runs(raw.assign(metric_direction="minimize"))
    fig = draw_epoch_curves(_epochs(runs, ppl, "val_ppl", n=4), runs)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "val_ppl (lower is better)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "original", "epochs__x4", "epochs__x12", "lr__x0.1"]


def test_tradeoff_labels_each_point_with_its_configuration(runs_factory):
    from greenhp.analysis.recommend import pareto_front

    runs = validate_runs(runs_factory(mutants={"epochs": [5.0, 15.0], "lr": [0.1]}, reps=2))
    fig = draw_tradeoff(runs, pareto_front(runs))
    ax = fig.axes[0]
    texts = ax.texts
    assert sorted(t.get_text() for t in texts) == sorted(["original", "epochs=5", "epochs=15", "lr=0.1"])
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    for t in texts:  # each label beside its own point
        x, y = t.xy
        row = pareto_front(runs).query("mean_energy_j == @x and mean_metric == @y")
        assert len(row) == 1


def test_heatmap_says_which_way_each_task_metric_goes(runs_factory):
    from greenhp.analysis.plots import draw_correlation_heatmap

    raw = pd.concat([runs_factory(subjects=("a",), mutants={"lr": [0.1, 3.0]}, reps=3, metric_name="val_ppl")
                     .assign(metric_direction="minimize"),
                     runs_factory(subjects=("b",), mutants={"lr": [0.1, 3.0]}, reps=3, metric_name="psnr")
                     .assign(metric_direction="maximize")], ignore_index=True)
    runs = validate_runs(raw)
    fig = draw_correlation_heatmap(analyse(runs, n_boot=100)["correlations"], runs)
    ticks = [[t.get_text() for t in ax.get_xticklabels()] for ax in fig.axes[:2]]
    assert "val_ppl (lower is better)" in ticks[0] and "psnr (higher is better)" in ticks[1]


def test_epoch_curves_name_the_direction_early_stop_uses_for_another_epoch_metric(runs_factory):
    runs = validate_runs(_runs(runs_factory, "psnr", "maximize"))
    ep = _epochs(runs, ppl, "val_nll", n=4)
    assert draw_epoch_curves(ep, runs).axes[0].get_ylabel() == "val_nll"  # not declared: no claim
    fig = draw_epoch_curves(ep, runs, {"val_nll": "minimize"})
    assert fig.axes[0].get_ylabel() == "val_nll (lower is better)"
    assert _original(early_stop(ep, runs, metric_directions={"val_nll": "minimize"}))["metric_direction"] == "minimize"
