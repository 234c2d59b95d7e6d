"""Meters: one small interface over every energy source the monitor reads.

Every meter belongs to one domain (``gpu``, ``cpu`` or ``dram``) and answers ``read()`` with a
:class:`Reading`: the energy in joules accumulated since the window began, the method that
produced it (the run record's method names), and, when it cannot give a number now, ``value_j``
None with a reason. A missing meter is a meter too (:class:`UnavailableMeter`): it says why.

The monitor reads every meter at once when a training process sends a phase mark
(:meth:`greenhp.energy.EnergyMonitor.mark`); the whole-window totals keep their own, richer
results (cross-checks, flags) in :mod:`greenhp.energy.monitor`. :func:`open_meters` picks the
backends from the configuration (``energy.gpu_meter`` / ``energy.cpu_meter``) through a table of
openers, in the spirit of Zeus's device classes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from .config import EnergyConfig
from .nvml import NvmlDevice
from .pyrapl_backend import PyRaplBackend
from .rapl import RaplReader

UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Reading:
    """One meter read "now": joules since the window began, or None with a reason."""

    domain: str
    value_j: float | None
    method: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value_j": self.value_j, "method": self.method, "reason": self.reason}


class Meter:
    """Base class. ``start()`` at the window's begin (after the backend started), ``read()`` any
    time after: cumulative joules since ``start()``."""

    domain: str = ""
    method: str = UNAVAILABLE

    @property
    def available(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def read(self) -> Reading:  # pragma: no cover - abstract
        raise NotImplementedError


class UnavailableMeter(Meter):
    """A meter that is not there, and says why."""

    def __init__(self, domain: str, reason: str, hint: str | None = None):
        self.domain, self.reason, self.hint = domain, reason, hint

    @property
    def available(self) -> bool:
        return False

    def read(self) -> Reading:
        return Reading(self.domain, None, UNAVAILABLE, self.reason)


class NvmlCounterMeter(Meter):
    """NVML's total-energy counter (mJ): ``nvml_counter``. ``zero_mj`` is the counter at the window's
    begin (the monitor sets it from the same read it keeps for the whole window)."""

    domain, method = "gpu", "nvml_counter"

    def __init__(self, device: NvmlDevice):
        self.device = device
        self.zero_mj: int | None = None

    def start(self) -> None:
        if self.zero_mj is None:
            self.zero_mj = self.device.energy_mj()

    def read(self) -> Reading:
        try:
            now = self.device.energy_mj()
        except Exception as e:  # a failed read is a missing value with its reason, never 0
            return Reading("gpu", None, UNAVAILABLE, f"NVML counter read failed: {type(e).__name__}: {e}")
        if now is None or self.zero_mj is None:
            return Reading("gpu", None, UNAVAILABLE, "NVML counter not started")
        return Reading("gpu", (now - self.zero_mj) / 1000.0, self.method)


class NvmlPowerIntegralMeter(Meter):
    """Integrated sampled power (no counter on this GPU): ``nvml_power_integral``. ``sampler`` is a
    callable returning the monitor's running :class:`~greenhp.energy.sampler.GpuSampler`."""

    domain, method = "gpu", "nvml_power_integral"

    def __init__(self, sampler: Callable[[], Any], clock: Callable[[], float]):
        self.sampler, self.clock = sampler, clock
        self.t0: float | None = None

    def start(self) -> None:
        self.t0 = self.clock()

    def read(self, at: float | None = None) -> Reading:
        s = self.sampler()
        t = self.clock() if at is None else at
        e = s.integral_j(self.t0, t) if s is not None and self.t0 is not None else None
        if e is None:
            return Reading("gpu", None, UNAVAILABLE, "no power samples yet")
        return Reading("gpu", e, self.method)


class RaplMeter(Meter):
    """One RAPL domain (``package`` -> cpu, ``dram`` -> dram) of a started :class:`RaplReader`
    (which counts wraparounds in its own poller thread): ``rapl``."""

    method = "rapl"

    def __init__(self, reader: RaplReader, kind: str):
        self.reader, self.kind = reader, kind
        self.domain = "cpu" if kind == "package" else "dram"

    def read(self) -> Reading:
        self.reader.poll()
        v = self.reader.totals().get(f"{self.kind}_j")
        if v is None:
            return Reading(self.domain, None, UNAVAILABLE, f"RAPL has no {self.kind} zone")
        return Reading(self.domain, v, self.method)


class PyRaplMeter(Meter):
    """pyRAPL measures from begin to end only: it cannot be read in the middle of a window."""

    method = "pyrapl"

    def __init__(self, backend: PyRaplBackend, domain: str):
        self.backend, self.domain = backend, domain

    def read(self) -> Reading:
        return Reading(self.domain, None, UNAVAILABLE,
                       "pyRAPL cannot be read in the middle of a window (it measures begin to end only)")


class CpuTimeMeter(Meter):
    """The labelled estimate ``estimate_cpu_time``: CPU seconds of the measured processes x watts
    per core. ``cpu_seconds`` returns the processes' CPU seconds now (None with a reason when it
    cannot)."""

    domain, method = "cpu", "estimate_cpu_time"

    def __init__(self, watts_per_core: float, cpu_seconds: Callable[[], tuple[float | None, str | None]]):
        self.watts, self.cpu_seconds = float(watts_per_core), cpu_seconds

    def read(self) -> Reading:
        secs, why = self.cpu_seconds()
        if secs is None:
            return Reading("cpu", None, UNAVAILABLE, why or "no CPU time")
        return Reading("cpu", secs * self.watts, self.method)


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


