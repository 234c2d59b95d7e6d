"""Epochs mutants read from a longer run's epoch marks (greenhp.lean.derive, docs/lean.md)."""

import csv
import math

import pandas as pd
import pytest

import recordutil
from greenhp.aggregate import aggregate
from greenhp.analysis.derived import failed_families
from greenhp.analysis.tables import validate_runs
from greenhp.energy.phases import build
from greenhp.lean.derive import (
    DerivedJob, check_from_records, derive_check, derive_plan, derived_row, full_families,
    full_family_jobs, split_single_jobs, write_check,
)
from greenhp.lean.settings import LeanError, lean_settings
from greenhp.mutation import Mutant
from greenhp.record import RUN_COLUMNS, read_record
from greenhp.study import Study

HP = {"epochs": 8, "lr": 0.1}


def mutant(mid, epochs, hp="epochs"):
    m = {"epochs": epochs, "lr": 0.1}
    if mid.endswith("original"):
        return Mutant(mid, "s", "none", "none", None, None, m)
    return Mutant(mid, "s", hp, "values", 8, epochs, m)


def fake_record(epochs=12, rep=1, mutant_id="s__epochs__12", gpu_per_epoch=150.0, eval_phase=True,
                metric_name="test_accuracy", final=None, schedule=False):
    """A single-mode source record whose phases greenhp.energy.phases.build makes from marks with
    meter readings (gpu: NVML counter; cpu: RAPL), idle baseline 10 W gpu, 2 W cpu."""
    t0, readings = 100.0, {"gpu": 0.0, "cpu": 0.0}

    def mark(name, t, gpu, cpu, **kw):
        return {"name": name, "t": t, **kw, "readings": {
            "gpu": {"value_j": gpu, "method": "nvml_counter"}, "cpu": {"value_j": cpu, "method": "rapl"},
            "dram": {"value_j": None, "method": "unavailable", "reason": "no dram"}}}
    marks = [mark("start", 101.0, 5.0, 2.0), mark("run_start", 102.0, 20.0, 8.0), mark("data_ready", 104.0, 60.0, 20.0)]
    gpu, cpu, t = 60.0, 20.0, 104.0
    for e in range(1, epochs + 1):
        gpu, cpu, t = gpu + gpu_per_epoch + e, cpu + 40.0, t + 2.0 + 0.01 * e
        marks.append(mark("epoch", t, gpu, cpu, epoch=e, epochs=epochs, metric_name=metric_name,
                          metric=0.5 + 0.01 * e, loss=1.0 / e))
    last_metric = 0.5 + 0.01 * epochs
    if eval_phase:
        marks.append(mark("run_end", t + 1.0, gpu + 30.0, cpu + 6.0))
    t_end, gpu_total, cpu_total = t + 5.0, gpu + 80.0, cpu + 15.0
    domains = {"gpu": {"energy_j": gpu_total, "method": "nvml_counter"}, "cpu": {"energy_j": cpu_total, "method": "rapl"},
               "dram": {"energy_j": None, "method": "unavailable", "reason": "no dram"}}
    idle = {"gpu_w": 10.0, "cpu_w": 2.0, "dram_w": None}
    main = build(marks, domains, ["gpu", "cpu"], t0, t_end, idle=idle)
    dur = t_end - t0
    net = {"gpu_j": gpu_total - 10.0 * dur, "cpu_j": cpu_total - 2.0 * dur, "dram_j": None}
    net["total_j"] = net["gpu_j"] + net["cpu_j"]
    rec = recordutil.complete({
        "mutant_id": mutant_id, "subject": "s", "hyperparameter": "epochs", "operator": "values",
        "original": 8, "value": epochs, "repetition": rep, "seed": 1000 + rep,
        "requested": {"epochs": epochs, "lr": 0.1}, "effective": {"epochs": epochs, "lr": 0.1},
        "metric": {"name": "accuracy", "value": last_metric if final is None else final, "direction": "maximize"},
        "timing": {"start_unix": t0, "duration_s": dur + 0.05},
        "energy": {"window": {"start_unix": t0, "end_unix": t_end, "duration_s": dur}, **domains,
                   "idle": idle, "net": net, "phases": {"main": main}},
        "carbon": {"intensity_g_per_kwh": 400.0}, "schedule_depends_on_epochs": schedule,
    })
    if schedule is None:
        del rec["schedule_depends_on_epochs"]
    return rec


