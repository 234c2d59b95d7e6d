"""Re-analysis entry point (workflow/Reanalysis.smk): an external runs table is checked, imported
and analysed by the study's own rules, without the training study."""
import importlib.util
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from testutil import ROOT, snakemake_cmd, subprocess_env

from greenhp.analysis.tables import REQUIRED_COLUMNS, import_runs
from greenhp.record import RUN_COLUMNS, WINDOW_COLUMNS

_spec = importlib.util.spec_from_file_location("analysis_synthetic", ROOT / "tests" / "analysis" / "conftest.py")
_synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_synthetic)
make_runs = _synthetic.make_runs

SNAKEFILE = ROOT / "workflow" / "Reanalysis.smk"


def _published(tmp_path) -> Path:
    runs = make_runs(subjects=("published_cnn",), modes=("single", "pair"),
                     mutants={"epochs": [5.0, 15.0], "lr": [0.1]}, reps=3,
                     statuses={("published_cnn__lr__x0.1", 2): "diverged"})
    path = tmp_path / "published.tsv"
    runs.to_csv(path, sep="\t", index=False)
    return path


def _run(tmp_path, *config, extra=()):
    cf = tmp_path / "reanalysis.yaml"
    cf.write_text("analysis: {n_boot: 200, test: student}\n")  # a config file works beside --config
    cmd = snakemake_cmd() + ["--snakefile", str(SNAKEFILE), "--directory", str(tmp_path),
                             "--cores", "1", "--configfile", str(cf), "--config", *config, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=300,
                          cwd=tmp_path)


def test_reanalysis_end_to_end(tmp_path):
    table = _published(tmp_path)
    res = _run(tmp_path, f"runs_table={table}", "analysis_dir=re")
    assert res.returncode == 0, res.stderr[-3000:]
    out = tmp_path / "re"
    imported = pd.read_csv(out / "runs.tsv", sep="\t")
    assert list(imported.columns[: len(RUN_COLUMNS) - 8]) == RUN_COLUMNS[: len(RUN_COLUMNS) - 8]
    assert len(imported) == len(pd.read_csv(table, sep="\t"))
    for name in ("correlations", "comparisons", "win_tie_loss", "sensitivity", "sensitivity_tests",
                 "variability", "pareto"):
        assert (out / "stats" / f"{name}.tsv").stat().st_size > 0, name
    recs = pd.read_csv(out / "recommendations.tsv", sep="\t")
    assert "published_cnn__epochs__x5" in set(recs.mutant_id)
    assert set(pd.read_csv(out / "stats" / "comparisons.tsv", sep="\t")["test"]) == {"student"}
    for name in ("correlation_heatmap", "hp_vs_energy", "tradeoff", "sensitivity", "power_timeline"):
        for ext in ("png", "svg"):
            assert (out / "plots" / f"{name}.{ext}").stat().st_size > 500, (name, ext)
    assert "no power timeline" in (out / "plots" / "power_timeline.svg").read_text()
    summary = (out / "summary.html").read_text()
    assert "Short answers" in summary and "diverged" in summary
    assert not (tmp_path / "results").exists()  # nothing of a study was made

    rep = _run(tmp_path, f"runs_table={table}", "analysis_dir=re",
               extra=["--report", str(out / "report.html")])
    assert rep.returncode == 0, rep.stderr[-3000:]
    html = (out / "report.html").read_text()
    assert "re-analysis" in html and "summary.html" in html


def test_reanalysis_rejects_missing_column_with_one_message(tmp_path):
    table = _published(tmp_path)
    df = pd.read_csv(table, sep="\t").drop(columns=["status", "metric_value", "accuracy"])
    bad = tmp_path / "bad.tsv"
    df.to_csv(bad, sep="\t", index=False)
    res = _run(tmp_path, f"runs_table={bad}", "analysis_dir=re")
    assert res.returncode != 0
    msg = ("greenhp re-analysis: rejected runs table "
           f"{bad}: runs table is missing required column(s): status; one of metric_value, "
           "accuracy (task metric)")
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if "rejected runs table" in ln]
    assert lines == [msg]
    assert not (tmp_path / "re" / "runs.tsv").exists()


