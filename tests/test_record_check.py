"""Run records are checked where they enter (issue 22, "Records checked on entry"): a record whose total
is not the sum of its domains, whose phases exceed its total, whose times are negative or not numbers,
or whose metric is outside its name's range is an invalid run, with a reason naming the file and the
field, wherever it is read (runs table, epoch table, footprint, calibration)."""

import copy
import csv
import json

import pytest

from greenhp.aggregate import aggregate
from greenhp.energy.attribution import attribute
from greenhp.energy.phases import build
from greenhp.record import record_problem, schema_problem
from recordutil import complete

UNAVAILABLE = {"value_j": None, "method": "unavailable", "reason": "not here"}


def _mark(name, t, gpu, cpu, **info):
    return {"name": name, "t": t, **info,
            "readings": {"gpu": {"value_j": gpu, "method": "nvml_counter"},
                         "cpu": {"value_j": cpu, "method": "estimate_cpu_time"}, "dram": UNAVAILABLE}}


def record(mode="single"):
    """A record as the wrapper builds it: GPU counter 100 J + CPU estimate 35 J, phases from marks
    (greenhp.energy.phases.build), in pair mode the shares (greenhp.energy.attribution.attribute)."""
    domains = {"gpu": {"energy_j": 100.0, "method": "nvml_counter", "reason": None},
               "cpu": {"energy_j": 35.0, "method": "estimate_cpu_time", "reason": None, "estimated": True},
               "dram": {"energy_j": None, "method": "unavailable", "reason": "RAPL not present"}}
    marks = [_mark("run_start", 1.0, 10.0, 5.0), _mark("epoch", 2.0, 50.0, 15.0, epoch=1, epochs=2),
             _mark("epoch", 3.0, 90.0, 25.0, epoch=2, epochs=2), _mark("run_end", 3.5, 95.0, 30.0)]
    energy = {**copy.deepcopy(domains), "total": {"energy_j": 135.0, "domains": ["gpu", "cpu"], "estimated": True},
              "window": {"start_unix": 0.0, "end_unix": 4.0, "duration_s": 4.0},
              "idle": {"gpu_w": 5.0, "cpu_w": None, "dram_w": None, "seconds": 2.0, "settle_s": None},
              "net": {"gpu_j": 80.0, "cpu_j": 35.0, "dram_j": None, "total_j": 115.0, "estimated": True},
              "phases": {"main": build(marks, domains, ["gpu", "cpu"], 0.0, 4.0, idle={"gpu_w": 5.0})}}
    partial = {"mode": mode, "energy": energy, "timing": {"start_unix": 1.0, "duration_s": 4.0, "train_seconds": 2.0,
                                                         "cpu_seconds": {"main": 3.5}},
               "carbon": {"intensity_g_per_kwh": 400.0}, "metric": {"name": "accuracy", "value": 0.9}}
    if mode == "pair":
        energy["attribution"] = attribute(["main", "partner"], 100.0, 5.0, 4.0, {"main": 30.0, "partner": 10.0},
                                          35.0, None, {"main": 2.0, "partner": 1.5})
        energy["phases"]["partner"] = build(marks[:2], domains, ["gpu", "cpu"], 0.0, 4.0)
        partial["partner_result"] = {"status": "ok", "metric": {"name": "accuracy", "value": 0.8},
                                     "effective": {"epochs": 1}, "train_seconds": 1.0}
    rec = complete(partial)
    assert rec["energy"]["total"] == energy["total"]
    return rec


def write(tmp_path, rec, name="single/m__original/rep1.json", text=None):
    path = tmp_path / "results/runs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text is not None else json.dumps(rec))
    return path


@pytest.mark.parametrize("mode", ["single", "pair"])
def test_a_record_as_the_wrapper_builds_it_passes(tmp_path, mode):
    rec = record(mode)
    assert schema_problem(rec) is None
    assert record_problem(write(tmp_path, rec)) is None
    # a missing domain is not 0: it is left out of the total, which then need not count it
    assert rec["energy"]["dram"]["energy_j"] is None and "dram" not in rec["energy"]["total"]["domains"]


def edited(mode="single", **changes):
    rec = record(mode)
    for path, value in changes.items():
        *head, last = path.split("__")
        target = rec
        for key in head:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value
    return rec


