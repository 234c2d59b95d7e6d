"""The adaptive lean design in the workflow (issue 24, item 1; docs/lean.md, "How a lean study runs"):
the first wave, checkpoint lean_decide, the extension of exactly the open groups, resume
mid-extension, a rerun with another band, the dry run, and lean off leaving the DAG as it was.

The subject (tests/lean_subject.py) sets each configuration's accuracy with a fixed noise per
repetition, so that after a first wave of 2 (originals at 3) the metric p-values are known: 0.81
(x2), 0.002 (x4) and 0.20 (x0.5). With p_band [0.02, 0.3) only x0.5 is open, alone and beside the
partner. The energy meters are off: the energy comparison has no p-value and decides nothing.
"""

import base64
import copy
import csv
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from greenhp.lean.settings import LeanError
from greenhp.lean.waves import extension_records, first_wave_records, plan_order, plan_records, read_decisions
from greenhp.procs import lock_path_for
from greenhp.study import load_study, validate_config
from lean_subject import SEED
from testutil import ROOT, snakemake_cmd, subprocess_env

CONFIG = {
    "study": "lean-tiny",
    "seed": SEED,
    "device": "cpu",
    "repetitions": 3,
    "mutants_per_hyperparameter": 3,
    "subjects": {"lean": {"module": f"{ROOT / 'tests/lean_subject.py'}:LEAN",
                          "hyperparameters": {"lr": {"operator": "values", "values": [0.05, 0.2, 0.4]}}}},
    "pairs": {"lean": "lean"},
    "train": {"torch_threads": 1},
    "energy": {"gpu_meter": "none", "cpu_meter": "none"},
    "analysis": {"n_boot": 100, "test": "welch"},
    "lean": {"enabled": True, "first_wave": 2, "p_band": [0.02, 0.3]},
}
OPEN = "lean__lr__x0.5"
PARTNER = "lean__original"
MUTANTS = ["lean__original", "lean__lr__x0.5", "lean__lr__x2", "lean__lr__x4"]


def record(mode: str, mutant: str, rep: int) -> str:
    return (f"results/runs/single/{mutant}/rep{rep}.json" if mode == "single"
            else f"results/runs/pair/{mutant}/{PARTNER}/rep{rep}.json")


# Every record the lean study uses: originals at 3 repetitions, mutants at 2, the open one at 3.
EXPECTED = {record(mode, m, k) for mode in ("single", "pair") for m in MUTANTS for k in (1, 2, 3)
            if k < 3 or m in ("lean__original", OPEN)}
EXTENSIONS = {record("single", OPEN, 3), record("pair", OPEN, 3)}


def config(**lean) -> dict:
    out = copy.deepcopy(CONFIG)
    out["lean"].update(lean)
    return out


def study_of(conf: dict):
    conf = copy.deepcopy(conf)
    validate_config(conf)
    return load_study(conf)


def snakemake(work: Path, conf: dict, *extra: str, timeout: int = 600, name: str = "config.yaml"):
    (work / name).write_text(yaml.safe_dump(conf))
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(work / name), "--profile", str(ROOT / "profiles/default"),
                             *extra]
    return subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout)


def records_in(work: Path) -> set[str]:
    return {str(p.relative_to(work)) for p in (work / "results/runs").rglob("*.json")}


def tsv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open(), delimiter="\t"))


def job_counts(text: str) -> dict[str, int]:
    """The dry run's "Job stats" table."""
    table = text[text.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def planned_jobs(text: str) -> set[tuple[str, str]]:
    """(rule, output) of every job a dry run lists (order and job ids vary from run to run)."""
    return set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):\n(?:    input: .*\n)?    output: (.*)$", text, re.M))


# ---------------------------------------------------------------------------- the library (fast)

def test_first_wave_and_extension_records_follow_the_decisions(tmp_path):
    study = study_of(CONFIG)
    assert set(first_wave_records(study)) == EXPECTED - EXTENSIONS
    decisions = tmp_path / "decisions.tsv"
    decisions.write_text("subject\tmode\tpartner\tmutant_id\textend\n"
                         f"lean\tsingle\t\t{OPEN}\ttrue\nlean\tpair\t{PARTNER}\t{OPEN}\tTrue\n"
                         f"lean\tsingle\t\tlean__lr__x2\tfalse\nlean\tpair\t{PARTNER}\tlean__lr__x4\tfalse\n")
    assert extension_records(study, decisions) == [record("single", OPEN, 3), record("pair", OPEN, 3)]
    # the study's records in the full design's order, whatever order they come in
    assert plan_order(study, sorted(EXPECTED)) == [r for r in plan_records(study) if r in EXPECTED]
    off = study_of(config(enabled=False))
    assert first_wave_records(off) == plan_records(off) and len(plan_records(off)) == 24


