"""Derived epochs rows in the workflow (issue 24, item 2; docs/lean.md, "Epochs mutants from prefixes").

The subjects (tests/derive_subject.py) mark every epoch with a known CPU time and metric; the CPU
meter is the labelled CPU-time estimate, so every run has per-epoch energies on any machine. Each
subject's epochs family is the original (3 epochs) and the mutants 1, 2 and 4: the 4-epoch mutant
is the source, the 1- and 2-epoch mutants are derived, and the 1-epoch one is also trained as the
check (``derive_check: 1``). ``stable`` keeps its promise (the check passes: the 2-epoch mutant is
never trained); ``total`` declares ``schedule_depends_on_epochs: False`` but its metric depends on
the total number of epochs (the check fails: the family is trained in full after the checkpoint).
Every repetition is in the first wave (``first_wave`` = ``repetitions``): the checkpoint runs for the
check alone.
"""

import copy
import json
from pathlib import Path

import pytest

from derive_subject import SEED
from greenhp.lean.derive import derive_plan
from greenhp.lean.settings import lean_settings
from greenhp.lean.waves import first_wave_runs, study_runs, wave_line
from test_lean_workflow import finished_study, job_counts, planned_jobs, records_in, snakemake, study_of, tsv
from testutil import ROOT

SUBJECTS = ROOT / "tests/derive_subject.py"
EPOCHS = {"epochs": {"operator": "values", "values": [1, 2, 4]}}
CONFIG = {
    "study": "derive-tiny",
    "seed": SEED,
    "device": "cpu",
    "repetitions": 2,
    "mutants_per_hyperparameter": 1,
    "subjects": {name: {"module": f"{SUBJECTS}:{name.upper()}", "hyperparameters": EPOCHS}
                 for name in ("stable", "total")},
    "train": {"torch_threads": 1},
    "energy": {"gpu_meter": "none", "cpu_meter": "estimate"},
    "analysis": {"n_boot": 100, "test": "welch"},
    "lean": {"enabled": True, "first_wave": 2, "derive_epochs": True, "derive_check": 1},
}
REPS = (1, 2)


def single(mutant: str, rep: int) -> str:
    return f"results/runs/single/{mutant}/rep{rep}.json"


def family(subject: str, epochs) -> set[str]:
    return {single(f"{subject}__epochs__{e}" if e != "original" else f"{subject}__original", k)
            for e in epochs for k in REPS}


FIRST_WAVE = family("stable", ("original", 1, 4)) | family("total", ("original", 1, 4))
# the failing family's derived member, trained in full after the checkpoint
FULL = family("total", (2,))
LINE = ("greenhp: lean design: every repetition at once (12 training jobs); 2 configurations derived from "
        "longer runs (4 rows, not trained; 2 also trained as a check); a family whose check fails is trained "
        "in full after checkpoint lean_decide (results/lean/derive_check.tsv)")


def config(subjects=None, **lean) -> dict:
    out = copy.deepcopy(CONFIG)
    out["lean"].update(lean)
    if subjects is not None:
        out["subjects"] = {name: {"module": f"{SUBJECTS}:{name.upper()}", "hyperparameters": EPOCHS}
                           for name in subjects}
    return out


# ---------------------------------------------------------------------------- the library (fast)

def test_derived_configurations_are_not_trained_and_a_failed_family_is(tmp_path):
    study = study_of(CONFIG)
    plan = derive_plan(study, lean_settings(CONFIG))
    records, derived = first_wave_runs(study, plan)
    assert set(records) == FIRST_WAVE
    assert [(j.mutant.mutant_id, j.repetition, j.source_path) for j in derived] == [
        (f"{s}__epochs__2", k, single(f"{s}__epochs__4", k)) for s in ("stable", "total") for k in REPS]
    assert wave_line(study, lean_settings(CONFIG), plan) == LINE
    # after the checkpoint: a check table failing the total family trains it in full
    check = tmp_path / "derive_check.tsv"
    check.write_text("family\tconfiguration\tenergy_column\tok\tnote\n"
                     "stable__original\tstable__epochs__1\ttotal_energy_j\ttrue\t\n"
                     "total__original\ttotal__epochs__1\ttotal_energy_j\tfalse\tmetric error\n")
    records, derived = study_runs(study, plan, None, check)
    assert set(records) == FIRST_WAVE | FULL
    assert [(j.mutant.mutant_id, j.repetition) for j in derived] == [("stable__epochs__2", k) for k in REPS]
    # derive_epochs off: every configuration trained, nothing derived
    off = config(derive_epochs=False)
    assert first_wave_runs(study_of(off), derive_plan(study_of(off), lean_settings(off)))[1] == []


# ---------------------------------------------------------------------------- the workflow (slow)

