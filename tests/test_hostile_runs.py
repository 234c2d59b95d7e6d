"""A hostile subject cannot break the study: odd results become schema-valid ``failed`` records with a
reason, processes it forks are killed at the end of the run, a signal stops a run without a record (so
the rerun trains it), and a second copy of a run cannot train beside the first (issue 11: 3, 4, 5;
issue 10: interrupted is not failed). Tiny runs through the real wrapper and training process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from greenhp.procs import RunLock, RunLocked, lock_path_for
from greenhp.record import load, record_problem, schema_problem
from greenhp.runner import run_from_params
from testutil import ROOT, subprocess_env

sys.path.insert(0, str(ROOT / "tests"))
from hostile_wrapper import params  # noqa: E402


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def run_in_process(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("HOSTILE_MODE", mode)
    monkeypatch.setenv("HOSTILE_PIDFILE", str(tmp_path / "pids"))
    out = tmp_path / "results/runs/single/hostile__original/rep1.json"
    run_from_params(params(), str(out), {"main": str(tmp_path / "main.log")}, 1)
    return out


@pytest.mark.parametrize("mode, reason", [
    ("nan", "metric accuracy is nan"),
    ("inf", "metric accuracy is inf"),
    ("str_metric", "metric accuracy is '0.9' (str), not a finite number"),
    ("str_effective", "effective hyperparameter lr = '0.01' (str) is not a finite number"),
    ("fast", "effective hyperparameter lr = 'fast' (str) is not a finite number"),
    ("extra", "extra results are not JSON-serialisable"),
    ("other_metric", "declares metric 'accuracy' but reported 'loss'"),
    # issue 22 (Why 11): values of the right type but impossible, checked where the result enters
    ("acc_neg", "TrainResult.metric_value (accuracy) -5 is outside the range of 'accuracy', which is a fraction in [0, 1]"),
    ("acc_huge", "TrainResult.metric_value (accuracy) 1e+308 is outside the range of 'accuracy'"),
    ("secs_neg", "TrainResult.train_seconds -100 is not a finite, non-negative number of seconds"),
    ("secs_str", "TrainResult.train_seconds 'fast' (str) is not a number of seconds"),
    ("secs_nan", "TrainResult.train_seconds is nan (not a finite number of seconds)"),
    ("secs_long", "TrainResult.train_seconds 1e+09 s is longer than the whole run's measured duration"),
    ("secs_none", "TrainResult.train_seconds is missing (None)"),
])
def test_an_odd_result_is_a_failed_schema_valid_record(tmp_path, monkeypatch, mode, reason):
    out = run_in_process(tmp_path, monkeypatch, mode)
    rec = load(out)
    assert schema_problem(rec) is None
    assert record_problem(out) is None  # the record check passes too: nothing the subject said is stored
    assert rec["status"] == "failed" and reason in rec["reason"], rec["reason"]
    assert rec["metric"]["value"] is None
    assert rec["timing"]["train_seconds"] in (None, 0.01)


def test_the_ok_control_run_is_ok(tmp_path, monkeypatch):
    rec = load(run_in_process(tmp_path, monkeypatch, "ok"))
    assert rec["status"] == "ok" and rec["metric"] == {"name": "accuracy", "value": 0.5, "direction": "maximize"}
    assert "leftover_processes" not in rec
    assert not lock_path_for(tmp_path / "results/runs/single/hostile__original/rep1.json").exists()


def test_processes_a_subject_forks_are_killed_at_the_end_of_the_run(tmp_path, monkeypatch):
    """A sleeper in the training's process group, one in its own session and a double-forked daemon."""
    out = run_in_process(tmp_path, monkeypatch, "fork")
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 3
    assert [p for p in pids if alive(p)] == []
    rec = load(out)
    assert rec["status"] == "ok"
    killed = {int(line.split()[0]) for line in rec["leftover_processes"]}
    assert pids[2] in killed  # the daemon was reachable only through the subreaper


def start_wrapper(tmp_path, mode="hang"):
    env = subprocess_env() | {"HOSTILE_MODE": mode, "HOSTILE_PIDFILE": str(tmp_path / "pids")}
    out, log = tmp_path / "rep1.json", tmp_path / "main.log"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/hostile_wrapper.py"), str(out), str(log)], env=env,
                            stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: (tmp_path / "pids").exists() and (tmp_path / "pids").read_text(), 90), "training never started"
    return proc, out, log, int((tmp_path / "pids").read_text())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_wrapper_stops_the_run_without_a_record(tmp_path, sig):
    proc, out, log, training = start_wrapper(tmp_path)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    name = signal.Signals(sig).name
    assert f"interrupted by {name}: no record written" in err and f"interrupted by {name}" in log.read_text()
    assert not out.exists() and not lock_path_for(out).exists()
    assert wait_for(lambda: not alive(training), 5), "the training outlived its wrapper"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signal_to_the_training_is_an_interruption_not_a_failure(tmp_path, sig):
    """A scheduler (or Ctrl-C, or the OOM killer) stopping the training says nothing about its configuration."""
    proc, out, log, training = start_wrapper(tmp_path)
    os.kill(training, sig)
    _, err = proc.communicate(timeout=30)
    name = signal.Signals(sig).name
    assert proc.returncode == 128 + sig, err
    assert f"training process was killed by {name}: no record written" in log.read_text()
    assert not out.exists()


def test_sigkill_of_the_wrapper_takes_its_training_along(tmp_path):
    proc, out, _, training = start_wrapper(tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    assert wait_for(lambda: not alive(training), 5), "the training outlived its SIGKILLed wrapper"
    assert not out.exists()


def test_a_run_still_training_elsewhere_is_not_trained_twice(tmp_path, monkeypatch):
    """The lock beside the record: held (by an orphan of a killed Snakemake), the job fails naming its PID."""
    out = tmp_path / "results/runs/single/hostile__original/rep1.json"
    holder = RunLock(out, "x", wait_s=0)
    holder.acquire()
    try:
        monkeypatch.setenv("GREENHP_RUN_LOCK_WAIT_S", "0.3")
        with pytest.raises(RunLocked, match=f"still being trained by another greenhp process \\(PID {os.getpid()} "):
            run_from_params(params(), str(out), {"main": str(tmp_path / "main.log")}, 1)
    finally:
        holder.release()
    assert not out.exists() and not (tmp_path / "main.log").exists()
