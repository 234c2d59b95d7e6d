"""Energy window, early-stop what-if and epochs-mutant predictions (greenhp.analysis.epochs)."""
import numpy as np
import pandas as pd
import pytest

from greenhp.analysis import analyse, analyse_epochs, validate_runs
from greenhp.analysis.epochs import early_stop, epoch_predictions
from greenhp.analysis.plots import epoch_curves_figure
from greenhp.analysis.summary import what_if_lines
from greenhp.analysis.windows import describe_window, require_window, window_metrics


SETUP_J = 500.0  # same for every configuration: the whole-run energy's noise, not its signal
PER_EPOCH_J = 10.0


def _with_training(runs: pd.DataFrame, rng) -> pd.DataFrame:
    """Whole-run energy = a large noisy setup + the training; train_* = the training only."""
    runs = runs.copy()
    train = PER_EPOCH_J * runs["hp_epochs"] * (1 + 0.01 * rng.standard_normal(len(runs)))
    runs["train_total_energy_j"] = train
    runs["train_cpu_energy_j"] = train
    runs["train_duration_s"] = train / 10
    runs["total_energy_j"] = SETUP_J * (1 + 0.3 * rng.standard_normal(len(runs))) + train
    return runs


def _epochs_table(runs: pd.DataFrame, schedule_depends=False) -> pd.DataFrame:
    rows = []
    for r in runs.itertuples():
        n = int(r.hp_epochs)
        for k in range(1, n + 1):
            rows.append(dict(run_id=r.run_id, mode=r.mode, subject=r.subject, mutant_id=r.mutant_id,
                             partner=r.partner, repetition=r.repetition, status=r.status, process="main",
                             epoch=k, epochs=n, t_s=0.1 * k, total_energy_j=PER_EPOCH_J * k,
                             gpu_energy_j=np.nan, cpu_energy_j=PER_EPOCH_J * k, energy_estimated=True,
                             metric_name="test_accuracy", metric_value=min(0.95, 0.5 + 0.1 * k),
                             schedule_depends_on_epochs=schedule_depends))
    return pd.DataFrame(rows)


def test_window_metrics_and_errors(runs_factory):
    assert window_metrics(("total_energy_j", "metric_value"), "training") == ("train_total_energy_j", "metric_value")
    assert window_metrics(("total_energy_j",), "whole") == ("total_energy_j",)
    with pytest.raises(ValueError, match="analysis.window: 'all'"):
        window_metrics(("x",), "all")
    runs = runs_factory(mutants={"epochs": [5.0]}, reps=2)
    assert set(require_window(runs, "training")["window"]) == {"whole"}  # no train_*: falls back, named
    with pytest.raises(ValueError, match="set analysis.window: training to analyse such a subject"):
        require_window(runs, "training_strict")
    assert "training only" in describe_window("training") and "whole run" in describe_window("whole")


def test_training_window_finds_what_whole_run_noise_hides(runs_factory):
    rng = np.random.default_rng(1)
    runs = _with_training(runs_factory(mutants={"epochs": [5.0, 15.0], "lr": [0.1]}, reps=4), rng)
    t = analyse(runs, n_boot=100, window="training")
    c = t["correlations"]
    sp = c[(c["method"] == "spearman") & (c["hyperparameter"] == "epochs")]
    assert "train_total_energy_j" in set(sp["metric"]) and "total_energy_j" not in set(sp["metric"])
    assert sp.set_index("metric").loc["train_total_energy_j", "q_value"] < 0.05
    assert set(t["pareto"]["energy_metric"]) == {"train_total_energy_j"}
    w = analyse(runs, n_boot=100, window="whole")
    sw = w["correlations"]
    assert "train_total_energy_j" not in set(sw["metric"])


def test_early_stop_what_if(runs_factory):
    runs = validate_runs(runs_factory(mutants={"epochs": [5.0, 15.0]}, reps=2))
    ep = _epochs_table(runs)
    es = early_stop(ep, runs, tolerance=0.01)
    row = es.set_index("mutant_id").loc["digits_cnn__original"]
    # metric 0.5 + 0.1 k, capped at 0.95: reaches the final (0.95) at epoch 5 of 10; the curve's
    # span is 0.95 - 0.6, so the tolerance is 0.01 x 0.35 in accuracy
    assert row["stop_epoch"] == 5 and row["epochs"] == 10
    assert row["tolerance_abs"] == pytest.approx(0.0035) and row["metric_direction"] == "maximize"
    assert row["saving_j"] == pytest.approx(50.0) and row["saving_pct_training"] == pytest.approx(50.0)
    assert row["saving_pct_run"] == pytest.approx(100 * 50 / runs[runs["mutant_id"] == "digits_cnn__original"]["total_energy_j"].mean())
    assert bool(row["estimated"]) is True
    short = es.set_index("mutant_id").loc["digits_cnn__epochs__x5"]
    assert short["stop_epoch"] == 5 and short["saving_j"] == 0
    loose = early_stop(ep, runs, tolerance=0.5).set_index("mutant_id").loc["digits_cnn__original"]
    assert loose["stop_epoch"] == 3  # 0.8 >= 0.95 - 0.5 x 0.35
    lines = what_if_lines(es, epoch_predictions(ep, runs), 0.01)
    assert any("epoch 5 of 10" in line and "would save" in line for line in lines)


def test_early_stop_lower_is_better_metric(runs_factory):
    runs = validate_runs(runs_factory(mutants={"epochs": [5.0]}, reps=2, metric_name="loss"))
    ep = _epochs_table(runs).assign(metric_name="loss")
    ep["metric_value"] = 1.0 / ep["epoch"]
    row = early_stop(ep, runs, tolerance=0.05).set_index("mutant_id").loc["digits_cnn__original"]
    assert row["stop_epoch"] == 7  # 1/7 = 0.143 <= 0.1 + 0.05 x (1 - 0.1)


def test_predictions_from_prefixes(runs_factory):
    runs = runs_factory(mutants={"epochs": [5.0, 15.0]}, reps=2)
    ep = _epochs_table(runs)
    runs.loc[:, "metric_value"] = [min(0.95, 0.5 + 0.1 * e) for e in runs["hp_epochs"]]
    p = epoch_predictions(ep, runs).set_index("mutant_id")
    five = p.loc["digits_cnn__epochs__x5"]
    assert five["predicted_energy_j"] == pytest.approx(50.0) and five["energy_error_pct"] == pytest.approx(0.0)
    assert five["metric_error"] == pytest.approx(0.0) and five["n_prefix_runs"] == 4
    assert "original" in five["predicted_from"]
    assert p.loc["digits_cnn__epochs__x15", "note"] == "no longer run to take a prefix from"
    dep = epoch_predictions(_epochs_table(runs, schedule_depends=True), runs)
    assert dep["predicted_energy_j"].isna().all() and dep["note"].str.contains("depends").all()


def test_analyse_epochs_and_figure(runs_factory, tmp_path):
    runs = validate_runs(runs_factory(mutants={"epochs": [5.0]}, reps=2))
    ep = _epochs_table(runs)
    t = analyse_epochs(ep, runs, tolerance=0.01)
    assert set(t) == {"early_stop", "epoch_predictions"} and len(t["early_stop"]) == 2
    paths = epoch_curves_figure(ep, runs, tmp_path / "epoch_curves")
    assert all(p.stat().st_size > 0 for p in paths)
    empty = epoch_curves_figure(pd.DataFrame(), runs, tmp_path / "none")
    assert empty[0].exists()