def job(epochs=4, rep=1):
    return DerivedJob(mutant(f"s__epochs__{epochs}", epochs), rep, "runs/single/s__epochs__12/rep1.json")


def test_fake_record_is_valid():
    from greenhp.record import check
    assert check(fake_record()) is None


def test_derived_row_equals_the_source_phases():
    rec = fake_record()
    main = rec["energy"]["phases"]["main"]
    ph = {p["name"]: p for p in main["phases"]}
    at4 = next(r for r in main["epochs"] if r["epoch"] == 4)
    row = derived_row(rec, None, job(4))
    assert row["status"] == "ok" and row["derived"] is True and row["derived_from"] == rec["run_id"]
    assert row["run_id"] == "single__s__epochs__4__rep1" and row["hp_epochs"] == 4 and row["value"] == 4
    assert row["seed"] == rec["seed"] and row["repetition"] == 1
    # training window: training start -> epoch 4's mark
    assert row["train_duration_s"] == at4["t_s"] and row["epochs_marked"] == 4
    for d in ("gpu", "cpu", "total"):
        assert row[f"train_{d}_energy_j"] == pytest.approx(at4[f"{d}_j"])
    assert row["train_dram_energy_j"] is None
    assert row["train_total_net_energy_j"] == pytest.approx(at4["total_j"] - 12.0 * at4["t_s"])
    # whole process: setup + training to epoch 4 + the source's evaluation and end phases
    for d in ("gpu", "cpu", "total"):
        want = ph["setup"][f"{d}_j"] + at4[f"{d}_j"] + ph["evaluation"][f"{d}_j"] + ph["end"][f"{d}_j"]
        assert row[f"{d}_energy_j"] == pytest.approx(want)
        # the same as the source's total minus the training it did after epoch 4
        assert row[f"{d}_energy_j"] == pytest.approx(
            (rec["energy"][d]["energy_j"] if d != "total" else rec["energy"]["total"]["energy_j"])
            - (ph["training"][f"{d}_j"] - at4[f"{d}_j"]))
    window = ph["setup"]["duration_s"] + at4["t_s"] + ph["evaluation"]["duration_s"] + ph["end"]["duration_s"]
    assert row["gpu_net_energy_j"] == pytest.approx(row["gpu_energy_j"] - 10.0 * window)
    assert row["cpu_net_energy_j"] == pytest.approx(row["cpu_energy_j"] - 2.0 * window)
    assert row["total_net_energy_j"] == pytest.approx(row["gpu_net_energy_j"] + row["cpu_net_energy_j"])
    assert row["duration_s"] == pytest.approx(rec["timing"]["duration_s"] - (ph["training"]["duration_s"] - at4["t_s"]))
    assert row["dram_energy_j"] is None and row["total_share_j"] is None
    assert row["energy_kwh"] == pytest.approx(row["total_energy_j"] / 3.6e6)
    # the task metric: epoch 4's mark (the source's last mark reports exactly its final metric)
    assert row["metric_value"] == pytest.approx(0.54) and row["accuracy"] == row["metric_value"]
    assert set(RUN_COLUMNS) >= set(row)


def test_what_cannot_be_measured_is_left_empty_with_the_reason():
    row = derived_row(fake_record(eval_phase=False), None, job(4))
    assert row["status"] == "ok" and row["train_total_energy_j"] is not None
    for c in ("total_energy_j", "gpu_energy_j", "total_net_energy_j", "duration_s", "energy_kwh"):
        assert row[c] is None, c
    assert "no evaluation phase" in row["reason"]
    # the last mark's metric is not the final metric: another evaluation -> no metric, said why
    row = derived_row(fake_record(final=0.99), None, job(4))
    assert row["metric_value"] is None and "not the final evaluation" in row["reason"]
    row = derived_row(fake_record(metric_name="val_loss"), None, job(4))
    assert row["metric_value"] is None and "'val_loss', not the task metric" in row["reason"]


