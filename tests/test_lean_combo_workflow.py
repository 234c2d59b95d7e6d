"""Adaptive repetitions and derived epochs rows together, in a real Snakemake run (issue 24, items 1
and 2; docs/lean.md, "Adaptive repetitions and derived rows together").

The subjects (tests/derive_subject.py) mark every epoch with a known CPU time and metric; the CPU
meter is the labelled CPU-time estimate. Each subject's epochs family is the original (3 epochs) and
the mutants 1, 2 and 4: the 4-epoch mutant is the source, the 1- and 2-epoch mutants are derived and
the 1-epoch one is also trained as the check (``derive_check: 1``). Repetitions 3, first wave 2
(originals at 3), p band [0.02, 0.3):

- ``banded`` keeps its promise (its check passes); its per-epoch metric makes the first wave's metric
  p-values 0.81 (1 epoch: decided), 0.20 (2 epochs: *open*) and 0.002 (4 epochs: decided). The open
  group is a derived configuration whose source's group is decided: its repetition 3 is read from
  the source's repetition 3, which is trained for it (greenhp.lean.derive.split_single_jobs).
- ``total`` breaks its promise (the check fails on the metric): its 2-epoch mutant is trained in full
  after the checkpoint, at every repetition, 3 included, although its own group is decided.

The energy comparisons are far from the band (p 0.6-0.97: the CPU time per epoch alternates between
0.05 s and 1 s with the repetition), so the metric alone decides.
"""

import copy
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from derive_subject import SEED
from greenhp.lean.derive import derive_plan
from greenhp.lean.settings import lean_settings
from greenhp.lean.waves import first_wave_runs, study_runs, wave_line
from greenhp.procs import lock_path_for
from test_lean_workflow import (finished_study, incomplete_marks, job_counts, kill_when, planned_jobs, records_in,
                                snakemake, stamps, study_of, tsv)
from testutil import ROOT, snakemake_cmd, subprocess_env

SUBJECTS = ROOT / "tests/derive_subject.py"
CONFIG = {
    "study": "combo-tiny",
    "seed": SEED,
    "device": "cpu",
    "repetitions": 3,
    "mutants_per_hyperparameter": 1,
    "subjects": {name: {"module": f"{SUBJECTS}:{name.upper()}",
                        "hyperparameters": {"epochs": {"operator": "values", "values": [1, 2, 4]}}}
                 for name in ("banded", "total")},
    "train": {"torch_threads": 1},
    "energy": {"gpu_meter": "none", "cpu_meter": "estimate"},
    "analysis": {"n_boot": 100, "test": "welch"},
    "lean": {"enabled": True, "first_wave": 2, "derive_epochs": True, "derive_check": 1, "p_band": [0.02, 0.3]},
}
OPEN = "banded__epochs__2"  # derived, open
SOURCE = "banded__epochs__4"  # its source, decided
FAILED = "total__epochs__2"  # derived, decided, its family's check fails: trained in full


def single(mutant: str, rep: int) -> str:
    return f"results/runs/single/{mutant}/rep{rep}.json"


def run_id(mutant: str, rep: int) -> str:
    return f"single__{mutant}__rep{rep}"


FIRST_WAVE = {single(f"{s}__{m}", k) for s in ("banded", "total") for m, reps in
              (("original", (1, 2, 3)), ("epochs__1", (1, 2)), ("epochs__4", (1, 2))) for k in reps}
SOURCE_3 = {single(SOURCE, 3)}  # trained only because the open derived configuration needs it
FULL = {single(FAILED, k) for k in (1, 2, 3)}  # the failed family, after the checkpoint
AFTER = SOURCE_3 | FULL
# runs.tsv: (run_id, derived, derived_from) of every row. Trained: every record (the source's
# repetition 3 too: a derived row's source is a row of its table, greenhp.analysis.derived); derived:
# the open configuration at every repetition, from the source's repetition of the same number. No
# row of banded__epochs__1, total__epochs__1 or total__epochs__4 at repetition 3 (decided groups).
ROWS = ({(f"single__{Path(r).parent.name}__{Path(r).stem}", "false", "") for r in FIRST_WAVE | AFTER}
        | {(run_id(OPEN, k), "true", run_id(SOURCE, k)) for k in (1, 2, 3)})
LINE = ("greenhp: lean design: first wave of 2 of 3 repetitions (14 training jobs; originals get all 3); "
        "2 configurations derived from longer runs (4 rows, not trained; 2 also trained as a check); more may "
        "follow after checkpoint lean_decide (results/lean/decisions.tsv)")


def rows_of(work: Path) -> set[tuple[str, str, str]]:
    runs = tsv(work / "results/runs.tsv")
    assert {r["status"] for r in runs} == {"ok"}
    return {(r["run_id"], r["derived"], r["derived_from"]) for r in runs}


