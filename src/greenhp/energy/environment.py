"""Environment snapshot for the run record (cheap: no torch import)."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata
from typing import Any

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


def snapshot(gpu_info: dict[str, Any] | None, gpu_reason: str | None, rapl_zones: list | None,
             rapl_reason: str | None) -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
        "python_executable": sys.executable,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "gpu": gpu_info if gpu_info is not None else {"available": False, "reason": gpu_reason},
        "rapl_zones": rapl_zones or [],
        "rapl_reason": rapl_reason,
        "versions": versions(),
    }