@pytest.mark.parametrize("row, message", [
    (f"lean\tsingle\t\tlean__lr__x9\ttrue", "line 2: mutant_id 'lean__lr__x9' is not a configuration"),
    (f"lean\tsingle\t\tlean__original\ttrue", "line 2: mutant_id 'lean__original' is an original"),
    (f"lean\tpair\tother__original\t{OPEN}\ttrue", "line 2: partner 'other__original' is not a partner of lean"),
    (f"lean\tsingle\t\t{OPEN}\tyes", "line 2: extend 'yes' is not true or false"),
    (f"lean\tboth\t\t{OPEN}\ttrue", "line 2: mode 'both' is not single or pair"),
])
def test_a_bad_decisions_table_is_named(tmp_path, row, message):
    decisions = tmp_path / "decisions.tsv"
    decisions.write_text("subject\tmode\tpartner\tmutant_id\textend\n" + row + "\n")
    with pytest.raises(LeanError, match=re.escape(f"{decisions}, {message}")):
        read_decisions(decisions, study_of(CONFIG))


# ---------------------------------------------------------------------------- the workflow (slow)

@pytest.mark.slow
def test_dry_run_shows_the_first_wave_and_lean_off_keeps_the_full_design(tmp_path):
    lean = snakemake(tmp_path, CONFIG, "-n", timeout=300)
    assert lean.returncode == 0, lean.stderr[-3000:]
    assert ("greenhp: lean design: first wave of 2 of 3 repetitions (18 training jobs; originals get all 3); "
            "more may follow after checkpoint lean_decide (results/lean/decisions.tsv)") in lean.stderr
    counts = job_counts(lean.stdout)
    assert (counts["train_single"], counts["train_pair"], counts["lean_decide"]) == (9, 9, 1)
    jobs = planned_jobs(lean.stdout)
    assert {out for rule, out in jobs if rule.startswith("train_")} == EXPECTED - EXTENSIONS
    assert "checkpoint" in lean.stdout

    # Lean off (no lean section, enabled false, or a first wave of every repetition): the full design,
    # every job of it, no checkpoint, no lean line; the three dry runs list the same jobs.
    full = {record(mode, m, k) for mode in ("single", "pair") for m in MUTANTS for k in (1, 2, 3)}
    off = [{k: v for k, v in CONFIG.items() if k != "lean"}, config(enabled=False), config(first_wave=3)]
    listed = []
    for i, conf in enumerate(off):
        out = snakemake(tmp_path, conf, "-n", timeout=300, name=f"off{i}.yaml")
        assert out.returncode == 0, out.stderr[-3000:]
        assert "lean design" not in out.stderr and "lean_decide" not in out.stdout + out.stderr
        jobs = planned_jobs(out.stdout)
        assert {o for rule, o in jobs if rule.startswith("train_")} == full
        listed.append(jobs)
    assert listed[0] == listed[1] == listed[2]


def finished_study(tmp_path_factory, name: str, conf: dict) -> tuple[Path, str]:
    """A study run to its end in a fresh folder: (folder, Snakemake's output)."""
    work = tmp_path_factory.mktemp(name)
    first = snakemake(work, conf, "--cores", "2", timeout=900)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    return work, first.stdout + first.stderr


@pytest.fixture(scope="module")
def lean_study(tmp_path_factory):
    return finished_study(tmp_path_factory, "lean", CONFIG)


