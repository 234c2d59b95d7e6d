"""Configuration of the energy monitor (the study config's ``energy:`` mapping)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from .meters import meter_names


@dataclass(frozen=True)
class EnergyConfig:
    """What to measure and how.

    gpu_meter: ``auto`` (NVML if a GPU is there, else unavailable with a reason), ``nvml`` (same, but
    the run record says NVML was asked for), ``none``.
    cpu_meter: ``auto`` (RAPL if readable, else the CPU-time estimate), ``rapl``, ``pyrapl``,
    ``estimate`` (CPU seconds x ``cpu_watts_per_core``), ``none``. Both accept exactly the names
    registered in :mod:`greenhp.energy.meters`.
    idle_seconds: idle-baseline window before the run (0 disables).
    settle_timeout_s: before the idle window, wait (at most this long, 0 disables) until GPU power has
    stopped drifting: the mean of the last second is within ``settle_tolerance_w`` of the mean of the
    second two seconds earlier.
    baseline_max_age_s: reuse a GPU's idle baseline (measured once per GPU UUID, kept in
    ``baseline_cache``) while it is younger than this; before each run then wait only until power is
    within ``settle_tolerance_w`` of it (at most ``settle_timeout_s``). 0 (default) measures before
    every run. ``baseline_drift_w``: measure again when power holds steady more than this far below
    the cached idle, or is still this far from it, steady, when the settle timeout ends.
    ``baseline_cache``: the JSON file (relative paths from the working directory: the study's).
    See ``greenhp.energy.baseline``.
    """

    gpu_meter: str = "auto"
    cpu_meter: str = "auto"
    cpu_watts_per_core: float = 10.0
    sample_hz: float = 10.0
    idle_seconds: float = 0.0
    settle_tolerance_w: float = 5.0
    settle_timeout_s: float = 0.0
    baseline_max_age_s: float = 0.0
    baseline_drift_w: float = 10.0
    baseline_cache: str = ".greenhp/gpu_baselines.json"
    powercap_root: str = "/sys/class/powercap"
    timeline: bool = False

    def __post_init__(self) -> None:
        for setting in ("gpu_meter", "cpu_meter"):   # the names greenhp.energy.meters registered
            names = meter_names(setting)
            if getattr(self, setting) not in names:
                raise ValueError(f"energy.{setting}: {getattr(self, setting)!r} is not one of {', '.join(names)}")
        for name, lo, strict in (
            ("cpu_watts_per_core", 0.0, True),
            ("sample_hz", 0.0, True),
            ("idle_seconds", 0.0, False),
            ("settle_tolerance_w", 0.0, True),
            ("settle_timeout_s", 0.0, False),
            ("baseline_max_age_s", 0.0, False),
            ("baseline_drift_w", 0.0, True),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"energy.{name}: {v!r} is not a finite number")
            if v < lo or (strict and v == lo):
                raise ValueError(f"energy.{name}: {v!r} must be {'>' if strict else '>='} {lo:g}")
            object.__setattr__(self, name, float(v))
        if self.sample_hz > 1000:
            raise ValueError(f"energy.sample_hz: {self.sample_hz!r} must be <= 1000")
        if not isinstance(self.powercap_root, str) or not self.powercap_root:
            raise ValueError(f"energy.powercap_root: {self.powercap_root!r} is not a path")
        if not isinstance(self.baseline_cache, str) or not self.baseline_cache:
            raise ValueError(f"energy.baseline_cache: {self.baseline_cache!r} is not a path")
        if not isinstance(self.timeline, bool):
            raise ValueError(f"energy.timeline: {self.timeline!r} is not true/false")

    @classmethod
    def allowed_keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "EnergyConfig":
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise ValueError(f"energy: expected a mapping, got {type(d).__name__}")
        allowed = cls.allowed_keys()
        for key in d:
            if key not in allowed:
                raise ValueError(f"energy: unknown key {key!r}; allowed keys: {', '.join(allowed)}")
        return cls(**dict(d))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