@dataclass
class Meters:
    """What :func:`open_meters` found: one meter per domain, plus the backends and the reasons the
    monitor's whole-window results and environment snapshot use."""

    gpu: Meter
    cpu: Meter
    dram: Meter
    device: NvmlDevice | None = None
    gpu_reason: str | None = None
    rapl: RaplReader | None = None
    pyrapl: PyRaplBackend | None = None
    cpu_mode: str = "none"          # rapl | pyrapl | estimate | none
    cpu_reason: str | None = None
    cpu_hint: str | None = None
    dram_reason: str | None = None
    rapl_env_zones: list = field(default_factory=list)
    rapl_env_reason: str | None = None

    def by_domain(self) -> dict[str, Meter]:
        return {"gpu": self.gpu, "cpu": self.cpu, "dram": self.dram}


# -- openers --------------------------------------------------------------------------------------
def _gpu(cfg: EnergyConfig, nvml: Any, gpu_index: int | None, sampler, clock):
    if cfg.gpu_meter == "none":
        reason = "gpu_meter: none (not measured)"
        return UnavailableMeter("gpu", reason), None, reason
    dev, reason = NvmlDevice.open(nvml, gpu_index)
    if dev is None:
        return UnavailableMeter("gpu", reason), None, reason
    meter = NvmlCounterMeter(dev) if dev.has_counter else NvmlPowerIntegralMeter(sampler, clock)
    return meter, dev, None


def _rapl_reader(cfg, root, opener):
    r = RaplReader(root, opener=opener)
    ok = r.discover()
    if ok and not any(z.kind == "package" for z in r.zones):
        ok, r.reason = False, f"RAPL has no package zone under {root} (only {', '.join(z.name for z in r.zones)})"
    return r, ok


def _cpu_rapl_or(fallback: str):
    """``auto`` (fallback "estimate") and ``rapl`` (fallback "none": unavailable with RAPL's reason)."""

    def open_(m: Meters, cfg, root, opener, pyrapl_mod, cpu_seconds):
        r, ok = _rapl_reader(cfg, root, opener)
        m.rapl_env_zones, m.rapl_env_reason = r.zone_list(), r.reason
        if ok:
            m.rapl, m.cpu_mode = r, "rapl"
            m.cpu = RaplMeter(r, "package")
            if any(z.kind == "dram" for z in r.zones):
                m.dram = RaplMeter(r, "dram")
            else:
                m.dram_reason = f"RAPL has no dram zone under {root}"
        elif fallback == "none":
            m.cpu_reason, m.cpu_hint, m.dram_reason = r.reason, r.hint, r.reason
        else:
            m.cpu_mode = "estimate"
            m.cpu_hint = (f"{r.reason}" + (f" (hint: {r.hint})" if r.hint else "")
                          + f"; CPU energy estimated as CPU seconds x {cfg.cpu_watts_per_core:g} W/core")
            m.dram_reason = r.reason
            m.cpu = CpuTimeMeter(cfg.cpu_watts_per_core, cpu_seconds)
    return open_


def _cpu_pyrapl(m: Meters, cfg, root, opener, pyrapl_mod, cpu_seconds):
    b = PyRaplBackend(pyrapl_mod)
    if b.open():
        m.pyrapl, m.cpu_mode = b, "pyrapl"
        m.cpu, m.dram = PyRaplMeter(b, "cpu"), PyRaplMeter(b, "dram")
    else:
        m.cpu_reason, m.cpu_hint, m.dram_reason = b.reason, b.hint, b.reason


def _cpu_estimate(m: Meters, cfg, root, opener, pyrapl_mod, cpu_seconds):
    m.cpu_mode = "estimate"
    m.cpu_hint = f"cpu_meter: estimate; CPU seconds x {cfg.cpu_watts_per_core:g} W/core"
    m.dram_reason = "cpu_meter: estimate (DRAM is not estimated)"
    m.cpu = CpuTimeMeter(cfg.cpu_watts_per_core, cpu_seconds)


def _cpu_none(m: Meters, cfg, root, opener, pyrapl_mod, cpu_seconds):
    m.cpu_reason = m.dram_reason = "cpu_meter: none (not measured)"


#: energy.cpu_meter -> opener (fills the cpu and dram meters of a Meters)
CPU_OPENERS = {
    "auto": _cpu_rapl_or("estimate"),
    "rapl": _cpu_rapl_or("none"),
    "pyrapl": _cpu_pyrapl,
    "estimate": _cpu_estimate,
    "none": _cpu_none,
}


def open_meters(cfg: EnergyConfig, *, nvml: Any = None, gpu_index: int | None = None,
                powercap_root: str, rapl_opener: Callable[[str], Any], pyrapl: Any = None,
                sampler: Callable[[], Any] = lambda: None, clock: Callable[[], float],
                cpu_seconds: Callable[[], tuple[float | None, str | None]] = lambda: (None, "no process")) -> Meters:
    """One meter per domain for ``cfg``; unavailable ones carry their reason."""
    gpu, dev, gpu_reason = _gpu(cfg, nvml, gpu_index, sampler, clock)
    m = Meters(gpu=gpu, cpu=UnavailableMeter("cpu", "not measured"),
               dram=UnavailableMeter("dram", "not measured"), device=dev, gpu_reason=gpu_reason)
    CPU_OPENERS[cfg.cpu_meter](m, cfg, powercap_root, rapl_opener, pyrapl, cpu_seconds)
    if isinstance(m.cpu, UnavailableMeter):
        m.cpu = UnavailableMeter("cpu", m.cpu_reason or "CPU not measured", m.cpu_hint)
    if isinstance(m.dram, UnavailableMeter):
        m.dram = UnavailableMeter("dram", m.dram_reason or "DRAM not measured")
    return m