@pytest.mark.slow
def test_dry_runs_count_the_derived_and_never_derive_undeclared_schedules(tmp_path):
    dry = snakemake(tmp_path, CONFIG, "-n", timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert LINE in dry.stderr
    assert job_counts(dry.stdout)["lean_decide"] == 1
    assert {o for rule, o in planned_jobs(dry.stdout) if rule == "train_single"} == FIRST_WAVE

    # A subject declaring True, or nothing, is never derived: derive_epochs on or off, the same jobs,
    # every epochs mutant trained; adaptive, the line says that nothing is derived.
    every = {single(f"{s}__{m}", k) for s in ("declared", "undeclared")
             for m in ("original", "epochs__1", "epochs__2", "epochs__4") for k in REPS}
    listed = []
    for i, conf in enumerate([config(("declared", "undeclared")),
                              config(("declared", "undeclared"), derive_epochs=False)]):
        out = snakemake(tmp_path, conf, "-n", timeout=300, name=f"declared{i}.yaml")
        assert out.returncode == 0, out.stderr[-3000:]
        assert "lean design" not in out.stderr and "lean_decide" not in out.stdout + out.stderr
        listed.append(planned_jobs(out.stdout))
        assert {o for rule, o in listed[-1] if rule == "train_single"} == every
    assert listed[0] == listed[1]
    adaptive = config(("declared", "undeclared"))
    adaptive["repetitions"] = 3
    out = snakemake(tmp_path, adaptive, "-n", timeout=300, name="adaptive.yaml")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "; 0 configurations derived from longer runs (0 rows, not trained; 0 also trained as a check)" in out.stderr


@pytest.fixture(scope="module")
def derive_study(tmp_path_factory):
    return finished_study(tmp_path_factory, "derive", CONFIG)


@pytest.mark.slow
def test_derived_rows_come_from_the_sources_phases_and_are_never_trained(derive_study):
    work, log = derive_study
    assert records_in(work) == FIRST_WAVE | FULL  # stable__epochs__2 has no record
    runs = {r["run_id"]: r for r in tsv(work / "results/runs.tsv")}
    assert len(runs) == len(FIRST_WAVE | FULL) + 2 and {r["status"] for r in runs.values()} == {"ok"}
    for k in REPS:
        row = runs[f"single__stable__epochs__2__rep{k}"]
        assert (row["derived"], row["derived_from"]) == ("true", f"single__stable__epochs__4__rep{k}")
        source = json.loads((work / single("stable__epochs__4", k)).read_text())
        mark = next(e for e in source["energy"]["phases"]["main"]["epochs"] if e["epoch"] == 2)
        assert float(row["train_total_energy_j"]) == pytest.approx(mark["total_j"], rel=1e-12)
        assert float(row["train_duration_s"]) == pytest.approx(mark["t_s"], rel=1e-12)
        assert float(row["accuracy"]) == pytest.approx(mark["metric"])
    assert {r["derived"] for rid, r in runs.items() if "stable__epochs__2" not in rid} == {"false"}
    # readers of records take trained runs only: no epoch rows of a derived run, the footprint
    # counts the trained records and the derived rows apart
    assert not any("stable__epochs__2" in r["run_id"] for r in tsv(work / "results/epochs.tsv"))
    foot = {r["item"]: r for r in tsv(work / "results/footprint.tsv")}
    assert (foot["training_single"]["count"], foot["derived"]["count"]) == (str(len(FIRST_WAVE | FULL)), "2")
    # the check configuration is trained; its check rows are there, ok, and on the summary page
    check = tsv(work / "results/lean/derive_check.tsv")
    stable = [r for r in check if r["family"] == "stable__original"]
    assert {(r["configuration"], r["energy_column"], r["ok"]) for r in stable} == {
        ("stable__epochs__1", "train_total_energy_j", "true"), ("stable__epochs__1", "total_energy_j", "true")}
    summary = (work / "results/summary.rst").read_text()
    assert "Epochs mutants read from longer runs" in summary
    assert r"stable\_\_epochs\_\_1 (train\_total\_energy\_j): energy error" in summary
    assert "localcheckpoint lean_decide:" in log
    again = snakemake(work, CONFIG, "--cores", "2", timeout=300)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_a_family_whose_check_fails_is_trained_in_full_and_the_summary_says_why(derive_study):
    work, _ = derive_study
    check = [r for r in tsv(work / "results/lean/derive_check.tsv") if r["family"] == "total__original"]
    assert check and {r["ok"] for r in check} == {"false"}
    assert all("metric error -0.3 exceeds its spread" in r["note"] for r in check)
    runs = {r["run_id"]: r for r in tsv(work / "results/runs.tsv")}
    for k in REPS:  # trained after the checkpoint, never derived
        assert (work / single("total__epochs__2", k)).exists()
        assert (runs[f"single__total__epochs__2__rep{k}"]["derived"],
                runs[f"single__total__epochs__2__rep{k}"]["derived_from"]) == ("false", "")
    decide_log = (work / "logs/lean_decide.log").read_text()
    assert "1 trained in full (2 more training jobs)" in decide_log
    assert "after the checkpoint: 2 more training jobs\n" in decide_log
    assert "family total__original trained in full: total__epochs__1" in decide_log
    summary = (work / "results/summary.rst").read_text()
    assert r"Family total\_\_original was trained in full: total\_\_epochs\_\_1" in summary
    assert "exceeds its spread" in summary[summary.index(r"Family total\_\_original"):]
