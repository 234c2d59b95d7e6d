"""Exclusive GPU slots: one measured job per GPU index, enforced with fcntl.flock.

A lock is held on ``<lock_dir>/gpu<N>.lock`` for the life of the context; the kernel drops it when
the process dies (even by SIGKILL), so a crashed job never leaves a stale slot. If
``CUDA_VISIBLE_DEVICES`` is already set (SLURM, a user), it is respected and no lock is taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass
from typing import Iterator, MutableMapping


@dataclass
class GpuSlot:
    index: int | None            # physical GPU index locked, None when the environment chose
    cuda_visible_devices: str | None
    lock_path: str | None
    locked: bool
    waited_s: float = 0.0


@contextlib.contextmanager
def acquire_gpu(n_gpus: int, lock_dir: str | os.PathLike, timeout_s: float | None = None,
                poll_s: float = 0.1, environ: MutableMapping[str, str] | None = None) -> Iterator[GpuSlot]:
    """Lock a free GPU index in ``range(n_gpus)`` and set CUDA_VISIBLE_DEVICES for children.

    Blocks until one is free (or raises TimeoutError after ``timeout_s``). ``environ`` is the
    environment the children will get (default: this process's ``os.environ``); pass a copy when
    several jobs run as threads of one process (Snakemake ``run:`` rules), so they cannot see or
    overwrite each other's CUDA_VISIBLE_DEVICES.
    """
    if environ is None:
        environ = os.environ
    existing = environ.get("CUDA_VISIBLE_DEVICES")
    if existing is not None and existing.strip() != "":
        yield GpuSlot(index=None, cuda_visible_devices=existing, lock_path=None, locked=False)
        return
    if not isinstance(n_gpus, int) or isinstance(n_gpus, bool) or n_gpus < 1:
        raise ValueError(f"n_gpus: {n_gpus!r} must be an integer >= 1")
    os.makedirs(lock_dir, exist_ok=True)
    t0 = time.monotonic()
    fd = None
    index = None
    while fd is None:
        for i in range(n_gpus):
            path = os.path.join(os.fspath(lock_dir), f"gpu{i}.lock")
            f = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(f)
                continue
            fd, index = f, i
            os.ftruncate(f, 0)
            os.write(f, f"{os.getpid()}\n".encode())
            break
        if fd is None:
            if timeout_s is not None and time.monotonic() - t0 >= timeout_s:
                raise TimeoutError(f"no free GPU slot among {n_gpus} in {lock_dir} after {timeout_s:g} s")
            time.sleep(poll_s)
    old = environ.get("CUDA_VISIBLE_DEVICES")
    environ["CUDA_VISIBLE_DEVICES"] = str(index)
    try:
        yield GpuSlot(index=index, cuda_visible_devices=str(index), lock_path=path, locked=True,
                      waited_s=time.monotonic() - t0)
    finally:
        if old is None:
            environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            environ["CUDA_VISIBLE_DEVICES"] = old
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
