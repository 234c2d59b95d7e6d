"""measure_command: run one command as a child under an EnergyMonitor and write its record."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

from greenhp.atomic import write_json

from .config import EnergyConfig
from .monitor import EnergyMonitor


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as strict JSON (NaN/inf become null), via a temporary file and a rename."""
    write_json(path, obj)


def timeline_path_for(out_path: str | os.PathLike) -> Path:
    p = Path(out_path)
    return p.with_name(p.stem + ".timeline.tsv")


def out_path_problem(out_path: str | os.PathLike) -> str | None:
    """Why a record could not be written to ``out_path`` (checked before the command runs), or None."""
    p = Path(out_path)
    if p.is_dir():
        return f"{p} is a directory"
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"cannot create the folder {parent}: {e.strerror or e}"
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{p.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return f"cannot write in {parent}: {e.strerror or e}"
    if p.exists() and not os.access(p, os.W_OK):
        return f"{p} exists and is not writable"
    return None


def exit_code(status: int) -> tuple[int, str | None]:
    """(shell-style exit code, signal name or None) of a wait status: 128+N for a death by signal N."""
    rc = os.waitstatus_to_exitcode(status)
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return 128 - rc, name
    return rc, None


def measure_command(argv: Sequence[str], out_path: str | os.PathLike, cfg: EnergyConfig | None = None,
                    gpu_index: int | None = None, *, monitor_kwargs: dict | None = None,
                    kill_grace_s: float = 10.0) -> int:
    """Run ``argv`` (a list, never a shell string) as a child, measure it, write
    ``{"command", "returncode", "energy"}`` atomically to ``out_path``; return the child's code
    (128+N when signal N killed it, as a shell reports it).

    ``out_path`` is checked before anything runs (ValueError naming the problem). SIGINT/SIGTERM are
    forwarded to the child; a child still running ``kill_grace_s`` later (or at a second signal) gets
    SIGKILL, and stderr says so.
    """
    if isinstance(argv, (str, bytes)) or not argv:
        raise TypeError("argv must be a non-empty list of arguments, not a shell string")
    argv = [str(a) for a in argv]
    problem = out_path_problem(out_path)
    if problem:
        raise ValueError(f"--out {out_path}: {problem}")
    cfg = cfg or EnergyConfig()
    tl = timeline_path_for(out_path) if cfg.timeline else None
    if tl is not None:
        tl.parent.mkdir(parents=True, exist_ok=True)
    mon = EnergyMonitor(cfg, gpu_index=gpu_index, timeline_path=tl, **(monitor_kwargs or {}))
    mon.begin()
    record: dict[str, Any] = {"command": argv}
    try:
        proc = subprocess.Popen(argv)
    except OSError as e:
        res = mon.end(cpu_seconds={})
        mon.close()
        record.update({"returncode": 127, "error": f"could not start command: {type(e).__name__}: {e}",
                       "energy": res})
        write_json_atomic(out_path, record)
        return 127
    mon.track(proc.pid, "main")
    with forwarded_signals(proc, kill_grace_s):
        status, ru = wait_for(proc.pid)
    rc, killed_by = exit_code(status)
    proc.returncode = rc
    cpu_s = ru.ru_utime + ru.ru_stime
    res = mon.end(cpu_seconds={"main": cpu_s})
    mon.close()
    record.update({"returncode": rc, "cpu_seconds": cpu_s, "energy": res})
    if killed_by:
        record["signal"] = killed_by
    if tl is not None and tl.exists():
        record["timeline"] = str(tl)
    write_json_atomic(out_path, record)
    return rc


def wait_for(pid: int) -> tuple[int, Any]:
    """``os.wait4`` on ``pid`` until it returns (retried when a signal interrupts it): (status, rusage)."""
    while True:
        try:
            _, status, ru = os.wait4(pid, 0)
            return status, ru
        except InterruptedError:
            continue


@contextlib.contextmanager
def forwarded_signals(proc: subprocess.Popen, kill_grace_s: float) -> Iterator[None]:
    """While the caller waits for ``proc`` (in the main thread): SIGINT/SIGTERM are forwarded to it; a
    command still running ``kill_grace_s`` later, or at a second signal, gets SIGKILL, and stderr says so."""
    old = {}
    done = threading.Event()
    timers: list[threading.Timer] = []

    def escalate(why: str) -> None:
        if done.is_set():
            return
        print(f"greenhp measure: {why}; sending SIGKILL", file=sys.stderr, flush=True)
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    if threading.current_thread() is threading.main_thread():
        def forward(sig, _frame):
            name = signal.Signals(sig).name
            if timers:  # a second signal: the user means it
                escalate(f"second {name} while waiting for the command")
                return
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            t = threading.Timer(kill_grace_s, escalate, args=(f"the command still runs {kill_grace_s:g} s after {name}",))
            t.daemon = True
            timers.append(t)
            t.start()
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, forward)
    try:
        yield
    finally:
        done.set()
        for t in timers:
            t.cancel()
        for s, h in old.items():
            signal.signal(s, h)