@pytest.mark.parametrize("schedule", [True, None])
def test_a_source_that_does_not_declare_false_gives_no_row(schedule):
    row = derived_row(fake_record(schedule=schedule), None, job(4))
    assert row["status"] == "not_derived" and "schedule_depends_on_epochs" in row["reason"]
    assert "total_energy_j" not in row and row["derived_from"] == "single__s__epochs__12__rep1"


def test_a_source_without_the_epoch_or_unusable_gives_no_row():
    row = derived_row(fake_record(epochs=3, mutant_id="s__epochs__3"), None, job(4))
    assert row["status"] == "not_derived" and "not more than" in row["reason"]
    row = derived_row(None, "is not valid JSON (truncated?)", job(4))
    assert row["status"] == "not_derived" and "rep1.json is not valid JSON" in row["reason"]


def study(schedule, mutants=None, check=1, derive=True, reps=3):
    import greenhp.lean.derive as d

    config = {"subjects": {"s": {}}, "repetitions": reps, "seed": 1000,
              "lean": {"enabled": True, "first_wave": 2, "derive_epochs": derive, "derive_check": check}}
    mutants = mutants or [mutant("s__original", 8), mutant("s__epochs__4", 4), mutant("s__epochs__6", 6),
                          mutant("s__epochs__12", 12), mutant("s__epochs__10", 10),
                          Mutant("s__lr__x2", "s", "lr", "values", 0.1, 0.2, {"epochs": 8, "lr": 0.2})]
    st = Study(config, mutants)
    return st, lean_settings(config), d


def test_plan(monkeypatch):
    st, settings, d = study(False)
    monkeypatch.setattr(d, "schedule_of", lambda config, subject: False)
    plan = derive_plan(st, settings)
    (fam,) = plan.families
    assert fam.name == "s__original" and fam.source == "s__epochs__12"
    assert fam.derived == ("s__epochs__4", "s__epochs__6", "s__epochs__10") and fam.check == ("s__epochs__4",)
    assert plan.not_trained() == {"s__epochs__6", "s__epochs__10"}
    assert plan.not_trained(full={"s__original"}) == frozenset()
    assert not plan.derives("s__original") and not plan.derives("s__lr__x2")
    jobs = [(m.mutant_id, k) for m in st.mutants for k in (1, 2)] + [("s__epochs__6", 3)]
    train, derived = split_single_jobs(plan, st, jobs)
    assert ("s__epochs__6", 1) not in train and ("s__epochs__4", 1) in train and ("s__epochs__12", 3) in train
    assert [(j.mutant.mutant_id, j.repetition, j.source_path) for j in derived][-1] == (
        "s__epochs__6", 3, "results/runs/single/s__epochs__12/rep3.json")
    assert len(derived) == 5
    assert full_family_jobs(plan, ["s__original"], 3) == [
        (m, k) for m in ("s__epochs__6", "s__epochs__10") for k in (1, 2, 3)]


def test_the_original_is_never_a_source(monkeypatch):
    st, settings, d = study(False, [mutant("s__original", 8), mutant("s__epochs__4", 4), mutant("s__epochs__6", 6)])
    monkeypatch.setattr(d, "schedule_of", lambda config, subject: False)
    (fam,) = derive_plan(st, settings).families
    assert fam.source == "s__epochs__6" and fam.derived == ("s__epochs__4",)
    st, settings, d = study(False, [mutant("s__original", 8), mutant("s__epochs__4", 4)])
    assert derive_plan(st, settings).families == ()


@pytest.mark.parametrize("schedule", [True, None])
def test_a_subject_whose_schedule_depends_or_is_undeclared_is_never_derived(monkeypatch, schedule):
    st, settings, d = study(schedule)
    monkeypatch.setattr(d, "schedule_of", lambda config, subject: schedule)
    assert derive_plan(st, settings).families == ()
    jobs = [(m.mutant_id, 1) for m in st.mutants]
    assert split_single_jobs(derive_plan(st, settings), st, jobs) == (jobs, [])


