"""greenhp.parallel: a job's parts in forked processes, with the same results as in one."""
import os
import time

import pandas as pd
import pytest

from greenhp.parallel import PartFailed, run_parts


def test_one_worker_runs_every_part_here_in_order():
    seen = []
    out = run_parts({"a": lambda: seen.append("a") or 1, "b": lambda: seen.append("b") or 2}, 1)
    assert out == {"a": 1, "b": 2} and seen == ["a", "b"]


def test_two_workers_run_the_second_part_in_a_child_that_sees_loaded_data():
    big = pd.DataFrame({"x": range(1000)})  # loaded before the fork, not pickled to the child
    out = run_parts({"here": lambda: (os.getpid(), int(big.x.sum())),
                     "there": lambda: (os.getpid(), int(big.x.max()))}, workers=2)
    assert out["here"] == (os.getpid(), 499500)
    assert out["there"][0] != os.getpid() and out["there"][1] == 999
    assert list(out) == ["here", "there"]


def test_a_failing_child_part_raises_with_its_traceback():
    def boom():
        raise ValueError("bad table in the child")

    with pytest.raises(PartFailed, match="bad table in the child"):
        run_parts({"ok": lambda: 1, "boom": boom}, workers=2)


def test_a_failing_part_here_stops_the_child(tmp_path):
    pid_file = tmp_path / "child.pid"

    def slow():
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)

    def fail():
        for _ in range(200):  # until the child has started
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.05)
        raise RuntimeError("failed here")

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="failed here"):
        run_parts({"fail": fail, "slow": slow}, workers=2)
    assert time.monotonic() - t0 < 30
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # stopped and reaped
