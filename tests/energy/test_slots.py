import os
import signal
import subprocess
import sys
import time

import pytest

from greenhp.energy.slots import acquire_gpu

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")

HOLDER = """
import sys, time
sys.path.insert(0, {src!r})
from greenhp.energy.slots import acquire_gpu
with acquire_gpu({n}, {d!r}) as s:
    import os
    print(s.index, os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
    time.sleep(30)
"""


def _holder(lock_dir, n=1):
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    p = subprocess.Popen([sys.executable, "-c", HOLDER.format(src=SRC, n=n, d=str(lock_dir))],
                         stdout=subprocess.PIPE, text=True, env=env)
    line = p.stdout.readline().split()
    return p, int(line[0]), line[1]


@pytest.fixture(autouse=True)
def no_cvd(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_sets_cuda_visible_devices_and_restores(tmp_path):
    with acquire_gpu(2, tmp_path) as s:
        assert s.locked and s.index == 0 and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_two_processes_contend(tmp_path):
    p, idx, cvd = _holder(tmp_path, n=2)
    try:
        assert idx == 0 and cvd == "0"
        with acquire_gpu(2, tmp_path, timeout_s=2) as s:
            assert s.index == 1 and os.environ["CUDA_VISIBLE_DEVICES"] == "1"
        with pytest.raises(TimeoutError):
            with acquire_gpu(1, tmp_path, timeout_s=0.3):
                pass
    finally:
        p.kill()
        p.wait()


def test_released_on_sigkill(tmp_path):
    p, idx, _ = _holder(tmp_path, n=1)
    assert idx == 0
    t = time.monotonic()

    def kill_soon():
        time.sleep(0.3)
        os.kill(p.pid, signal.SIGKILL)

    import threading
    threading.Thread(target=kill_soon).start()
    with acquire_gpu(1, tmp_path, timeout_s=10) as s:
        assert s.index == 0 and s.waited_s >= 0.2
    p.wait()
    assert time.monotonic() - t < 10


def test_respects_existing_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with acquire_gpu(1, tmp_path / "locks") as s:
        assert not s.locked and s.cuda_visible_devices == "3" and s.index is None
    assert not (tmp_path / "locks").exists()


def test_bad_n(tmp_path):
    with pytest.raises(ValueError, match="n_gpus"):
        with acquire_gpu(0, tmp_path):
            pass
