"""CPU package and DRAM energy through pyRAPL (``energy.cpu_meter: pyrapl``). pyRAPL measures from
begin to end only: it cannot be read in the middle of a window, and its readings at marks say so."""

from __future__ import annotations

from typing import Mapping

from ..pyrapl_backend import PyRaplBackend
from .base import UNAVAILABLE, Measurement, Meter, OpenContext, Reading, UnavailableMeter, Window, unavailable

METHOD = "pyrapl"


class PyRaplMeter(Meter):
    domains = ("cpu", "dram")
    method = METHOD
    idle_reason = "cpu meter is pyrapl"

    def __init__(self, backend: PyRaplBackend):
        self.backend = backend

    def begin(self, window: Window) -> None:
        self.backend.start()

    def read(self) -> dict[str, Reading]:
        why = "pyRAPL cannot be read in the middle of a window (it measures begin to end only)"
        return {d: Reading(d, None, UNAVAILABLE, why) for d in self.domains}

    def end(self, t_end: float, cpu_seconds: Mapping[str, float] | None) -> dict[str, Measurement]:
        tot = self.backend.stop()
        if tot.get("package_j") is None:
            cpu = unavailable("cpu", tot.get("error") or "pyRAPL returned no package energy", flags=tot["flags"])
        else:
            cpu = Measurement("cpu", tot["package_j"], self.method, None, {"hint": None, "flags": tot["flags"]})
        if tot.get("dram_j") is None:
            dram = unavailable("dram", tot.get("error") or "pyRAPL returned no dram energy")
        else:
            dram = Measurement("dram", tot["dram_j"], self.method)
        return {"cpu": cpu, "dram": dram}


def open_pyrapl(ctx: OpenContext) -> list[Meter]:
    """pyRAPL (``ctx.modules["pyRAPL"]`` when a test injects one), else unavailable with its reason."""
    b = PyRaplBackend(ctx.modules.get("pyRAPL"))
    if b.open():
        return [PyRaplMeter(b)]
    return [UnavailableMeter("cpu", b.reason, b.hint), UnavailableMeter("dram", b.reason)]
