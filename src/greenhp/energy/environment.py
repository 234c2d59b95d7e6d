"""Environment snapshot for the run record (cheap: no torch import)."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata
from typing import Any, Mapping

from .gpu import GpuDevice

PACKAGES = ("torch", "nvidia-ml-py", "pyRAPL", "numpy", "greenhp")


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return platform.processor() or None


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    if out.get("greenhp") is None:
        try:
            from greenhp import __version__
            out["greenhp"] = __version__ + " (source tree)"
        except Exception:
            pass
    return out


def snapshot(gpu: GpuDevice | None, gpu_reason: str | None, meters: Mapping[str, Any]) -> dict[str, Any]:
    """The run record's ``energy.environment``. ``gpu``: the measured GPU (None: ``gpu_reason`` says
    why there is none); ``meters``: what the meters add (:meth:`greenhp.energy.meters.Meter.environment`;
    the RAPL meters fill ``rapl_zones`` and ``rapl_reason``)."""
    return {
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
        "python_executable": sys.executable,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "gpu": gpu.info() if gpu is not None else {"available": False, "reason": gpu_reason},
        "rapl_zones": [],
        "rapl_reason": None,
        **meters,
        "versions": versions(),
    }