def contents(work: Path, paths) -> dict:
    return {p: hashlib.sha256((work / p).read_bytes()).hexdigest() for p in paths}


# ---------------------------------------------------------------------------- the library (fast)

def test_an_open_derived_configuration_trains_its_sources_repetition(tmp_path):
    study = study_of(CONFIG)
    plan = derive_plan(study, lean_settings(CONFIG))
    records, derived = first_wave_runs(study, plan)
    assert set(records) == FIRST_WAVE
    assert {(j.mutant.mutant_id, j.repetition) for j in derived} == {(m, k) for m in (OPEN, FAILED) for k in (1, 2)}
    assert wave_line(study, lean_settings(CONFIG), plan) == LINE
    decisions, check = tmp_path / "decisions.tsv", tmp_path / "derive_check.tsv"
    decisions.write_text("subject\tmode\tpartner\tmutant_id\textend\n" + "".join(
        f"{m.split('__')[0]}\tsingle\t\t{m}\t{str(m == OPEN).lower()}\n"
        for m in ("banded__epochs__1", OPEN, SOURCE, "total__epochs__1", FAILED, "total__epochs__4")))
    check.write_text("family\tconfiguration\tenergy_column\tok\tnote\n"
                     "banded__original\tbanded__epochs__1\ttotal_energy_j\ttrue\t\n"
                     "total__original\ttotal__epochs__1\ttotal_energy_j\tfalse\tmetric error\n")
    records, derived = study_runs(study, plan, decisions, check)
    assert set(records) == FIRST_WAVE | AFTER and len(records) == len(FIRST_WAVE | AFTER)
    assert [(j.mutant.mutant_id, j.repetition, j.source_path) for j in derived] == [
        (OPEN, k, single(SOURCE, k)) for k in (1, 2, 3)]


# ---------------------------------------------------------------------------- the workflow (slow)

