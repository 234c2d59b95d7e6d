"""measure_command: run one command as a child under an EnergyMonitor and write its record."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, Sequence

from greenhp.atomic import write_json

from .config import EnergyConfig
from .monitor import EnergyMonitor


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as strict JSON (NaN/inf become null), via a temporary file and a rename."""
    write_json(path, obj)


def timeline_path_for(out_path: str | os.PathLike) -> Path:
    p = Path(out_path)
    return p.with_name(p.stem + ".timeline.tsv")


def measure_command(argv: Sequence[str], out_path: str | os.PathLike, cfg: EnergyConfig | None = None,
                    gpu_index: int | None = None, *, monitor_kwargs: dict | None = None) -> int:
    """Run ``argv`` (a list, never a shell string) as a child, measure it, write
    ``{"command", "returncode", "energy"}`` atomically to ``out_path``; return the child's code."""
    if isinstance(argv, (str, bytes)) or not argv:
        raise TypeError("argv must be a non-empty list of arguments, not a shell string")
    argv = [str(a) for a in argv]
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
    old = {}
    if threading.current_thread() is threading.main_thread():
        def forward(sig, _frame):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, forward)
    try:
        while True:
            try:
                _, status, ru = os.wait4(proc.pid, 0)
                break
            except InterruptedError:
                continue
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    cpu_s = ru.ru_utime + ru.ru_stime
    res = mon.end(cpu_seconds={"main": cpu_s})
    mon.close()
    record.update({"returncode": rc, "cpu_seconds": cpu_s, "energy": res})
    if tl is not None and tl.exists():
        record["timeline"] = str(tl)
    write_json_atomic(out_path, record)
    return rc