def test_import_runs_function(tmp_path):
    table = _published(tmp_path)
    csv = tmp_path / "published.csv"
    pd.read_csv(table, sep="\t").to_csv(csv, index=False)
    checked = import_runs(csv, tmp_path / "out" / "runs.tsv")
    # an imported table has no derived rows (docs/lean.md): those two columns are optional
    optional = set(WINDOW_COLUMNS) | {"derived", "derived_from"}
    assert {c for c in RUN_COLUMNS if not c.startswith("hp_") and c not in optional} <= set(checked.columns)
    written = pd.read_csv(tmp_path / "out" / "runs.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert (written["reason"] == "").all()  # optional column added, empty
    assert "hp_epochs" in written and "hp_dropout" not in written
    with pytest.raises(ValueError, match=r"column 'total_energy_j' is not numeric"):
        bad = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
        bad.loc[0, "total_energy_j"] = "lots"
        bad.to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
        import_runs(tmp_path / "bad.tsv", tmp_path / "out2" / "runs.tsv")
    assert not (tmp_path / "out2" / "runs.tsv").exists()


def test_reanalysis_rejects_a_config_error_in_one_line(tmp_path):
    cmd = snakemake_cmd() + ["--snakefile", str(SNAKEFILE), "--directory", str(tmp_path), "--cores", "1", "-n",
                             "--config", "analysis_dir=re"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=120, cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "greenhp re-analysis: configuration rejected: runs_table: missing; this key is required" in out
    assert "$schema" not in out and "Traceback" not in out


def test_minimal_import_is_completed(tmp_path):
    """Identity, status, duration, energies, accuracy and hp_* (empty on the originals) suffice;
    the written runs.tsv has every column, derived where possible."""
    full = pd.read_csv(_published(tmp_path), sep="\t")
    mini = full[["run_id", "subject", "mutant_id", "hyperparameter", "status", "mode", "partner",
                 "duration_s", "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "accuracy",
                 "hp_epochs", "hp_lr"]].copy()
    mini.loc[mini.hyperparameter == "none", ["hp_epochs", "hp_lr"]] = None
    mini.to_csv(tmp_path / "mini.tsv", sep="\t", index=False)
    checked = import_runs(tmp_path / "mini.tsv", tmp_path / "out" / "runs.tsv")
    written = pd.read_csv(tmp_path / "out" / "runs.tsv", sep="\t")
    assert list(written.columns[:len(RUN_COLUMNS) - 8]) == RUN_COLUMNS[:len(RUN_COLUMNS) - 8]
    assert (written.loc[written.hyperparameter == "none", "hp_epochs"] == 10.0).all()
    assert written["total_energy_j"].tolist() == pytest.approx(full["total_energy_j"].tolist(), nan_ok=True)
    assert (written["metric_direction"] == "maximize").all() and len(checked) == len(full)


@pytest.mark.parametrize("column,value,match", [
    ("mode", "triple", "mode 'triple'"),
    ("total_energy_j", "inf", "total_energy_j = inf"),
    ("total_energy_j", "1e308", "total_energy_j = 1e\\+308"),
    ("total_energy_j", "-3", "total_energy_j = -3.0"),
    ("run_id", "single-published_cnn__original-0", "run_id 'single-published_cnn__original-0' appears 2 times"),
])
def test_import_rejects_bad_values_in_one_line(tmp_path, column, value, match):
    raw = pd.read_csv(_published(tmp_path), sep="\t", dtype=str, keep_default_na=False)
    raw.loc[1, column] = value
    raw.to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    with pytest.raises(ValueError, match=match) as err:
        import_runs(tmp_path / "bad.tsv", tmp_path / "out" / "runs.tsv")
    assert "\n" not in str(err.value) and not (tmp_path / "out" / "runs.tsv").exists()


def test_reanalysis_without_train_columns_falls_back_named_or_stops_strictly_in_one_line(tmp_path):
    """An imported table without train_* columns: the default window (training) analyses it on the
    whole-process window, named per row and in the summary; training_strict stops rule stats with
    one line (no traceback) naming the table and the subject (issue 22, item 6)."""
    table = _published(tmp_path)
    strict = tmp_path / "strict.yaml"
    strict.write_text("analysis: {n_boot: 100, window: training_strict}\n")
    cmd = snakemake_cmd() + ["--snakefile", str(SNAKEFILE), "--directory", str(tmp_path), "--cores", "1",
                             "--configfile", str(strict), "--config", f"runs_table={table}", "analysis_dir=st"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=300, cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    lines = [ln for ln in out.splitlines() if "training_strict, but" in ln]
    assert len(lines) == 1 and lines[0].startswith("greenhp: st/runs.tsv: analysis.window: training_strict, but "
                                                   "subject(s) published_cnn ("), out[-3000:]
    assert "Traceback" not in out and not (tmp_path / "st" / "stats" / "comparisons.tsv").exists()

    res = _run(tmp_path, f"runs_table={table}", "analysis_dir=re")  # the default window
    assert res.returncode == 0, res.stderr[-3000:]
    comp = pd.read_csv(tmp_path / "re" / "stats" / "comparisons.tsv", sep="\t")
    assert set(comp["window"]) == {"whole"} and "total_energy_j" in set(comp["metric"])
    summary = (tmp_path / "re" / "summary.rst").read_text().replace("\\", "")
    assert "every subject (its runs sent no training-window marks (train_total_energy_j empty in all 22 ok runs))" in summary
    assert "**published_cnn**: " in summary