@pytest.mark.slow
def test_dry_run_of_the_combination_lists_the_first_wave(tmp_path):
    dry = snakemake(tmp_path, CONFIG, "-n", timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert LINE in dry.stderr
    assert job_counts(dry.stdout)["lean_decide"] == 1
    assert {o for rule, o in planned_jobs(dry.stdout) if rule.startswith("train_")} == FIRST_WAVE


@pytest.fixture(scope="module")
def combo_study(tmp_path_factory):
    return finished_study(tmp_path_factory, "combo", CONFIG)


@pytest.mark.slow
def test_an_open_derived_group_and_a_failed_family_in_one_run(combo_study):
    work, log = combo_study
    decisions = tsv(work / "results/lean/decisions.tsv")
    assert {(r["mode"], r["mutant_id"], r["extend"]) for r in decisions} == {
        ("single", f"{s}__epochs__{e}", str(f"{s}__epochs__{e}" == OPEN).lower())
        for s in ("banded", "total") for e in (1, 2, 4)}
    check = tsv(work / "results/lean/derive_check.tsv")
    assert {(r["family"], r["configuration"], r["ok"]) for r in check} == {
        ("banded__original", "banded__epochs__1", "true"), ("total__original", "total__epochs__1", "false")}
    # trained: the first wave, the source's repetition 3 (for the open derived group) and the failed
    # family's derived member at every repetition; the open group itself is never trained
    assert records_in(work) == FIRST_WAVE | AFTER
    assert set(re.findall(r"rule train_single:\n    output: (\S+)", log)) == FIRST_WAVE | AFTER
    assert rows_of(work) == ROWS
    # the open group's repetition 3 is read from the source's repetition 3
    runs = {r["run_id"]: r for r in tsv(work / "results/runs.tsv")}
    source = json.loads((work / single(SOURCE, 3)).read_text())
    mark = next(e for e in source["energy"]["phases"]["main"]["epochs"] if e["epoch"] == 2)
    row = runs[run_id(OPEN, 3)]
    assert float(row["train_total_energy_j"]) == pytest.approx(mark["total_j"], rel=1e-12)
    assert float(row["accuracy"]) == pytest.approx(mark["metric"])
    # the checkpoint's log: one open group, one family trained in full, no empty note shown as "nan"
    decide_log = (work / "logs/lean_decide.log").read_text()
    assert f"extend single {OPEN}: open: metric p=0.198" in decide_log
    assert "1 trained in full (3 more training jobs)" in decide_log
    # the source's repetition 3 (for the open derived configuration) and the failed family's 3 runs
    assert "after the checkpoint: 4 more training jobs\n" in decide_log
    assert re.search(r"ok     banded__original: banded__epochs__1 \(total_energy_j\): .*, metric error 0\.0$",
                     decide_log, re.M) and not re.search(r"; nan$", decide_log, re.M), decide_log
    # the footprint counts what was trained, derived and left out (24 jobs in the full design)
    foot = {r["item"]: r for r in tsv(work / "results/footprint.tsv")}
    assert [foot[i]["count"] for i in ("training_single", "derived", "extended", "saving", "full_design")] == [
        str(len(FIRST_WAVE | AFTER)), "3", "1", "6", "24"]
    # a second run has nothing to do, dry or not
    dry = snakemake(work, CONFIG, "-n", timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-3000:]
    again = snakemake(work, CONFIG, "--cores", "2", timeout=300)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    assert "rule train_" not in again.stdout + again.stderr and "lean_decide:" not in again.stdout + again.stderr


@pytest.mark.slow
def test_a_kill_during_the_full_family_retrain_resumes_with_only_the_missing_runs(combo_study):
    work, _ = combo_study
    uninterrupted = rows_of(work)
    # The state of a study stopped after its checkpoint: first wave and both tables there, none of
    # the records after the checkpoint, nothing after the records (Snakemake does not retrain a
    # deleted record while the tables after it are up to date).
    for path in AFTER:
        (work / path).unlink()
        (work / lock_path_for(path)).unlink(missing_ok=True)
    for path in (work / "results").iterdir():
        if path.name not in ("runs", "lean", "mutants.tsv"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    tables = ["results/lean/decisions.tsv", "results/lean/derive_check.tsv"]
    before, decided = stamps(work, FIRST_WAVE), (stamps(work, tables), contents(work, tables))
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work), "--configfile",
                             str(work / "config.yaml"), "--profile", str(ROOT / "profiles/default"), "--cores", "1"]

    # kill once one run of the failed family is written and another one is training (its run lock,
    # greenhp.procs.lock_path_for, is there while its wrapper runs)
    def retrain_under_way() -> bool:
        done = records_in(work) & FULL
        return bool(done) and any((work / lock_path_for(p)).exists() for p in FULL - done)

    kill_when(cmd, retrain_under_way)
    missing = (FIRST_WAVE | AFTER) - records_in(work)
    assert missing and missing < AFTER and missing & FULL, missing
    kept = records_in(work)
    kept_stamps, kept_contents = stamps(work, kept), contents(work, kept)

    unlock = subprocess.run(cmd + ["--unlock"], env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    # the dry run lists exactly the missing runs, and no new decision
    dry = subprocess.run(cmd + ["-n"], env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, (dry.stdout + dry.stderr)[-3000:]
    assert LINE in dry.stderr
    assert {o for rule, o in planned_jobs(dry.stdout) if rule.startswith("train_")} == missing
    assert "lean_decide" not in job_counts(dry.stdout)

    resumed = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-4000:]
    assert set(re.findall(r"rule train_\w+:\n    output: (\S+)", log)) == missing, log[-4000:]
    assert "checkpoint lean_decide:" not in log  # decided once: the tables are the ones before the kill
    assert (stamps(work, tables), contents(work, tables)) == decided
    assert stamps(work, kept) == kept_stamps and contents(work, kept) == kept_contents
    assert stamps(work, FIRST_WAVE) == before
    assert not incomplete_marks(work)
    assert records_in(work) == FIRST_WAVE | AFTER
    assert rows_of(work) == uninterrupted == ROWS


def band(low: float, high: float) -> dict:
    out = copy.deepcopy(CONFIG)
    out["lean"]["p_band"] = [low, high]
    return out


@pytest.mark.slow
def test_another_band_names_only_the_records_it_does_not_use(combo_study):
    work, _ = combo_study
    trained = stamps(work, FIRST_WAVE | AFTER)

    def decide_again(conf: dict) -> str:
        run = snakemake(work, conf, "--cores", "2", timeout=600)
        log = run.stdout + run.stderr
        assert run.returncode == 0, log[-4000:]
        assert "rule train_" not in log and "localcheckpoint lean_decide:" in log
        assert stamps(work, FIRST_WAVE | AFTER) == trained
        return (work / "logs/lean_decide.log").read_text()

    # the same groups open: the source's repetition 3 and the failed family's are used, not named
    text = decide_again(band(0.02, 0.31))
    assert "on disk, not used" not in text, text
    assert rows_of(work) == ROWS
    # the derived group decided too: the source's repetition 3 is not used any more (no row, no
    # derived row from it); the failed family's repetition 3 still is (trained in full)
    text = decide_again(band(0.02, 0.1))
    assert re.findall(r"on disk, not used \(its group is not open under the current settings\): (\S+)", text) == [
        single(SOURCE, 3)], text
    assert rows_of(work) == ROWS - {(run_id(SOURCE, 3), "false", ""), (run_id(OPEN, 3), "true", run_id(SOURCE, 3))}