def test_schedule_is_read_from_the_subject():
    from greenhp.lean.derive import schedule_of
    config = {"subjects": {"digits_cnn": {}, "resnet20": {}}}
    assert schedule_of(config, "digits_cnn") is False and schedule_of(config, "resnet20") is True


def test_pair_mode_is_never_derived(monkeypatch):
    """The plan only splits single-mode jobs; a derived row must be single mode (validate_runs)."""
    st, settings, d = study(False)
    monkeypatch.setattr(d, "schedule_of", lambda config, subject: False)
    plan = derive_plan(st, settings)
    row = derived_row(fake_record(), None, job(4))
    bad = pd.DataFrame([dict(derived_row(fake_record(), None, job(4)), mode="pair", partner="p__original"),
                        dict(row, run_id="x", derived=False, derived_from="")])
    bad.loc[1, "run_id"] = "single__s__epochs__12__rep1"
    with pytest.raises(ValueError, match="not single mode"):
        validate_runs(bad)


def test_derive_off_derives_nothing():
    st, settings, d = study(False, derive=False)
    assert derive_plan(st, settings).families == ()


def _measured(conf, energies, metrics, col="train_total_energy_j"):
    return [{"run_id": f"single__{conf}__rep{k}", "mode": "single", "mutant_id": conf, "status": "ok",
             "repetition": k, col: e, "metric_value": m, "derived": False}
            for k, (e, m) in enumerate(zip(energies, metrics), start=1)]


def test_the_check_flags_a_family_whose_derived_energy_is_off_by_more_than_the_spread(monkeypatch):
    st, settings, d = study(False)
    monkeypatch.setattr(d, "schedule_of", lambda config, subject: False)
    plan = derive_plan(st, settings)
    measured = pd.DataFrame(_measured("s__epochs__4", [100.0, 102.0, 98.0], [0.5, 0.5, 0.5]))
    close = pd.DataFrame(_measured("s__epochs__4", [101.0, 103.0, 99.0], [0.5, 0.5, 0.5]))
    far = pd.DataFrame(_measured("s__epochs__4", [103.0, 105.0, 101.0], [0.5, 0.5, 0.5]))
    ok = derive_check(plan, measured, close)
    row = ok[ok["energy_column"] == "train_total_energy_j"].iloc[0]
    assert row["energy_error"] == pytest.approx(1.0) and row["spread"] == pytest.approx(2.0) and row["ok"]
    assert failed_families(ok) == {}
    bad = derive_check(plan, measured, far)
    row = bad[bad["energy_column"] == "train_total_energy_j"].iloc[0]
    assert row["energy_error"] == pytest.approx(3.0) and row["ok"] == False  # noqa: E712
    assert list(failed_families(bad)) == ["s__original"] and "exceeds the run-to-run spread" in row["note"]
    # nothing derived in a column: nothing to check there (ok empty), not a failure
    other = bad[bad["energy_column"] == "total_energy_j"].iloc[0]
    assert other["ok"] is None
    # a metric off by more than its spread fails too
    wrong = pd.DataFrame(_measured("s__epochs__4", [101.0, 103.0, 99.0], [0.6, 0.6, 0.6]))
    assert list(failed_families(derive_check(plan, measured, wrong))) == ["s__original"]
    # one measured repetition: no spread, cannot check -> trained in full
    assert list(failed_families(derive_check(plan, measured.iloc[:1], close))) == ["s__original"]


def test_check_table_round_trip(tmp_path, monkeypatch):
    st, settings, d = study(False)
    monkeypatch.setattr(d, "schedule_of", lambda config, subject: False)
    plan = derive_plan(st, settings)
    measured = pd.DataFrame(_measured("s__epochs__4", [100.0, 102.0, 98.0], [0.5, 0.5, 0.5]))
    far = pd.DataFrame(_measured("s__epochs__4", [110.0, 112.0, 108.0], [0.5, 0.5, 0.5]))
    path = tmp_path / "lean" / "derive_check.tsv"
    assert full_families(path) == {}
    write_check(derive_check(plan, measured, far), path)
    assert list(full_families(path)) == ["s__original"]
    with open(path) as fh:
        assert {r["ok"] for r in csv.DictReader(fh, delimiter="\t")} == {"false", ""}


