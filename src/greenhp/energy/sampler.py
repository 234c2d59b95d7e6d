"""Background GPU sampler: instant power, utilisation, clocks, temperature, memory, counter updates,
and per-process SM utilisation (for pair attribution).

``tick()`` does one sample and can be driven by tests with a fake clock; ``start()`` runs it in a
daemon thread at ``hz``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, TextIO

from .gpu import GpuDevice

TIMELINE_COLUMNS = ("t_s", "power_w", "sm_util_pct", "sm_clock_mhz", "mem_clock_mhz", "temp_c", "mem_used_mib")
PROC_POLL_PERIOD_S = 0.2      # ~5 Hz, as NVML's per-process samples only cover the last period


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


class GpuSampler:
    """Samples one :class:`~greenhp.energy.gpu.GpuDevice`."""

    def __init__(self, device: GpuDevice, hz: float = 10.0, timeline: TextIO | None = None,
                 clock: Callable[[], float] = time.time, status: bool = True,
                 pid_label: Callable[[int], str | None] | None = None):
        self.dev = device
        self.period = 1.0 / hz
        self.timeline = timeline
        self.clock = clock
        self.with_status = status
        self.pid_label = pid_label
        self.samples: list[tuple[float, float]] = []     # (unix time, watts)
        self.counter_updates = 0
        self._last_counter: int | None = None
        self.proc_util_integral: dict[str, float] = {}   # label -> %·s
        self.proc_polls = 0
        self.proc_util_supported: bool | None = None
        self._last_proc_t: float | None = None
        self._last_proc_ts_us = 0
        self.t0: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        if timeline is not None:
            timeline.write("\t".join(TIMELINE_COLUMNS) + "\n")

    # -- one sample ---------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.clock()
        if self.t0 is None:
            self.t0 = now
        try:
            p = self.dev.power_w()
        except Exception:
            p, self.errors = None, self.errors + 1
        if p is not None:
            self.samples.append((now, p))
        if self.dev.has_counter:
            try:
                c = self.dev.energy_mj()
                if self._last_counter is not None and c != self._last_counter:
                    self.counter_updates += 1
                self._last_counter = c
            except Exception:
                self.errors += 1
        st = {}
        if self.with_status:
            try:
                st = self.dev.status()
            except Exception:
                self.errors += 1
        if self.pid_label is not None and (self._last_proc_t is None or now - self._last_proc_t >= PROC_POLL_PERIOD_S - 1e-9):
            self._poll_processes(now)
        if self.timeline is not None:
            row = [now - self.t0, p] + [st.get(k) for k in TIMELINE_COLUMNS[2:]]
            self.timeline.write("\t".join(_fmt(v) for v in row) + "\n")

    def _poll_processes(self, now: float) -> None:
        dt = PROC_POLL_PERIOD_S if self._last_proc_t is None else now - self._last_proc_t
        self._last_proc_t = now
        samples = self.dev.process_utilization(self._last_proc_ts_us)
        if samples is None:
            self.proc_util_supported = False
            return
        self.proc_util_supported = True
        self.proc_polls += 1
        per_pid: dict[int, list[int]] = {}
        for pid, ts, sm in samples:
            per_pid.setdefault(pid, []).append(sm)
            self._last_proc_ts_us = max(self._last_proc_ts_us, ts)
        for pid, sms in per_pid.items():
            label = self.pid_label(pid) or "untracked"
            self.proc_util_integral[label] = self.proc_util_integral.get(label, 0.0) + sum(sms) / len(sms) * dt

    # -- thread -------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self.tick()
        self._thread = threading.Thread(target=self._run, name="greenhp-gpu-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_t = time.monotonic() + self.period
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            self.tick()
            next_t += self.period
            if next_t < time.monotonic():      # fell behind: do not burst
                next_t = time.monotonic() + self.period

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self.tick()
        if self.timeline is not None:
            self.timeline.flush()

    # -- results ------------------------------------------------------------------------------
    def integral_j(self, t_start: float, t_end: float) -> float | None:
        return trapezoid_j(self.samples, t_start, t_end)

    def mean_power_w(self, t_start: float | None = None, t_end: float | None = None) -> float | None:
        xs = [p for t, p in self.samples if (t_start is None or t >= t_start) and (t_end is None or t <= t_end)]
        return sum(xs) / len(xs) if xs else None


def trapezoid_j(samples: list[tuple[float, float]], t_start: float, t_end: float) -> float | None:
    """Trapezoid integral of (t, W) samples over [t_start, t_end]; edges held at the nearest sample."""
    if not samples or t_end <= t_start:
        return None
    pts = sorted(samples)
    inside = [(t, p) for t, p in pts if t_start < t < t_end]
    before = [(t, p) for t, p in pts if t <= t_start]
    after = [(t, p) for t, p in pts if t >= t_end]
    first = _interp(before[-1], inside[0] if inside else (after[0] if after else None), t_start) if before else (t_start, (inside or after)[0][1])
    last = _interp(inside[-1] if inside else before[-1] if before else None, after[0], t_end) if after else (t_end, (inside or before)[-1][1])
    seq = [first] + inside + [last]
    e = 0.0
    for (t0, p0), (t1, p1) in zip(seq, seq[1:]):
        e += (t1 - t0) * (p0 + p1) / 2
    return e


def _interp(a, b, t):
    if a is None:
        return (t, b[1])
    if b is None or b[0] == a[0]:
        return (t, a[1])
    return (t, a[1] + (b[1] - a[1]) * (t - a[0]) / (b[0] - a[0]))
