"""Process hygiene for the run wrapper: nothing left running, nothing training twice.

* :class:`RunGuard` wraps one run of :func:`greenhp.runner.execute`:

  - an exclusive lock per run (``.<record>.lock`` beside the run record, ``flock``), so a resumed job
    never trains beside a still-running copy of the same run (an orphan of a killed Snakemake): it
    waits a few seconds, then fails with one line naming the holder's PID;
  - the wrapper becomes a *child subreaper* (``PR_SET_CHILD_SUBREAPER``): a process the subject
    forked and detached (``setsid``, double fork) is re-parented to the wrapper instead of init, and
    at the end of the run every process the run left behind is killed and reaped;
  - SIGTERM, SIGINT and SIGHUP stop the run: the training is killed and :class:`RunInterrupted` is
    raised, so *no record* is written (the job fails, Snakemake reruns it); an interrupted run never
    enters the statistics as a failure of its configuration.

* With ``watch_parent`` (the Snakemake entry point) the wrapper also dies with Snakemake: it asks the
  kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), refuses to start when Snakemake is
  already gone, and a watcher thread sends the wrapper SIGTERM as soon as the Snakemake process among
  its ancestors is gone (where a shell or another process sits between them, the parent-death signal
  alone would not fire: the shell outlives a SIGKILLed Snakemake).

Linux only; elsewhere the prctl parts are skipped.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
#: Signals that stop a run from outside (Ctrl-C, a scheduler, a closed terminal). A training process
#: ended by one of these (or by a SIGKILL that was not the wrapper's own timeout) was interrupted:
#: the run is not recorded, so the rerun trains it.
INTERRUPT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
INTERRUPTED_BY = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL, signal.SIGQUIT})
SHELLS = frozenset({"bash", "sh", "dash", "zsh", "ksh", "mksh", "busybox"})


def lock_wait_s() -> float:
    """Seconds a job waits for its run's lock before it gives up (GREENHP_RUN_LOCK_WAIT_S, default 10)."""
    return float(os.environ.get("GREENHP_RUN_LOCK_WAIT_S", "10"))


class RunInterrupted(RuntimeError):
    """The run was stopped by a signal (or its Snakemake died): no record is written."""

    def __init__(self, message: str, signum: int = signal.SIGTERM):
        super().__init__(message)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class RunLocked(RuntimeError):
    """Another process holds the run's lock: the same run is still being trained."""


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


# -- prctl ------------------------------------------------------------------------------------------
def _prctl(option: int, arg: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) == 0
    except Exception:
        return False


