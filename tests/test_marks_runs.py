"""Hostile phase marks through the real run wrapper and training process (issue 22): marks are
checked at entry, rejected marks are counted in the record, epochs.tsv holds only numbers, a run whose
marks do not cover its epochs says so (record, runs.tsv ``marks_note``), a string per-epoch metric does
not fail the run, ``TrainResult.epochs_run`` is checked, and a flood of marks leaves a small record
and a bounded wrapper. Subject: tests/marks_subject.py."""

import csv
import json
import time

import pytest

from greenhp.aggregate import aggregate, aggregate_epochs
from greenhp.mutation import Mutant
from greenhp.record import load, schema_problem, to_row
from greenhp.runner import RunSpec, execute
from testutil import ROOT, subprocess_env

SUBJECT = f"{ROOT / 'tests' / 'marks_subject.py'}:MARKS"


def run(tmp_path, monkeypatch, mode, epochs=3):
    monkeypatch.setenv("MARKS_MODE", mode)
    monkeypatch.setenv("PYTHONPATH", subprocess_env()["PYTHONPATH"])  # the training process runs this checkout
    hp = {"epochs": epochs, "lr": 0.01}
    m = Mutant("marks__original", "marks", "none", "none", None, None, hp)
    spec = RunSpec(mode="single", mutant=m, repetition=1, seed=1, device="cpu", threads=1, timeout_s=120,
                   energy={"gpu_meter": "none", "cpu_meter": "estimate", "idle_seconds": 0, "settle_timeout_s": 0},
                   modules={"marks": SUBJECT})
    out = tmp_path / "results/runs/single/marks__original/rep1.json"
    out.parent.mkdir(parents=True)
    t = time.monotonic()
    execute(spec, out, {"main": str(tmp_path / "main.log")})
    wall = time.monotonic() - t
    rec = load(out)
    assert schema_problem(rec) is None, schema_problem(rec)
    return rec, out, wall


def tsv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_raw_hostile_lines_are_counted_not_stored(tmp_path, monkeypatch):
    rec, out, _ = run(tmp_path, monkeypatch, "raw")
    assert rec["status"] == "ok", (tmp_path / "main.log").read_text()
    ph = rec["energy"]["phases"]["main"]
    assert [e["epoch"] for e in ph["epochs"]] == [3]
    assert ph["marks_rejected"]["reasons"] == {
        "epoch not increasing": 2, "epoch not a positive integer": 5, "unknown mark name": 1, "duplicate epoch": 4}
    assert ph["marks_rejected"]["count"] == 12 and len(ph["marks_rejected"]["examples"]) == 5
    assert ph["training"] is None and "cover 1 of 3 epochs" in ph["training_reason"]
    assert "12 mark(s) rejected" in ph["note"] and "epoch marks cover 1 of 3 epochs" in ph["note"]
    aggregate_epochs([out], tmp_path / "epochs.tsv")
    rows = tsv(tmp_path / "epochs.tsv")
    assert [(r["epoch"], r["epochs"], r["metric_value"], r["loss"]) for r in rows] == [("3", "3", "0.5", "0.1")]
    for r in rows:
        for c in ("epoch", "t_s", "cpu_energy_j", "total_energy_j", "metric_value", "loss"):
            float(r[c])   # a number, never "x" or "{'a': 1}"
    aggregate([out], tmp_path / "runs.tsv")
    (row,) = tsv(tmp_path / "runs.tsv")
    assert row["train_total_energy_j"] == "" and row["marks_note"] == ph["note"]


def test_a_string_epoch_metric_does_not_fail_the_run(tmp_path, monkeypatch):
    rec, _, _ = run(tmp_path, monkeypatch, "str_metric", epochs=1)
    assert rec["status"] == "ok", rec["reason"]
    assert "accuracy='y'" in (tmp_path / "main.log").read_text()
    ph = rec["energy"]["phases"]["main"]
    assert ph["epochs"] == [] and ph["marks_rejected"]["reasons"] == {"field of the wrong type": 1}
    assert ph["marks_rejected"]["examples"][0]["reason"] == "metric = 'y' (str) is not a finite number"
    assert "no epoch marks for its 1 epochs" in ph["note"]


@pytest.mark.parametrize("mode, note, train", [
    ("partial", "epoch marks cover 1 of 3 epochs (last marked: 1): no training window", False),
    ("close", "no training window: the training process sent no training end mark", False),
    ("epochs_run", "TrainResult.epochs_run = 999, but the run trains 3 epochs: not recorded", True),
])
def test_a_run_whose_marks_leave_something_out_says_so(tmp_path, monkeypatch, mode, note, train):
    rec, _, _ = run(tmp_path, monkeypatch, mode)
    assert rec["status"] == "ok", rec["reason"]
    ph = rec["energy"]["phases"]["main"]
    assert note in ph["note"], ph["note"]
    row = to_row(rec)
    assert row["marks_note"] == ph["note"]
    assert (row["train_total_energy_j"] is not None) == train
    if mode == "epochs_run":
        assert rec["epochs_run"] is None and [e["epoch"] for e in ph["epochs"]] == [1, 2, 3]


def test_a_clean_run_has_no_note(tmp_path, monkeypatch):
    rec, _, _ = run(tmp_path, monkeypatch, "ok")
    ph = rec["energy"]["phases"]["main"]
    assert ph["note"] is None and ph["marks_rejected"] == {"count": 0, "reasons": {}, "examples": []}
    assert rec["epochs_run"] == 3 and to_row(rec)["marks_note"] is None
    assert to_row(rec)["train_total_energy_j"] is not None


def test_a_flood_of_marks_leaves_a_small_record_and_a_bounded_wrapper(tmp_path, monkeypatch):
    """50,000 epoch marks (as a per-step mark would send): at most MAX_EPOCH_MARKS are stored and
    read against the meters, the rest counted; the wrapper's work after the child exits stays short."""
    n = 50_000
    rec, out, wall = run(tmp_path, monkeypatch, "flood", epochs=n)
    assert rec["status"] == "ok", rec["reason"]
    ph = rec["energy"]["phases"]["main"]
    assert len(ph["epochs"]) == 1000 and ph["marks_cap"] == 1000
    assert ph["marks_rejected"]["reasons"] == {"over the cap": n - 1000}
    assert ph["marks_received"] == n + 3    # start, run_start, the epochs, run_end
    assert out.stat().st_size < 3_000_000, out.stat().st_size
    assert "cover 1000 of 50000 epochs" in ph["note"]
    after_child = wall - rec["timing"]["duration_s"]
    assert after_child < 8.0, f"{after_child:.1f} s of wrapper work after the training ended"
    json.dumps(rec)
