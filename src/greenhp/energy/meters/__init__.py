"""Energy meters and their registry.

Every energy source is a :class:`Meter` (``base.py``: begin / read / end, a :class:`Measurement` per
domain over the window, a :class:`Reading` per domain at a phase mark); a GPU is a
:class:`~greenhp.energy.gpu.GpuDevice` measured by the vendor-neutral :class:`GpuMeter`.

The registry maps each value of the configuration's ``energy.gpu_meter`` and ``energy.cpu_meter`` to
an *opener*: a function of an :class:`OpenContext` that returns the meters answering for that
setting's domains (``gpu``; ``cpu`` and ``dram``), unavailable ones with their reason. The
configuration accepts exactly the registered names (:func:`meter_names`); :func:`open_meters` opens
the configured ones as a :class:`MeterSet`, which the monitor loops over.

To add a meter: one module in this package, one :func:`register_meter` line below, the name in
``src/greenhp/schemas/config.schema.yaml``, its method in ``run_record.schema.yaml``
(docs/architecture.md, "Adding an energy meter").
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..rapl import default_opener
from .base import (DOMAINS, UNAVAILABLE, Measurement, Meter, MeterSet, OpenContext, Reading, UnavailableMeter,
                   Window, unavailable)
from .cpu_time import CpuTimeMeter, open_estimate, proc_cpu_seconds
from .gpu_meter import GpuMeter
from .nvml_meter import open_nvml
from .pyrapl_meter import PyRaplMeter, open_pyrapl
from .rapl_meter import RaplMeter, open_rapl, open_rapl_or_estimate

Opener = Callable[[OpenContext], "list[Meter]"]

#: configuration key -> the domains its meters answer for
SETTINGS: dict[str, tuple[str, ...]] = {"gpu_meter": ("gpu",), "cpu_meter": ("cpu", "dram")}
#: configuration key -> {value -> opener}, in the order error messages list them
REGISTRY: dict[str, dict[str, Opener]] = {setting: {} for setting in SETTINGS}


def register_meter(setting: str, name: str, opener: Opener) -> None:
    """Make ``energy.<setting>: <name>`` open the meters ``opener(ctx)`` returns."""
    if setting not in REGISTRY:
        raise ValueError(f"register_meter: setting {setting!r} is not one of {', '.join(REGISTRY)}")
    if name in REGISTRY[setting]:
        raise ValueError(f"register_meter: energy.{setting} {name!r} is already registered")
    REGISTRY[setting][name] = opener


def meter_names(setting: str) -> tuple[str, ...]:
    """The values ``energy.<setting>`` accepts."""
    return tuple(REGISTRY[setting])


def not_measured(setting: str) -> Opener:
    """The opener of ``<setting>: none``: its domains unavailable, saying so."""
    def open_none(ctx: OpenContext) -> list[Meter]:
        return [UnavailableMeter(d, f"{setting}: none (not measured)") for d in SETTINGS[setting]]
    return open_none


register_meter("gpu_meter", "auto", open_nvml)   # the first GPU library that sees a GPU (NVML is the only one yet)
register_meter("gpu_meter", "nvml", open_nvml)
register_meter("gpu_meter", "none", not_measured("gpu_meter"))
register_meter("cpu_meter", "auto", open_rapl_or_estimate)
register_meter("cpu_meter", "rapl", open_rapl)
register_meter("cpu_meter", "pyrapl", open_pyrapl)
register_meter("cpu_meter", "estimate", open_estimate)
register_meter("cpu_meter", "none", not_measured("cpu_meter"))


def open_meters(cfg: Any, *, gpu_index: int | None = None, powercap_root: str | None = None,
                rapl_opener: Callable[[str], Any] | None = None, modules: Mapping[str, Any] | None = None,
                cpu_seconds: Callable[[], tuple[float | None, str | None]] = lambda: (None, "no process")
                ) -> MeterSet:
    """The meters ``cfg`` (an EnergyConfig) selects, one per domain; unavailable ones carry their reason.
    ``modules``: stand-ins for backend libraries by import name, ``rapl_opener`` for RAPL's files (tests)."""
    ctx = OpenContext(cfg, gpu_index=gpu_index, powercap_root=powercap_root or cfg.powercap_root,
                      rapl_opener=rapl_opener or default_opener, modules=dict(modules or {}), cpu_seconds=cpu_seconds)
    meters: list[Meter] = []
    for setting, domains in SETTINGS.items():
        name = getattr(cfg, setting)
        if name not in REGISTRY[setting]:
            raise ValueError(f"energy.{setting}: {name!r} is not one of {', '.join(REGISTRY[setting])}")
        opened = REGISTRY[setting][name](ctx)
        covered = sorted(d for m in opened for d in m.domains)
        if covered != sorted(domains):
            raise ValueError(f"energy.{setting}: {name!r} opened meters for {covered}, not {list(domains)}")
        meters += opened
    return MeterSet(meters)


__all__ = ["DOMAINS", "UNAVAILABLE", "REGISTRY", "SETTINGS", "CpuTimeMeter", "GpuMeter", "Measurement", "Meter",
           "MeterSet", "OpenContext", "PyRaplMeter", "RaplMeter", "Reading", "UnavailableMeter", "Window",
           "meter_names", "not_measured", "open_meters", "proc_cpu_seconds", "register_meter", "unavailable"]