BAD = [
    # issue 22, Why 9: the hand-edited total and training phase of an otherwise good record
    ("energy/total/energy_j: 5e+06 J is not the sum of its domains (gpu 100 J + cpu 35 J = 135 J)",
     dict(energy__total__energy_j=5e6, energy__phases__main__training__total_j=4e6)),
    ("energy/phases/main/training/total_j: 4e+06 J is outside [0, 135 J], the whole window's total",
     dict(energy__phases__main__training__total_j=4e6)),
    ("energy/phases/main/phases/training/gpu_j: 4e+06 J is outside [0, 100 J], the whole window's gpu energy",
     dict(energy__phases__main__phases__1__gpu_j=4e6)),
    ("energy/phases/main/phases: the gpu energies add up to 150 J, more than the whole window's gpu energy (100 J)",
     dict(energy__phases__main__phases__0__gpu_j=60.0, energy__phases__main__phases__0__total_j=65.0)),
    ("energy/phases/main/epochs/1/t_s: -1 s is negative", dict(energy__phases__main__epochs__1__t_s=-1.0)),
    # a missing domain counted as 0, or a measured one left out of the total
    ("energy/total/domains: ['gpu', 'cpu', 'dram'] are not the measured domains ['gpu', 'cpu']",
     dict(energy__total__domains=["gpu", "cpu", "dram"])),
    ("energy/total/domains: ['gpu'] are not the measured domains ['gpu', 'cpu']", dict(energy__total__domains=["gpu"])),
    ("energy/total/estimated: False, but the total counts the estimate of cpu", dict(energy__total__estimated=False)),
    ("energy/cpu/energy_j: -35 J is negative", dict(energy__cpu__energy_j=-35.0, energy__total__energy_j=65.0)),
    ("energy/net/gpu_j: 120 J exceeds the gross gpu energy (100 J)", dict(energy__net__gpu_j=120.0)),
    ("energy/net/total_j: 200 J is not the sum of the net domains (115 J)", dict(energy__net__total_j=200.0)),
    ("carbon/energy_kwh: 1 kWh is not the total energy", dict(carbon__energy_kwh=1.0)),
    # metrics of known bounded names, and train_seconds (issue 22, Why 11)
    ("metric/value: -5 is outside the range of 'accuracy', which is a fraction in [0, 1]", dict(metric__value=-5.0)),
    ("metric/value: 1e+308 is outside the range of 'accuracy', which is a fraction in [0, 1]", dict(metric__value=1e308)),
    ("metric/value: -0.5 is outside the range of 'loss', which is at least 0",
     dict(metric__name="loss", metric__value=-0.5)),
    ("timing/train_seconds: -100.0 is less than the minimum of 0", dict(timing__train_seconds=-100.0)),
    ("timing/train_seconds: 'fast' is not of type 'number', 'null'", dict(timing__train_seconds="fast")),
    ("timing/train_seconds: 1e+09 s is longer than the whole run's measured duration (4 s)",
     dict(timing__train_seconds=1e9)),
    ("timing/duration_s: -4.0 is less than the minimum of 0", dict(timing__duration_s=-4.0)),
]


@pytest.mark.parametrize("why, changes", BAD, ids=[w.split(":")[0] + f"-{i}" for i, (w, _) in enumerate(BAD)])
def test_a_record_that_contradicts_itself_is_rejected_naming_the_field(tmp_path, why, changes):
    path = write(tmp_path, edited(**changes))
    problem = record_problem(path) or ""
    assert why in problem, problem


def test_pair_shares_must_add_up_to_the_device(tmp_path):
    rec = edited("pair")
    rec["energy"]["attribution"]["main"]["gpu_j"] += 50.0
    problem = record_problem(write(tmp_path, rec, "pair/m__original/p__original/rep1.json")) or ""
    assert problem.startswith("fails the run-record check at energy/attribution: the gpu shares"), problem
    rec = edited("pair", partner_result__metric__value=7.0)
    problem = record_problem(write(tmp_path, rec, "pair/m__original/p__original/rep1.json")) or ""
    assert "partner_result/metric/value: 7 is outside the range of 'accuracy'" in problem, problem


def test_nan_in_a_record_is_rejected(tmp_path):
    """JSON has no NaN, Python's json reads one; the wrapper writes null for what it could not measure."""
    text = json.dumps(record()).replace('"train_seconds": 2.0', '"train_seconds": NaN')
    assert "NaN" in text
    problem = record_problem(write(tmp_path, None, text=text)) or ""
    assert "timing/train_seconds: nan is not a number a record may hold" in problem, problem


def test_an_unknown_metric_name_is_checked_for_being_finite_only(tmp_path):
    assert record_problem(write(tmp_path, edited(metric__name="val_ppl", metric__value=1e6))) is None


def test_the_reason_for_an_overwritten_single_record_names_what_it_lacks(tmp_path):
    """issue 22, Why 10: a single-mode record without ``mode`` was reported for "'partner_result' is a
    required property" (the schema's pair-mode `if` passed vacuously)."""
    rec = record()
    del rec["mode"]
    problem = record_problem(write(tmp_path, rec)) or ""
    assert problem == "breaks the run-record schema at (top level): 'mode' is a required property", problem
    junk = write(tmp_path, None, text=json.dumps({"status": "ok", "overwritten": True}))
    problem = record_problem(junk) or ""
    assert "partner_result" not in problem and problem.startswith(
        "breaks the run-record schema at (top level): missing required keys: schema_version, run_id, mode,"), problem


def test_aggregate_lists_a_hand_edited_record_as_invalid_naming_file_and_field(tmp_path, capsys):
    """issue 22, Why 9: the record with total 5e6 J (its only domain says 35 J) was aggregated as is and
    every mutant "saved 99.99999 %"."""
    good = write(tmp_path, record(), "single/m__original/rep1.json")
    forged = write(tmp_path, edited(energy__total__energy_j=5e6), "single/m__original/rep2.json")
    out = tmp_path / "results/runs.tsv"
    assert aggregate([good, forged], out, invalid_list=tmp_path / "results/runs_invalid.txt") == 2
    rows = list(csv.DictReader(out.open(), delimiter="\t"))
    assert [r["status"] for r in rows] == ["ok", "invalid"] and rows[1]["total_energy_j"] == ""
    assert str(forged) in rows[1]["reason"] and "energy/total/energy_j" in rows[1]["reason"]
    assert str(forged) in capsys.readouterr().err
    assert (tmp_path / "results/runs_invalid.txt").read_text() == f"{forged}\n"
