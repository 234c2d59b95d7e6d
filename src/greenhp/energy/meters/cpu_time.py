"""The labelled CPU-time estimate (``energy.cpu_meter: estimate``, and ``auto`` without RAPL):
``estimate_cpu_time`` = CPU seconds of the measured processes x ``energy.cpu_watts_per_core``.

An estimate, not a measurement: its record says ``estimated: true`` and every table labels it. It
counts only the processes' own CPU time, so it has no idle part (net = gross).
"""

from __future__ import annotations

import os
import resource
from typing import Any, Callable, Mapping

from .base import UNAVAILABLE, Measurement, Meter, OpenContext, Reading, UnavailableMeter, Window, unavailable

METHOD = "estimate_cpu_time"


class CpuTimeMeter(Meter):
    """``cpu_seconds`` returns the tracked processes' CPU seconds now (None with a reason when it
    cannot); at the window's end the caller's ``cpu_seconds`` (``os.wait4``) count, else the
    getrusage(RUSAGE_CHILDREN) delta over the window. ``hint`` says why the estimate is used."""

    domains = ("cpu",)
    method = METHOD

    def __init__(self, watts_per_core: float, cpu_seconds: Callable[[], tuple[float | None, str | None]], *,
                 hint: str | None = None, idle_reason: str = "cpu meter is estimate",
                 environment: Mapping[str, Any] | None = None):
        self.watts, self.cpu_seconds = float(watts_per_core), cpu_seconds
        self.hint, self.idle_reason = hint, idle_reason
        self._environment = dict(environment or {})
        self._children0 = 0.0

    def begin(self, window: Window) -> None:
        self._children0 = children_cpu_seconds()

    def read(self) -> dict[str, Reading]:
        secs, why = self.cpu_seconds()
        if secs is None:
            return {"cpu": Reading("cpu", None, UNAVAILABLE, why or "no CPU time")}
        return {"cpu": Reading("cpu", secs * self.watts, self.method)}

    def end(self, t_end: float, cpu_seconds: Mapping[str, float] | None) -> dict[str, Measurement]:
        if cpu_seconds:
            secs, source = float(sum(cpu_seconds.values())), "cpu_seconds given by the caller (os.wait4)"
        else:
            secs, source = children_cpu_seconds() - self._children0, "getrusage(RUSAGE_CHILDREN) delta over the window"
        w = self.watts
        if secs > 0:
            return {"cpu": Measurement("cpu", secs * w, self.method, None, {
                "hint": self.hint, "estimated": True, "cpu_seconds": secs, "cpu_seconds_source": source,
                "watts_per_core": w})}
        return {"cpu": unavailable("cpu", f"CPU-time estimate impossible: no CPU time recorded ({source})",
                                   hint=self.hint)}

    def environment(self) -> dict[str, Any]:
        return dict(self._environment)


def open_estimate(ctx: OpenContext) -> list[Meter]:
    w = ctx.cfg.cpu_watts_per_core
    return [CpuTimeMeter(w, ctx.cpu_seconds, hint=f"cpu_meter: estimate; CPU seconds x {w:g} W/core"),
            UnavailableMeter("dram", "cpu_meter: estimate (DRAM is not estimated)")]


def children_cpu_seconds() -> float:
    """CPU seconds of this process's reaped children (getrusage(RUSAGE_CHILDREN))."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def proc_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system, every thread, plus waited-for children) of a live process, from
    ``/proc/<pid>/stat``; None when the process is gone or /proc is unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    except (OSError, ValueError, IndexError):
        return None
    return ticks / _CLK_TCK


try:
    _CLK_TCK = float(os.sysconf("SC_CLK_TCK"))
except (AttributeError, ValueError, OSError):  # pragma: no cover - not Linux
    _CLK_TCK = 100.0