def set_parent_death_signal(signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies."""
    return _prctl(PR_SET_PDEATHSIG, int(signum))


def set_child_subreaper(on: bool = True) -> bool:
    """Orphaned descendants of this process are re-parented to it (not to init)."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0)


def is_child_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        flag = ctypes.c_int(0)
        ctypes.CDLL(None, use_errno=True).prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
        return bool(flag.value)
    except Exception:
        return False


# -- /proc ------------------------------------------------------------------------------------------
def _stat(pid: int) -> tuple[str, int, int] | None:
    """(comm, ppid, starttime) of ``pid`` from /proc, None when it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    head, _, rest = text.rpartition(")")
    fields = rest.split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return head.partition("(")[2], int(fields[1]), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def children_of(pid: int) -> list[int]:
    """Live (non-zombie) and zombie children of ``pid``, found by walking /proc."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    text = fh.read()
            except OSError:
                continue
            if int(text.rpartition(")")[2].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def ancestors(pid: int) -> list[int]:
    """The parent chain of ``pid`` (parent first), up to and including PID 1."""
    chain, seen = [], {pid}
    info = _stat(pid)
    while info is not None and info[1] > 0 and info[1] not in seen:
        chain.append(info[1])
        seen.add(info[1])
        info = _stat(info[1])
    return chain


def find_snakemake() -> tuple[int, int] | None:
    """(pid, starttime) of the nearest ancestor whose command line mentions snakemake, else None."""
    for pid in ancestors(os.getpid()):
        if "snakemake" in _cmdline(pid):
            info = _stat(pid)
            if info is not None:
                return pid, info[2]
    return None


def alive(pid: int, starttime: int) -> bool:
    info = _stat(pid)
    return info is not None and info[2] == starttime


def orphan_problem() -> str | None:
    """Why this wrapper must not start (its Snakemake is gone already), or None."""
    if os.getppid() == 1:
        return "its parent process is gone (parent PID 1): the Snakemake that started this job died"
    if sys.platform.startswith("linux") and find_snakemake() is None:
        chain = ancestors(os.getpid())
        if chain and all((_stat(p) or ("", 0, 0))[0] in SHELLS for p in chain[:-1]) and chain[-1] == 1:
            return "no Snakemake process among its ancestors (only shells up to PID 1): the Snakemake that started this job died"
    return None


# -- killing ----------------------------------------------------------------------------------------
def kill_group(pgid: int, signum: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def kill_leftovers(exclude: set[int] = frozenset(), timeout_s: float = 5.0) -> list[str]:
    """SIGKILL and reap every child of this process not in ``exclude`` until none is left.

    With :func:`set_child_subreaper` every orphaned descendant becomes a child, so this reaches the
    processes a training forked and detached. Returns ``"PID command"`` of each process killed.
    """
    me, killed, deadline = os.getpid(), [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        kids = [k for k in children_of(me) if k not in exclude]
        if not kids:
            break
        for k in kids:
            if _stat(k) is not None:  # a zombie needs only reaping
                killed.append(f"{k} {_cmdline(k)[:120]}".strip())
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for k in kids:
            try:
                os.waitpid(k, 0)
            except ChildProcessError:
                pass
    return killed


# -- the per-run lock -------------------------------------------------------------------------------
def lock_path_for(record_path: str | os.PathLike) -> Path:
    p = Path(record_path)
    return p.with_name(f".{p.name}.lock")


class RunLock:
    """An exclusive ``flock`` on ``.<record>.lock`` beside the run record, holding the owner's PID.

    The kernel drops it when the owner dies (even by SIGKILL), so it is never stale; it is held only
    by the wrapper (the fd is close-on-exec, training processes do not inherit it).
    """

    def __init__(self, record_path: str | os.PathLike, run_id: str, wait_s: float | None = None):
        self.path = lock_path_for(record_path)
        self.run_id = run_id
        self.wait_s = lock_wait_s() if wait_s is None else wait_s
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_s
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise RunLocked(
                        f"run {self.run_id} is still being trained by another greenhp process (PID {holder}, "
                        f"lock {self.path}): probably left over from a killed Snakemake; wait for it to end "
                        f"or kill it, then run the same command again") from None
                time.sleep(0.2)
                continue
            try:  # the holder may have unlinked the file just before we locked it: lock the new one
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            self.fd = fd
            return

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # while still locked: a waiter then retries on a fresh file
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


# -- the guard --------------------------------------------------------------------------------------
class RunGuard:
    """See the module docstring. Use as ``with RunGuard(...) as guard:`` around one run; register each
    training process group with :meth:`add_group`."""

    def __init__(self, record_path: str | os.PathLike, run_id: str, *, watch_parent: bool = False,
                 lock_wait_s: float | None = None, poll_s: float = 0.5):
        self.lock = RunLock(record_path, run_id, lock_wait_s)
        self.run_id = run_id
        self.watch_parent = watch_parent
        self.poll_s = poll_s
        self.groups: list[int] = []
        self.leftovers: list[str] = []
        self.interrupted: RunInterrupted | None = None
        self.parent_gone: str | None = None
        self._old: dict[int, object] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._preexisting: set[int] = set()
        self._was_subreaper = True

    def add_group(self, pgid: int) -> None:
        self.groups.append(pgid)

    def kill_groups(self) -> None:
        for g in self.groups:
            kill_group(g)

    # signals
    def _on_signal(self, signum, _frame) -> None:
        self.kill_groups()
        if self.interrupted is None:
            why = self.parent_gone or f"interrupted by {signal_name(signum)}"
            self.interrupted = RunInterrupted(f"run {self.run_id} {why}: no record written, a rerun trains it", signum)
            raise self.interrupted

    def _watch(self, pid: int, starttime: int) -> None:
        while not self._stop.wait(self.poll_s):
            if not alive(pid, starttime):
                self.parent_gone = f"stopped, its Snakemake (PID {pid}) died"
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def __enter__(self) -> "RunGuard":
        if self.watch_parent:
            set_parent_death_signal(signal.SIGTERM)
            problem = orphan_problem()
            if problem:
                raise RunInterrupted(f"run {self.run_id} not started: {problem}", signal.SIGTERM)
        self.lock.acquire()
        try:
            if sys.platform.startswith("linux"):
                self._was_subreaper = is_child_subreaper()
                set_child_subreaper()
                self._preexisting = set(children_of(os.getpid()))
            if threading.current_thread() is threading.main_thread():
                for s in INTERRUPT_SIGNALS:
                    self._old[s] = signal.signal(s, self._on_signal)
            if self.watch_parent:
                anchor = find_snakemake()
                if anchor is not None:
                    self._watcher = threading.Thread(target=self._watch, args=anchor, daemon=True,
                                                     name="greenhp-snakemake-watch")
                    self._watcher.start()
        except BaseException:
            self.lock.release()
            raise
        return self

    def cleanup(self) -> list[str]:
        """Kill the training process groups and every process the run left behind; return the
        ``"PID command"`` of each leftover killed (also kept in :attr:`leftovers`)."""
        self.kill_groups()
        killed = kill_leftovers(self._preexisting) if sys.platform.startswith("linux") else []
        self.leftovers += killed
        return killed

    def __exit__(self, *exc) -> None:
        self._stop.set()
        # a signal arriving during cleanup only kills the training (no exception inside cleanup)
        for s in self._old:
            signal.signal(s, lambda signum, _f: self.kill_groups())
        try:
            self.cleanup()
        finally:
            if not self._was_subreaper:  # called in-process (tests, a notebook): leave the caller as it was
                set_child_subreaper(False)
            for s, h in self._old.items():
                signal.signal(s, h)
            self.lock.release()
