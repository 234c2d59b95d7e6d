"""GPU slots on a host shared by several users (issue 10 item 8, issue 11 failure 2): the lock
directory is sticky and world-writable, lock files are opened read-only without following links or
truncating, and CUDA numbers GPUs in the PCI bus order NVML uses."""

import os
import stat
import subprocess
import sys

import pytest

from greenhp.energy.slots import LockDirError, acquire_gpu

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


@pytest.fixture(autouse=True)
def clean_cuda_env(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)


def test_new_lock_dir_is_shared_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        with acquire_gpu(1, tmp_path / "locks") as s:
            assert s.locked and s.index == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "locks").st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(tmp_path / "locks" / "gpu0.lock").st_mode) == 0o644


def test_existing_lock_file_is_neither_truncated_nor_written(tmp_path):
    lock = tmp_path / "gpu0.lock"
    lock.write_text("someone else's content\n")
    with acquire_gpu(1, tmp_path):
        pass
    assert lock.read_text() == "someone else's content\n"


def test_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.symlink(victim, tmp_path / "gpu0.lock")
    with pytest.raises(LockDirError, match=r"gpu0.lock is a symbolic link; refusing to follow it"):
        with acquire_gpu(1, tmp_path):
            pass
    assert victim.read_text() == "precious\n"


def test_symlinked_or_unsafe_lock_dir_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    with pytest.raises(LockDirError, match="is a symbolic link"):
        with acquire_gpu(1, tmp_path / "link"):
            pass
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)  # writable by all, no sticky bit: others could swap the lock files
    with pytest.raises(LockDirError, match=r"without the sticky bit.*chmod 1777"):
        with acquire_gpu(1, open_dir):
            pass


def test_a_fifo_planted_as_lock_file_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "gpu0.lock")
    with pytest.raises(LockDirError, match="not a regular file"):
        with acquire_gpu(1, tmp_path):
            pass


def test_cuda_device_order_is_pci_bus_order_beside_visible_devices(tmp_path, monkeypatch):
    env = {}
    with acquire_gpu(2, tmp_path, environ=env) as s:
        assert env == {"CUDA_VISIBLE_DEVICES": str(s.index), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert env == {}
    env = {"CUDA_DEVICE_ORDER": "FASTEST_FIRST"}  # the user's explicit choice is kept
    with acquire_gpu(1, tmp_path, environ=env):
        assert env["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"
    env = {"CUDA_VISIBLE_DEVICES": "1"}  # chosen by a scheduler: no lock, but index 1 means NVML's GPU 1
    with acquire_gpu(2, tmp_path / "unused", environ=env) as s:
        assert not s.locked and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env == {"CUDA_VISIBLE_DEVICES": "1"}


def test_runner_trains_on_the_gpu_it_measures_with_fake_nvml(tmp_path, monkeypatch, make_nvml):
    """With two (fake) NVML GPUs the run wrapper measures the NVML index it locked, and its children
    see that index as their only CUDA device, counted in NVML's (PCI bus) order."""
    from greenhp import runner
    from greenhp.runner import RunSpec

    monkeypatch.setitem(sys.modules, "pynvml", make_nvml(count=2))
    monkeypatch.setattr(runner, "GPU_LOCK_DIR", str(tmp_path / "locks"))
    spec = RunSpec(mode="single", mutant=None, repetition=1, seed=1, device="cuda")
    outer, inner = {}, {}
    with runner.gpu_slot(spec, outer) as first:
        with runner.gpu_slot(spec, inner) as second:
            assert (first, second) == (0, 1)
            assert outer == {"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
            assert inner == {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


HOLDER = """
import os, sys, time
sys.path.insert(0, {src!r})
from greenhp.energy.slots import acquire_gpu
os.setgid({uid}); os.setuid({uid})
with acquire_gpu(2, {d!r}, timeout_s=5) as s:
    print(s.index, flush=True)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_a_second_user_takes_locks_in_the_first_users_directory():
    """root creates the lock directory (umask 077) and holds GPU 0; user nobody then gets GPU 1 from
    the same directory instead of a PermissionError."""
    import shutil
    import tempfile
    from pathlib import Path

    top = Path(tempfile.mkdtemp(prefix="greenhp-slots-"))  # under /tmp, reachable by nobody (pytest's tmp is 0700)
    os.chmod(top, 0o755)
    lock_dir = top / "greenhp-gpu-locks"
    old = os.umask(0o077)
    try:
        with acquire_gpu(2, lock_dir) as s:
            assert s.index == 0
            out = subprocess.run([sys.executable, "-c", HOLDER.format(src=os.path.abspath(SRC), uid=65534, d=str(lock_dir))],
                                 capture_output=True, text=True, timeout=60,
                                 env={k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"})
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip() == "1"
        assert os.stat(lock_dir / "gpu1.lock").st_uid == 65534
    finally:
        os.umask(old)
        shutil.rmtree(top, ignore_errors=True)
