"""Exclusive GPU slots: one measured job per GPU index, enforced with fcntl.flock.

A lock is held on ``<lock_dir>/gpu<N>.lock`` for the life of the context; the kernel drops it when
the process dies (even by SIGKILL), so a crashed job never leaves a stale slot. If
``CUDA_VISIBLE_DEVICES`` is already set (SLURM, a user), it is respected and no lock is taken.

Several users on one host share the slots: the lock directory is created sticky and world-writable
(mode 1777, like /tmp: anyone may add a lock file, no one may remove or replace another user's) and
each lock file readable by all (0644). A lock file is opened read-only, without following a symbolic
link and without truncating or writing it (flock needs no write access), so a file or link planted by
another user can neither be damaged through greenhp nor redirect it; such a plant is refused with a
message naming the path.

CUDA numbers GPUs fastest first unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``; NVML (which greenhp
measures with) numbers them in PCI bus order. Wherever a slot sets or keeps ``CUDA_VISIBLE_DEVICES``
it also sets ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (unless the environment already chose an order), so the
index the training uses is the index the energy monitor reads.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from dataclasses import dataclass
from typing import Iterator, MutableMapping

LOCK_DIR_MODE = 0o1777
LOCK_FILE_MODE = 0o644


class LockDirError(OSError):
    """The lock directory or a lock file cannot be used safely; the message names the path and the fix."""


@dataclass
class GpuSlot:
    index: int | None            # physical GPU index locked, None when the environment chose
    cuda_visible_devices: str | None
    lock_path: str | None
    locked: bool
    waited_s: float = 0.0


def prepare_lock_dir(lock_dir: str | os.PathLike) -> str:
    """Create ``lock_dir`` shared (mode 1777) when it is missing; check an existing one. Returns its path."""
    path = os.fspath(lock_dir)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    else:
        os.chmod(path, LOCK_DIR_MODE)  # mkdir's mode is cut by the umask; chmod is not
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise LockDirError(f"GPU lock directory {path} is a symbolic link; refusing to use it (set GREENHP_GPU_LOCK_DIR to another path)")
    if not stat.S_ISDIR(st.st_mode):
        raise LockDirError(f"GPU lock directory {path} is not a directory (set GREENHP_GPU_LOCK_DIR to another path)")
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise LockDirError(
            f"GPU lock directory {path} is writable by everyone without the sticky bit, so any user could replace "
            f"the lock files; its owner should run: chmod 1777 {path}"
        )
    return path


def open_lock_file(path: str) -> int:
    """Open (creating when missing) one lock file for flock: read-only, no symlink, no truncation."""
    flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, LOCK_FILE_MODE)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise LockDirError(f"GPU lock file {path} is a symbolic link; refusing to follow it (remove it, or set GREENHP_GPU_LOCK_DIR)") from None
        if err.errno in (errno.EACCES, errno.EPERM):
            raise LockDirError(
                f"GPU lock file {path}: permission denied ({'cannot create it' if not os.path.lexists(path) else 'another user made it unreadable'}); "
                f"the directory's owner should run: chmod 1777 {os.path.dirname(path)} and chmod 644 {path} "
                "(or set GREENHP_GPU_LOCK_DIR to a directory all users of this host can write)"
            ) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LockDirError(f"GPU lock file {path} is not a regular file; refusing to use it")
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != LOCK_FILE_MODE:
            os.fchmod(fd, LOCK_FILE_MODE)  # readable by the other users of this GPU host, whatever our umask
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _environment(environ: MutableMapping[str, str], values: dict[str, str]) -> Iterator[None]:
    old = {key: environ.get(key) for key in values}
    environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value


@contextlib.contextmanager
def acquire_gpu(n_gpus: int, lock_dir: str | os.PathLike, timeout_s: float | None = None,
                poll_s: float = 0.1, environ: MutableMapping[str, str] | None = None) -> Iterator[GpuSlot]:
    """Lock a free GPU index in ``range(n_gpus)`` and set CUDA_VISIBLE_DEVICES for children.

    Blocks until one is free (or raises TimeoutError after ``timeout_s``). ``environ`` is the
    environment the children will get (default: this process's ``os.environ``); pass a copy when
    several jobs run as threads of one process (Snakemake ``run:`` rules), so they cannot see or
    overwrite each other's CUDA_VISIBLE_DEVICES. CUDA_DEVICE_ORDER=PCI_BUS_ID is set beside it.
    """
    if environ is None:
        environ = os.environ
    order = {} if environ.get("CUDA_DEVICE_ORDER") else {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    existing = environ.get("CUDA_VISIBLE_DEVICES")
    if existing is not None and existing.strip() != "":
        with _environment(environ, order):
            yield GpuSlot(index=None, cuda_visible_devices=existing, lock_path=None, locked=False)
        return
    if not isinstance(n_gpus, int) or isinstance(n_gpus, bool) or n_gpus < 1:
        raise ValueError(f"n_gpus: {n_gpus!r} must be an integer >= 1")
    directory = prepare_lock_dir(lock_dir)
    t0 = time.monotonic()
    fd = None
    index = None
    path = None
    while fd is None:
        for i in range(n_gpus):
            candidate = os.path.join(directory, f"gpu{i}.lock")
            f = open_lock_file(candidate)
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(f)
                continue
            fd, index, path = f, i, candidate
            break
        if fd is None:
            if timeout_s is not None and time.monotonic() - t0 >= timeout_s:
                raise TimeoutError(f"no free GPU slot among {n_gpus} in {directory} after {timeout_s:g} s")
            time.sleep(poll_s)
    try:
        with _environment(environ, {"CUDA_VISIBLE_DEVICES": str(index), **order}):
            yield GpuSlot(index=index, cuda_visible_devices=str(index), lock_path=path, locked=True,
                          waited_s=time.monotonic() - t0)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
