"""The GPU meter: one :class:`~greenhp.energy.gpu.GpuDevice`, whatever its vendor.

Its energy is the device's energy counter when it has one (method ``device.counter_method``,
cross-checked against the integral of the sampled power), else the integral of the sampled power
(``device.power_integral_method``). The meter owns its window: the counter's zero, and the
:class:`~greenhp.energy.sampler.GpuSampler` that samples power (and the timeline, and each process's
SM utilisation for pair attribution) from ``begin`` to ``end``.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..gpu import GpuDevice
from ..sampler import GpuSampler
from .base import UNAVAILABLE, Measurement, Meter, Reading, Window, unavailable

SHORT_WINDOW_S = 1.0
MIN_COUNTER_UPDATES = 10


class GpuMeter(Meter):
    """The ``gpu`` domain from one opened GPU device, sampled at ``sample_hz``."""

    domains = ("gpu",)

    def __init__(self, device: GpuDevice, sample_hz: float):
        self.device = device
        self.sample_hz = float(sample_hz)
        self.sampler: GpuSampler | None = None
        self._t0: float | None = None
        self._zero_mj: int | None = None
        self._clock = None

    def begin(self, window: Window) -> None:
        self._t0, self._clock = window.t_start, window.clock
        self.sampler = GpuSampler(self.device, hz=self.sample_hz, timeline=window.timeline, clock=window.clock,
                                  pid_label=window.pid_label)
        self._zero_mj = self.device.energy_mj() if self.device.has_counter else None
        self.sampler.start()

    # -- readings at marks --------------------------------------------------------------------
    def read(self) -> dict[str, Reading]:
        if not self.device.has_counter:
            return {"gpu": self._integral_reading(self._clock() if self._clock is not None else None)}
        dev = self.device
        try:
            now = dev.energy_mj()
        except Exception as e:  # a failed read is a missing value with its reason, never 0
            return {"gpu": Reading("gpu", None, UNAVAILABLE, f"{dev.api} counter read failed: {type(e).__name__}: {e}")}
        if now is None or self._zero_mj is None:
            return {"gpu": Reading("gpu", None, UNAVAILABLE, f"{dev.api} counter not started")}
        return {"gpu": Reading("gpu", (now - self._zero_mj) / 1000.0, dev.counter_method)}

    def read_at(self, t: float) -> dict[str, Reading] | None:
        """Without a counter, the integral up to ``t`` from all the window's samples (edges interpolated)."""
        return None if self.device.has_counter else {"gpu": self._integral_reading(t)}

    def _integral_reading(self, t: float | None) -> Reading:
        s = self.sampler
        e = s.integral_j(self._t0, t) if s is not None and self._t0 is not None and t is not None else None
        if e is None:
            return Reading("gpu", None, UNAVAILABLE, "no power samples yet")
        return Reading("gpu", e, self.device.power_integral_method)

    # -- the whole window ---------------------------------------------------------------------
    def end(self, t_end: float, cpu_seconds: Mapping[str, float] | None) -> dict[str, Measurement]:
        dev, s = self.device, self.sampler
        e1 = dev.energy_mj() if self._zero_mj is not None else None
        s.stop()
        dur = t_end - self._t0
        integral = s.integral_j(self._t0, t_end)
        flags = []
        if dur < SHORT_WINDOW_S:
            flags.append("window_under_1s")
        extras: dict[str, Any] = {
            "power_integral_j": integral, "samples": len(s.samples), "sample_hz": self.sample_hz,
            "mean_power_w": (integral / dur) if integral is not None and dur > 0 else None,
            "gpu_index": dev.index}
        if self._zero_mj is not None and e1 is not None:
            e = (e1 - self._zero_mj) / 1000.0
            if s.counter_updates < MIN_COUNTER_UPDATES:
                flags.append("under_10_counter_updates")
            dis = (100.0 * (integral - e) / e) if integral is not None and e > 0 else None
            m = Measurement("gpu", e, dev.counter_method, None,
                            {"disagreement_pct": dis, "counter_updates": s.counter_updates, **extras, "flags": flags})
        elif integral is None:
            m = unavailable("gpu", f"no energy counter ({dev.counter_reason}) and no power samples", **extras,
                            flags=flags)
        else:
            m = Measurement("gpu", integral, dev.power_integral_method, None,
                            {"counter_reason": dev.counter_reason, "disagreement_pct": None, **extras, "flags": flags})
        return {"gpu": m}

    def process_util(self) -> tuple[dict[str, float], bool | None]:
        """Each tracked process's SM utilisation integrated over the window (label -> %·s), and whether
        the device could tell (None: never asked)."""
        s = self.sampler
        return (s.proc_util_integral, s.proc_util_supported) if s is not None else ({}, None)

    def close(self) -> None:
        self.device.close()
