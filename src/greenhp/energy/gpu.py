"""The GPU device interface: one GPU as the energy layer sees it, whatever the vendor library.

:class:`greenhp.energy.nvml.NvmlDevice` implements it over NVML; an AMD GPU would implement it over
amdsmi (docs/architecture.md, "Adding an energy meter"). Everything that talks to a GPU uses only
this interface: the GPU meter (:class:`greenhp.energy.meters.GpuMeter`), the sampler
(:class:`greenhp.energy.sampler.GpuSampler`), the idle baseline and settling
(:mod:`greenhp.energy.baseline`) and the environment snapshot (:mod:`greenhp.energy.environment`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class GpuDevice(ABC):
    """One opened GPU. Besides the methods, an implementation sets these attributes:

    - ``index``: the index (or UUID) it was opened by;
    - ``has_counter``: whether it has a cumulative energy counter; ``counter_reason``: why not (or None);
    - ``api``: the library's name as messages show it (``"NVML"``); ``process_util_api``: the call that
      gives per-process utilisation, named where it is not supported;
    - ``counter_method``, ``power_integral_method``, ``power_mean_method``: the run record's method
      names for energy from the counter, from integrated sampled power, and for an idle power that is
      a mean of samples (``nvml_counter``, ``nvml_power_integral``, ``nvml_power_mean``); every one
      must be listed in the run-record schema's ``method`` enum.
    """

    api: str
    process_util_api: str
    counter_method: str
    power_integral_method: str
    power_mean_method: str
    index: int | str
    has_counter: bool
    counter_reason: str | None

    @abstractmethod
    def energy_mj(self) -> int | None:
        """The cumulative energy counter in millijoules (monotonic; None without a counter)."""

    @abstractmethod
    def power_w(self) -> float | None:
        """Instant power in watts, None when unreadable."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """``sm_util_pct``, ``sm_clock_mhz``, ``mem_clock_mhz``, ``temp_c``, ``mem_used_mib`` (None where
        unreadable): the sampler's timeline columns and the snapshot's status at the window's edges."""

    @abstractmethod
    def process_utilization(self, since_us: int) -> list[tuple[int, int, int]] | None:
        """``[(pid, timestamp_us, sm_util_pct)]`` of the processes active since ``since_us`` (an empty
        list when none was); None when the device cannot tell (pair attribution then splits evenly)."""

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """The snapshot's ``gpu`` mapping: ``index``, ``chosen_by``, ``name``, ``uuid``, ``driver``,
        ``power_limit_w``, ``enforced_power_limit_w``, ``persistence_mode``, ``energy_counter``
        (None where unknown). The ``uuid`` keys the idle-baseline cache and the training-GPU check."""

    def close(self) -> None:
        """Release the library (at the monitor's close)."""
