"""SIGKILL to Snakemake alone (the OOM killer does this) or Ctrl-C leaves nothing running: the script job's
wrapper sees its Snakemake gone, kills its training and exits without a record; the resumed study then
trains the run once, alone (issue 11, failure 3; docs/cluster.md, "Kills and interrupts")."""

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from testutil import ROOT, snakemake_cmd, subprocess_env

pytestmark = pytest.mark.slow

RECORD = "results/runs/single/hostile__original/rep1.json"
CONFIG = {
    "study": "orphans",
    "seed": 5,
    "device": "cpu",
    "repetitions": 1,
    "mutants_per_hyperparameter": 1,
    "subjects": {"hostile": {"module": str(ROOT / "tests/hostile_subject.py") + ":HOSTILE",
                             "hyperparameters": {"lr": {"operator": "values", "values": [0.02]}}}},
    "pairs": {},
    "train": {"max_steps": 1, "torch_threads": 1, "timeout_s": 200},
    "analysis": {"n_boot": 100},
}


def processes_with(token: str) -> list[int]:
    """Live processes whose environment holds ``token`` (everything this test started)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if token.encode() in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


@pytest.mark.parametrize("sig, group", [(signal.SIGKILL, False), (signal.SIGINT, True)], ids=["sigkill-snakemake", "ctrl-c"])
def test_killing_snakemake_leaves_no_orphan_and_the_rerun_trains_once(tmp_path, sig, group):
    """SIGKILL to Snakemake alone; Ctrl-C (SIGINT to the terminal's foreground process group)."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                             "--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    token = uuid.uuid4().hex
    env = subprocess_env() | {"GREENHP_ORPHAN_TEST": token, "HOSTILE_MODE": "hang",
                              "HOSTILE_PIDFILE": str(tmp_path / "training.pid")}
    first = subprocess.Popen(cmd + [RECORD], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (tmp_path / "training.pid").exists():
            assert first.poll() is None, "Snakemake ended before the training started"
            time.sleep(0.1)
        assert (tmp_path / "training.pid").exists(), "the training never started"
        assert len(processes_with(token)) >= 3  # Snakemake, the wrapper (under bash) and the training
        if group:
            os.killpg(first.pid, sig)
        else:
            os.kill(first.pid, sig)  # Snakemake alone, not its process group
        first.wait(timeout=60)
        for _ in range(100):
            if not processes_with(token):
                break
            time.sleep(0.1)
        assert processes_with(token) == [], f"the wrapper or its training outlived Snakemake killed by {sig!r}"
    finally:
        for pid in processes_with(token):
            os.kill(pid, signal.SIGKILL)
    assert not (tmp_path / RECORD).exists()

    if sig == signal.SIGKILL:  # Snakemake's lock stays behind
        unlock = subprocess.run(cmd + ["--unlock"], env=env, capture_output=True, text=True, timeout=120)
        assert unlock.returncode == 0, unlock.stderr[-2000:]
    env["HOSTILE_MODE"] = "ok"
    second = subprocess.run(cmd + ["--rerun-incomplete", RECORD], env=env, capture_output=True, text=True, timeout=300)
    log = second.stdout + second.stderr
    assert second.returncode == 0, log[-4000:]
    assert log.count("rule train_single:") == 1 and "still being trained" not in log
    assert '"status": "ok"' in (tmp_path / RECORD).read_text()
