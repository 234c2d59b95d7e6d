"""A tiny study through Snakemake in a temporary directory: every stage, real training, real records."""

import csv
import json
import subprocess

import pytest
import yaml

from greenhp.record import RUN_COLUMNS, validate
from testutil import ROOT, snakemake_cmd, subprocess_env


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    work = tmp_path_factory.mktemp("study")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(repetitions=2)
    config["subjects"] = {
        "digits_cnn": {"hyperparameters": ["epochs", "lr"], "defaults": {"epochs": 5}},
        "digits_mlp": {"hyperparameters": ["gamma"], "defaults": {"epochs": 5}},
    }
    config["train"] = {"max_steps": 3, "torch_threads": 1}
    config["analysis"] = {"n_boot": 100}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(work / "config.yaml"), "--cores", "2"]
    first = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-4000:]
    again = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    return work, config, again


def test_runs_table_has_one_row_per_planned_run(tiny_study):
    work, config, _ = tiny_study
    rows = list(csv.DictReader((work / "results/runs.tsv").open(), delimiter="\t"))
    assert list(rows[0]) == RUN_COLUMNS
    singles = [r for r in rows if r["mode"] == "single"]
    pairs = [r for r in rows if r["mode"] == "pair"]
    # digits_cnn: original + 2 mutants; digits_mlp: original + 1 mutant; 2 repetitions each
    assert len(singles) == (3 + 2) * 2
    assert len(pairs) == 3 * 2  # digits_cnn configurations beside the digits_mlp original
    assert len({r["run_id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["status"] == "ok"
        assert 0.0 <= float(r["accuracy"]) <= 1.0
        # no GPU and no RAPL here: CPU energy is a labelled estimate, DRAM and GPU are empty, never 0
        assert r["cpu_method"] == "estimate_cpu_time" and r["energy_estimated"] == "true"
        assert float(r["cpu_energy_j"]) > 0
        assert r["gpu_energy_j"] == "" and r["dram_energy_j"] == ""


def test_records_valid_and_effective_equals_requested(tiny_study):
    work, _, _ = tiny_study
    records = sorted((work / "results/runs").rglob("*.json"))
    assert len(records) == 16
    for path in records:
        rec = json.loads(path.read_text())
        validate(rec)
        assert {k: rec["effective"][k] for k in rec["requested"]} == rec["requested"]


def test_analysis_outputs_exist(tiny_study):
    work, _, _ = tiny_study
    for name in ("correlations", "comparisons", "win_tie_loss", "sensitivity", "variability", "pareto"):
        assert (work / f"results/stats/{name}.tsv").stat().st_size > 0
    for name in ("correlation_heatmap", "hp_vs_energy", "tradeoff", "sensitivity"):
        assert (work / f"results/plots/{name}.png").stat().st_size > 1000
    assert (work / "results/recommendations.tsv").exists()
    text = (work / "results/summary.rst").read_text()
    assert "estimate" in text.lower()


def test_second_run_does_nothing(tiny_study):
    _, _, again = tiny_study
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_report_builds(tiny_study):
    work, _, _ = tiny_study
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(work / "config.yaml"), "--report", str(work / "report.html")]
    out = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    html = (work / "report.html").read_text(errors="replace")
    assert "hp_vs_energy" in html and "correlations.tsv" in html


def test_footprint_counts_every_run(tiny_study):
    work, _, _ = tiny_study
    rows = {r["item"]: r for r in csv.DictReader((work / "results/footprint.tsv").open(), delimiter="\t")}
    runs = list(csv.DictReader((work / "results/runs.tsv").open(), delimiter="\t"))
    for mode in ("single", "pair"):
        mine = [r for r in runs if r["mode"] == mode]
        assert int(rows[f"training_{mode}"]["count"]) == len(mine)
        # footprint.tsv writes 6 significant digits (%g): compare within that rounding
        assert float(rows[f"training_{mode}"]["energy_j"]) == pytest.approx(
            sum(float(r["total_energy_j"]) for r in mine), rel=1e-5)
    assert float(rows["wall_time"]["seconds"]) > 0 and float(rows["workflow"]["seconds"]) > 0
    assert "own footprint" in (work / "results/summary.rst").read_text()
