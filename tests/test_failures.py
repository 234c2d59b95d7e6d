"""Failures are data: a diverging, a crashing (simulated CUDA OOM) and a hanging mutant each end with a
record (diverged / failed / timeout), the study completes, and the summary counts them."""

import csv
import json
import subprocess

import pytest
import yaml

from testutil import ROOT, snakemake_cmd, subprocess_env

pytestmark = pytest.mark.slow

CONFIG = {
    "study": "failures",
    "seed": 3,
    "device": "cpu",
    "repetitions": 1,
    "mutants_per_hyperparameter": 1,
    "subjects": {
        "faulty": {
            "module": str(ROOT / "tests/faulty_subject.py") + ":FAULTY",
            "hyperparameters": {
                "lr": {"operator": "values", "values": [1.0e6]},               # diverges
                "weight_decay": {"operator": "values", "values": [0.5]},       # simulated CUDA OOM
                "epochs": {"operator": "values", "values": [50]},              # hangs past timeout_s
            },
        }
    },
    "pairs": {},
    "train": {"max_steps": 3, "torch_threads": 1, "timeout_s": 20, "retries": 1},
    "analysis": {"n_boot": 100},
}
EXPECTED = {
    "faulty__original": ("ok", None),
    "faulty__lr__x1e+08": ("diverged", "nan"),
    "faulty__weight_decay__x5e+03": ("failed", "out of memory"),
    "faulty__epochs__50": ("timeout", "time limit of 20 s"),
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    work = tmp_path_factory.mktemp("failures")
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(work / "config.yaml"), "--cores", "2"]
    out = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    return work, out


def test_study_completes_and_each_failure_is_a_record(study):
    work, out = study
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    # A failed *run* is a successful *job*: no job failed, none was retried.
    assert log.count("rule train_single:") == len(EXPECTED), log[-4000:]
    assert "Trying to restart" not in log and "Error in rule" not in log
    for mutant_id, (status, reason) in EXPECTED.items():
        rec = json.loads((work / f"results/runs/single/{mutant_id}/rep1.json").read_text())
        assert rec["status"] == status, (mutant_id, rec["status"], rec["reason"])
        if reason:
            assert reason in rec["reason"].lower(), rec["reason"]
        if status != "ok":
            assert rec["metric"]["value"] is None


def test_runs_table_and_summary_list_the_failures(study):
    work, _ = study
    rows = list(csv.DictReader((work / "results/runs.tsv").open(), delimiter="\t"))
    assert {r["mutant_id"]: r["status"] for r in rows} == {k: v[0] for k, v in EXPECTED.items()}
    summary = (work / "results/summary.rst").read_text()
    assert "not ok" in summary
    for status in ("diverged 1", "failed 1", "timeout 1"):
        assert status in summary, summary


def test_a_failing_job_is_retried_train_retries_times(tmp_path):
    """A hyperparameter mismatch is a bug, not data: the job fails (no record) after train.retries re-runs."""
    config = dict(CONFIG, subjects={"faulty": {"module": CONFIG["subjects"]["faulty"]["module"],
                                               "defaults": {"epochs": 7}}})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                             "--configfile", str(tmp_path / "config.yaml"), "--cores", "2", "mutants", "results/runs/single/faulty__original/rep1.json"]
    out = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode != 0
    assert log.count("Trying to restart job") == 1, log[-4000:]  # the first try and one retry
    assert log.count("Error in rule train_single:") == 2, log[-4000:]
    assert "HyperparameterMismatch" in log and "epochs: requested 7, used 6" in log
    assert not (tmp_path / "results/runs/single/faulty__original/rep1.json").exists()
