"""CPU package and DRAM energy from RAPL (``energy.cpu_meter: rapl``, and ``auto``): a
:class:`RaplMeter` on a :class:`~greenhp.energy.rapl.RaplReader`, which counts wraparounds in its own
poller thread. ``auto`` falls back to the labelled CPU-time estimate when RAPL is not readable."""

from __future__ import annotations

from typing import Any, Mapping

from ..rapl import RaplReader
from .base import UNAVAILABLE, Measurement, Meter, OpenContext, Reading, UnavailableMeter, Window, unavailable
from .cpu_time import CpuTimeMeter

METHOD = "rapl"


class RaplMeter(Meter):
    """The ``cpu`` (package zones, summed over sockets) and ``dram`` domains of a discovered reader;
    ``dram`` is unavailable, with its reason, when RAPL has no dram zone."""

    domains = ("cpu", "dram")
    method = METHOD

    def __init__(self, reader: RaplReader):
        self.reader = reader
        self.has_dram = any(z.kind == "dram" for z in reader.zones)
        self.no_dram = f"RAPL has no dram zone under {reader.root}"

    def begin(self, window: Window) -> None:
        self.reader.start()

    def read(self) -> dict[str, Reading]:
        self.reader.poll()
        t = self.reader.totals()
        return {"cpu": self._reading("cpu", t["package_j"], "RAPL has no package zone"),
                "dram": self._reading("dram", t["dram_j"] if self.has_dram else None, self.no_dram)}

    def _reading(self, domain: str, v: float | None, missing: str) -> Reading:
        return Reading(domain, None, UNAVAILABLE, missing) if v is None else Reading(domain, v, self.method)

    def end(self, t_end: float, cpu_seconds: Mapping[str, float] | None) -> dict[str, Measurement]:
        tot = self.reader.stop()
        cpu = Measurement("cpu", tot["package_j"], self.method, None, {
            "hint": None, "sockets": tot["sockets"], "psys_j": tot["psys_j"], "per_zone_j": tot["per_zone_j"],
            "wraps": tot["wraps"], "inner_zones_not_summed": tot["inner_zones_not_summed"],
            "poll_period_s": tot["poll_period_s"], "polls": tot["polls"], "flags": list(self.reader.flags)})
        dram = (Measurement("dram", tot["dram_j"], self.method) if tot["has_dram"]
                else unavailable("dram", self.no_dram))
        return {"cpu": cpu, "dram": dram}

    def idle_power(self, seconds: float) -> dict[str, Any] | None:
        w = self.reader.instant_power_w(seconds)
        return {"cpu_w": w.get("package"), "dram_w": w.get("dram"), "cpu_method": self.method}

    def environment(self) -> dict[str, Any]:
        return rapl_environment(self.reader)


def rapl_environment(reader: RaplReader) -> dict[str, Any]:
    """The snapshot's ``rapl_zones`` and ``rapl_reason`` (what discovery found, or why it failed)."""
    return {"rapl_zones": reader.zone_list(), "rapl_reason": reader.reason}


def discover(ctx: OpenContext) -> tuple[RaplReader, bool]:
    """A reader of ``ctx.powercap_root``, and whether it can measure (a package zone, readable)."""
    root = ctx.powercap_root
    r = RaplReader(root, opener=ctx.rapl_opener)
    ok = r.discover()
    if ok and not any(z.kind == "package" for z in r.zones):
        ok, r.reason = False, f"RAPL has no package zone under {root} (only {', '.join(z.name for z in r.zones)})"
    return r, ok


def open_rapl(ctx: OpenContext) -> list[Meter]:
    """RAPL, else cpu and dram unavailable with RAPL's reason (and its hint, e.g. a permission fix)."""
    r, ok = discover(ctx)
    if ok:
        return [RaplMeter(r)]
    return [UnavailableMeter("cpu", r.reason, r.hint, environment=rapl_environment(r)),
            UnavailableMeter("dram", r.reason)]


def open_rapl_or_estimate(ctx: OpenContext) -> list[Meter]:
    """``auto``: RAPL, else the CPU-time estimate with RAPL's reason as its hint (DRAM unavailable)."""
    r, ok = discover(ctx)
    if ok:
        return [RaplMeter(r)]
    w = ctx.cfg.cpu_watts_per_core
    hint = (f"{r.reason}" + (f" (hint: {r.hint})" if r.hint else "")
            + f"; CPU energy estimated as CPU seconds x {w:g} W/core")
    return [CpuTimeMeter(w, ctx.cpu_seconds, hint=hint, idle_reason=r.reason, environment=rapl_environment(r)),
            UnavailableMeter("dram", r.reason)]
