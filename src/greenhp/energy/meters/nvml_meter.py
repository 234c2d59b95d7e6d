"""NVIDIA GPUs through NVML (``energy.gpu_meter: nvml``, and ``auto``): a :class:`GpuMeter` on an
:class:`~greenhp.energy.nvml.NvmlDevice`, or unavailable with NVML's reason."""

from __future__ import annotations

from ..nvml import NvmlDevice
from .base import Meter, OpenContext, UnavailableMeter
from .gpu_meter import GpuMeter


def open_nvml(ctx: OpenContext) -> list[Meter]:
    """The GPU ``ctx.gpu_index`` (else the first of CUDA_VISIBLE_DEVICES, else 0) through NVML
    (``ctx.modules["pynvml"]`` when a test injects one)."""
    dev, reason = NvmlDevice.open(ctx.modules.get("pynvml"), ctx.gpu_index)
    if dev is None:
        return [UnavailableMeter("gpu", reason)]
    return [GpuMeter(dev, ctx.cfg.sample_hz)]
