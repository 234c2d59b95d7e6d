"""A test-only user subject that misbehaves as ``HOSTILE_MODE`` (environment) says (tests/test_hostile_runs.py).

ok: accuracy 0.5; nan / inf: a NaN / inf metric; str_metric: the metric "0.9"; str_effective: lr "0.1";
fast: lr "fast"; extra: an unserialisable extra; other_metric: reports "loss" though it declares accuracy;
fork: starts a sleeper in its own process group, one in its own session and a double-forked daemon
(their PIDs go to ``HOSTILE_PIDFILE``), then finishes ok; hang: writes its PID to HOSTILE_PIDFILE and sleeps.
acc_neg / acc_huge: accuracy -5.0 / 1e308; secs_neg / secs_str / secs_nan / secs_long / secs_none:
train_seconds -100, "fast", NaN, 1e9 (longer than the run), None.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from greenhp.subjects.base import RunContext, Subject, TrainResult


def sleeper(**kwargs) -> int:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], **kwargs).pid


def daemon() -> int:
    """Double fork + setsid: the classic daemon, re-parented away from the training at once."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, str(os.getpid()).encode())
            os.close(w)
            time.sleep(300)
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    grandchild = int(os.read(r, 32))
    os.close(r)
    return grandchild


def run(hp: dict, ctx: RunContext) -> TrainResult:
    mode = os.environ.get("HOSTILE_MODE", "ok")
    effective, metric_name, metric, extra = dict(hp), "accuracy", 0.5, {}
    seconds = {"secs_neg": -100.0, "secs_str": "fast", "secs_nan": float("nan"), "secs_long": 1e9,
               "secs_none": None}.get(mode, 0.01)
    metric = {"acc_neg": -5.0, "acc_huge": 1e308}.get(mode, metric)
    if mode == "nan":
        metric = float("nan")
    elif mode == "inf":
        metric = float("inf")
    elif mode == "str_metric":
        metric = "0.9"
    elif mode == "str_effective":
        effective["lr"] = str(hp["lr"])
    elif mode == "fast":
        effective["lr"] = "fast"
    elif mode == "extra":
        extra = {"model": object()}
    elif mode == "other_metric":
        metric_name = "loss"
    elif mode == "fork":
        pids = [sleeper(), sleeper(start_new_session=True), daemon()]
        with open(os.environ["HOSTILE_PIDFILE"], "w") as fh:
            fh.write(" ".join(map(str, pids)))
    elif mode == "hang":
        with open(os.environ["HOSTILE_PIDFILE"], "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(300)
    ctx.epoch_done(1, 1, 0.1)
    return TrainResult(metric_name, metric, effective, 1, seconds, extra)


HOSTILE = Subject(
    name="hostile",
    description="test subject: returns odd results, forks processes or hangs, as HOSTILE_MODE says",
    metric_name="accuracy",
    defaults={"epochs": 1, "lr": 0.01},
    run=run,
)