def test_aggregate_writes_derived_rows_that_the_analysis_accepts(tmp_path, monkeypatch):
    import json
    st, settings, d = study(False)
    monkeypatch.setattr(d, "schedule_of", lambda config, subject: False)
    plan = derive_plan(st, settings)
    paths = []
    for mid, e in (("s__epochs__12", 12), ("s__original", 8)):
        for k in (1, 2):
            rec = fake_record(epochs=e, rep=k, mutant_id=mid, gpu_per_epoch=150.0 + k)
            if mid == "s__original":
                rec.update(hyperparameter="none", operator="none", original=None, value=None)
            p = tmp_path / "runs" / "single" / mid / f"rep{k}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(rec))
            assert read_record(p)[1] is None
            paths.append(str(p))
    jobs = [("s__epochs__12", k) for k in (1, 2)] + [("s__original", k) for k in (1, 2)] + [
        ("s__epochs__6", k) for k in (1, 2)] + [("s__epochs__6", 3)]
    train, derived = split_single_jobs(plan, st, jobs, runs_dir=tmp_path / "runs")
    out = tmp_path / "runs.tsv"
    aggregate(paths, out, derived=derived)
    runs = validate_runs(pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False))
    got = runs.set_index("run_id")
    assert list(got.loc[["single__s__epochs__6__rep1", "single__s__epochs__6__rep2"], "derived"]) == [True, True]
    assert got.loc["single__s__epochs__6__rep1", "derived_from"] == "single__s__epochs__12__rep1"
    assert got.loc["single__s__epochs__6__rep3", "status"] == "not_derived"  # rep 3 of the source is missing
    assert not got.loc["single__s__original__rep1", "derived"]
    assert math.isnan(got.loc["single__s__original__rep1", "derived_from"])
    assert got.loc["single__s__epochs__6__rep1", "hp_epochs"] == 6
    # the check from the records: s__epochs__4 was trained (here: its rows derived from rep k of the
    # source equal themselves) -> error 0, ok
    measured = pd.DataFrame([dict(derived_row(*read_record(paths[k]), DerivedJob(st.by_id["s__epochs__4"], k + 1, paths[k])),
                                  derived=False, derived_from="") for k in (0, 1)])
    check = check_from_records(plan, st, measured, runs_dir=tmp_path / "runs")
    row = check[check["energy_column"] == "train_total_energy_j"].iloc[0]
    assert row["n_pairs"] == 2 and row["energy_error"] == 0.0 and row["ok"]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("\tok\t", "\tokay\t", 1), "no column ok"),
    (lambda t: t.replace("\tfalse\t", "\tno\t", 1), "ok 'no' is not true, false or empty"),
    (lambda t: t.replace("s__original", "other__original"), "family 'other__original' is not an epochs family"),
])
def test_a_bad_check_table_is_named(tmp_path, monkeypatch, edit, message):
    st, settings, d = study(False)
    monkeypatch.setattr(d, "schedule_of", lambda config, subject: False)
    plan = derive_plan(st, settings)
    measured = pd.DataFrame(_measured("s__epochs__4", [100.0, 102.0, 98.0], [0.5, 0.5, 0.5]))
    far = pd.DataFrame(_measured("s__epochs__4", [110.0, 112.0, 108.0], [0.5, 0.5, 0.5]))
    path = tmp_path / "derive_check.tsv"
    write_check(derive_check(plan, measured, far), path)
    assert list(full_families(path, plan)) == ["s__original"]
    path.write_text(edit(path.read_text()))
    with pytest.raises(LeanError, match=f"{path}, line 2: {message}|{path}: {message}"):
        full_families(path, plan)
