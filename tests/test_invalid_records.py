"""A subject that overwrites finished records cannot stop the study (issue 22, Why 10): rule aggregate
lists the overwritten records as invalid runs with the true reason, every later rule (footprint
included) still runs, and the next run of the same command sets them aside and trains them again."""

import csv
import subprocess

import pytest
import yaml

from greenhp.record import record_problem
from testutil import ROOT, snakemake_cmd, subprocess_env

pytestmark = pytest.mark.slow

CONFIG = {
    "study": "overwrite",
    "seed": 5,
    "device": "cpu",
    "repetitions": 2,
    "mutants_per_hyperparameter": 1,
    "subjects": {"overwriting": {"module": str(ROOT / "tests/overwriting_subject.py") + ":OVERWRITING",
                                 "hyperparameters": {"lr": {"operator": "values", "values": [2.0]}}}},
    "pairs": {},
    "train": {"max_steps": 1, "torch_threads": 1},
    "energy": {"idle_seconds": 0, "settle_timeout_s": 0},
    "analysis": {"n_boot": 100},
}


def test_overwritten_records_are_invalid_runs_then_retrained(tmp_path):
    work = tmp_path
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    (work / "overwrite.on").write_text("")
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(work / "config.yaml"), "--cores", "1"]
    first = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    log = first.stdout + first.stderr
    assert first.returncode == 0, log[-4000:]
    assert "Missing files" not in log
    records = sorted((work / "results/runs/single").rglob("rep*.json"))
    assert len(records) == 4
    overwritten = [p for p in records if record_problem(p)]
    assert 1 <= len(overwritten) <= 3  # every run overwrote those finished before it; the last one's is intact
    rows = list(csv.DictReader((work / "results/runs.tsv").open(), delimiter="\t"))
    invalid = [r for r in rows if r["status"] == "invalid"]
    assert len(rows) == 4 and len(invalid) == len(overwritten)
    for r in invalid:  # the true reason, naming the file: not "'partner_result' is a required property"
        assert "partner_result" not in r["reason"] and "missing required keys: schema_version, run_id, mode" in r["reason"]
        assert f"results/runs/single/{r['mutant_id']}/rep{r['repetition']}.json" in r["reason"]
    footprint = {r["item"]: r for r in csv.DictReader((work / "results/footprint.tsv").open(), delimiter="\t")}
    assert f"invalid {len(overwritten)}" in footprint["training_single"]["status"]
    assert (work / "results/summary.rst").exists()
    listed = (work / "results/runs_invalid.txt").read_text().split()
    assert sorted(listed) == sorted(str(p.relative_to(work)) for p in overwritten)

    (work / "overwrite.on").unlink()
    second = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    log = second.stdout + second.stderr
    assert second.returncode == 0, log[-4000:]
    assert log.count("moved aside to") == len(overwritten), log[-4000:]
    assert log.count("rule train_single:") == len(overwritten), log[-4000:]
    assert all(record_problem(p) is None for p in records)
    assert all(p.with_name(p.name + ".invalid").exists() for p in overwritten)
    rows = list(csv.DictReader((work / "results/runs.tsv").open(), delimiter="\t"))
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert (work / "results/runs_invalid.txt").read_text() == ""