@pytest.mark.slow
def test_the_checkpoint_extends_exactly_the_open_groups(lean_study):
    work, log = lean_study
    decisions = tsv(work / "results/lean/decisions.tsv")
    assert {(r["mode"], r["mutant_id"]): r["extend"] for r in decisions} == {
        (mode, m): "true" if m == OPEN else "false" for mode in ("single", "pair") for m in MUTANTS[1:]}
    assert all(r["partner"] == (PARTNER if r["mode"] == "pair" else "") for r in decisions)
    assert records_in(work) == EXPECTED
    runs = tsv(work / "results/runs.tsv")
    assert sorted((r["mode"], r["mutant_id"], int(r["repetition"])) for r in runs) == sorted(
        (mode, m, k) for mode in ("single", "pair") for m in MUTANTS for k in (1, 2, 3)
        if record(mode, m, k) in EXPECTED)
    assert {r["status"] for r in runs} == {"ok"}
    # The footprint and the summary count the same runs (run_records feeds every reader).
    foot = {r["item"]: r for r in tsv(work / "results/footprint.tsv")}
    assert (foot["training_single"]["count"], foot["training_pair"]["count"]) == ("10", "10")
    assert "localcheckpoint lean_decide:" in log and "open: metric p=0.198" in (work / "logs/lean_decide.log").read_text()
    again = snakemake(work, CONFIG, "--cores", "2", timeout=300)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    # The report's front page says which design ran (not "trained 3 times"), and its footprint rows.
    report = snakemake(work, CONFIG, "--report", "results/report.html", timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    page = (work / "results/report.html").read_text()
    assert "every original was trained 3 times" in page and "trained 3 times alone" not in page
    assert {"design", "extended", "saving", "full_design"} <= set(foot)
    assert foot["design"]["status"] == "lean" and foot["extended"]["count"] == "2"


def incomplete_marks(work: Path) -> set[str]:
    """Outputs Snakemake marks as incomplete (a job started on them and did not finish)."""
    folder = work / ".snakemake/incomplete"
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return {base64.urlsafe_b64decode(n).decode() for n in names if n != "migration_underway"}


def stamps(work: Path, paths) -> dict:
    return {p: os.stat(work / p).st_mtime_ns for p in paths}


def kill_when(cmd: list[str], ready, timeout: float = 300) -> None:
    """Start Snakemake (``cmd``) in a process group of its own and SIGKILL the whole group (a lost
    node, the OOM killer) as soon as ``ready()`` is true (polled every 20 ms); fails when the run ends
    first or ``ready()`` never comes true within ``timeout`` seconds."""
    proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline, "the moment to kill the run never came"
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1)  # the killed training process's own session ends with its wrapper


@pytest.mark.slow
def test_a_killed_extension_resumes_with_only_the_missing_runs(lean_study):
    work, _ = lean_study
    # The state of a study stopped during its extension: first wave and decisions there, no extension
    # record, nothing after the records (Snakemake does not retrain a deleted record while the
    # tables after it are up to date, lean or not).
    for path in EXTENSIONS:
        (work / path).unlink()
        (work / lock_path_for(path)).unlink(missing_ok=True)
    for path in (work / "results").iterdir():
        if path.name not in ("runs", "lean", "mutants.tsv"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    before = stamps(work, EXPECTED - EXTENSIONS)
    decided = os.stat(work / "results/lean/decisions.tsv").st_mtime_ns
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work), "--configfile",
                             str(work / "config.yaml"), "--profile", str(ROOT / "profiles/default"), "--cores", "1"]
    # kill once one extension record is written and the other one is training (its run lock,
    # greenhp.procs.lock_path_for, is there while its wrapper runs)
    def one_done_one_training() -> bool:
        done = records_in(work) - set(before)
        return len(done) == 1 and (work / lock_path_for(next(iter(EXTENSIONS - done)))).exists()

    kill_when(cmd, one_done_one_training)
    missing = EXPECTED - records_in(work)
    assert missing and missing < EXTENSIONS, missing
    kept = stamps(work, records_in(work))

    unlock = subprocess.run(cmd + ["--unlock"], env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resumed = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-4000:]
    trained = set(re.findall(r"rule train_\w+:\n    output: (\S+)", log))
    assert trained == missing, log[-4000:]
    assert "checkpoint lean_decide:" not in log  # decided once; the first wave is not read, let alone retrained
    assert os.stat(work / "results/lean/decisions.tsv").st_mtime_ns == decided
    assert stamps(work, kept) == kept and stamps(work, before) == before
    assert not incomplete_marks(work)
    assert records_in(work) == EXPECTED


@pytest.mark.slow
def test_another_band_decides_again_without_training(lean_study):
    work, _ = lean_study
    before = stamps(work, EXPECTED)
    narrow = snakemake(work, config(p_band=[0.02, 0.1]), "--cores", "2", timeout=600)
    log = narrow.stdout + narrow.stderr
    assert narrow.returncode == 0, log[-4000:]
    assert "rule train_" not in log and "localcheckpoint lean_decide:" in log
    assert {r["extend"] for r in tsv(work / "results/lean/decisions.tsv")} == {"false"}
    # the study now uses the first wave only; the extension records stay on disk, named as not used
    assert len(tsv(work / "results/runs.tsv")) == len(EXPECTED - EXTENSIONS)
    assert stamps(work, EXPECTED) == before
    text = (work / "logs/lean_decide.log").read_text()
    assert all(f"on disk, not used (its group is not open under the current settings): {p}" in text for p in EXTENSIONS)
    # back to the first band: the kept extension records are used again, nothing is trained
    back = snakemake(work, CONFIG, "--cores", "2", timeout=600)
    assert back.returncode == 0 and "rule train_" not in back.stdout + back.stderr
    assert len(tsv(work / "results/runs.tsv")) == len(EXPECTED) and stamps(work, EXPECTED) == before
