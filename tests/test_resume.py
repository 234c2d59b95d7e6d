"""Resume: SIGKILL a running study (Snakemake, its job threads and every training process it started),
run `--unlock` and the same command again, and check that only the missing runs are trained and no record is lost,
half-written or duplicated (docs/cluster.md, "Resume")."""

import base64
import csv
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from greenhp.study import load_study
from testutil import ROOT, snakemake_cmd, subprocess_env

pytestmark = pytest.mark.slow

CONFIG = {
    "study": "resume",
    "seed": 11,
    "device": "cpu",
    "repetitions": 2,
    "mutants_per_hyperparameter": 1,
    "subjects": {"digits_mlp": {"hyperparameters": ["lr", "gamma"], "defaults": {"epochs": 2}}},
    "pairs": {},
    "train": {"max_steps": 3, "torch_threads": 1},
    "analysis": {"n_boot": 100},
}


def processes_with(token: str, cmdline: str = "") -> list[int]:
    """Pids of live processes whose environment holds ``token`` (everything this test started) and whose
    command line holds ``cmdline``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if token.encode() in (entry / "environ").read_bytes() and cmdline.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def incomplete_marks(work: Path) -> set[str]:
    """Outputs Snakemake marks as incomplete (a job started on them and did not finish)."""
    folder = work / ".snakemake/incomplete"
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return {base64.urlsafe_b64decode(n).decode() for n in names if n != "migration_underway"}


def test_killed_study_resumes_with_only_the_missing_runs(tmp_path):
    work = tmp_path
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    study = load_study(yaml.safe_load((work / "config.yaml").read_text()) | {"pairs": {}})
    planned = {f"results/runs/single/{j.mutant_id}/rep{j.repetition}.json" for j in study.single_jobs()}
    assert len(planned) == 6
    # The documented resume command is the very same command (profiles/default: rerun-incomplete).
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(work / "config.yaml"), "--profile", str(ROOT / "profiles/default"),
                             "--cores", "2"]
    token = f"GREENHP_RESUME_TEST={uuid.uuid4().hex}"
    env = subprocess_env() | {"GREENHP_RESUME_TEST": token.split("=")[1]}

    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        done: list[Path] = []
        while time.monotonic() < deadline and first.poll() is None:
            done = [p for p in (work / "results/runs").rglob("*.json")] if (work / "results/runs").is_dir() else []
            if done:
                break
            time.sleep(0.05)
        assert done and first.poll() is None, "the study ended (or never wrote a record) before it could be killed"
        while time.monotonic() < deadline and not processes_with(token, "greenhp.train"):
            time.sleep(0.05)  # kill while a training process is in flight
        assert processes_with(token, "greenhp.train"), "no training in flight"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        # The training processes run in their own sessions; they must die with the killed wrapper.
        for _ in range(50):
            if not processes_with(token):
                break
            time.sleep(0.1)
        assert processes_with(token) == [], "training processes outlived the killed Snakemake"
    finally:
        for pid in processes_with(token):
            os.kill(pid, signal.SIGKILL)

    records = {str(p.relative_to(work)) for p in (work / "results/runs").rglob("*.json")}
    assert records <= planned
    assert records != planned, "every run finished before the kill; nothing left to resume"
    # Nothing else under results/runs but complete records (and, if the kill hit a write, an atomic
    # write's hidden temp file, or the killed run's hidden lock file; no rule reads either).
    others = [p for p in (work / "results/runs").rglob("*") if p.is_file() and p.suffix != ".json"]
    assert all(p.name.startswith(".") and p.name.endswith((".tmp", ".lock")) for p in others), others
    incomplete = incomplete_marks(work)
    finished = {r: (os.stat(work / r).st_ino, os.stat(work / r).st_mtime_ns) for r in records - incomplete}
    assert finished, "no run had finished"

    # A SIGKILL leaves Snakemake's lock behind: the documented resume is --unlock, then the same command.
    locked = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    unlock = subprocess.run(cmd + ["--unlock"], env=env, capture_output=True, text=True, timeout=120)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    log = second.stdout + second.stderr
    assert second.returncode == 0, log[-4000:]
    # Only the missing runs were trained; finished records are untouched (same inode, same mtime).
    assert log.count("rule train_single:") == len(planned) - len(finished), log[-4000:]
    for r, stamp in finished.items():
        assert (os.stat(work / r).st_ino, os.stat(work / r).st_mtime_ns) == stamp, r
    assert {str(p.relative_to(work)) for p in (work / "results/runs").rglob("*.json")} == planned
    assert not incomplete_marks(work)
    rows = list(csv.DictReader((work / "results/runs.tsv").open(), delimiter="\t"))
    assert len(rows) == len(planned) and len({r["run_id"] for r in rows}) == len(planned)
    assert {r["status"] for r in rows} == {"ok"}
