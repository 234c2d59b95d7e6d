"""greenhp.energy: measure GPU, CPU and DRAM energy of a training window.

    from greenhp.energy import EnergyConfig, EnergyMonitor, measure_command

GPU from NVML's energy counter (cross-checked with sampled instant power), CPU/DRAM from RAPL with
wraparound counting (or pyRAPL, or an explicit CPU-time estimate), idle baseline and settling,
per-process attribution for processes sharing a GPU, environment snapshot. Anything that could not
be measured is ``None`` with a ``reason``, never 0.
"""

from .command import measure_command, write_json_atomic
from .config import EnergyConfig
from .monitor import EnergyMonitor

__all__ = ["EnergyConfig", "EnergyMonitor", "measure_command", "write_json_atomic"]
