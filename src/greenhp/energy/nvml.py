"""Thin wrapper over NVML (``import pynvml`` from nvidia-ml-py), injectable for tests.

Only the functions listed in ``NVML_FUNCTIONS`` are used, so a fake module needs only those.
"""

from __future__ import annotations

import os
from typing import Any

from .gpu import GpuDevice

NVML_FUNCTIONS = (
    "nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetFieldValues", "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetClockInfo",
    "nvmlDeviceGetTemperature", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetProcessUtilization",
    "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlSystemGetDriverVersion",
    "nvmlDeviceGetPowerManagementLimit", "nvmlDeviceGetEnforcedPowerLimit",
    "nvmlDeviceGetPersistenceMode",
)


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def load_nvml(nvml: Any = None) -> tuple[Any, str | None]:
    """Return (module, None) with NVML initialised, or (None, reason)."""
    if nvml is None:
        try:
            import pynvml as nvml  # nvidia-ml-py
        except Exception as e:  # ImportError and anything its import may raise
            return None, f"no NVIDIA GPU / NVML not loadable: cannot import pynvml ({type(e).__name__}: {e})"
    try:
        nvml.nvmlInit()
    except Exception as e:
        return None, f"no NVIDIA GPU / NVML not loadable: {type(e).__name__}: {e}"
    return nvml, None


def _is_not_supported(nvml: Any, err: BaseException) -> bool:
    cls = getattr(nvml, "NVMLError_NotSupported", None)
    if cls is not None and isinstance(err, cls):
        return True
    return getattr(err, "value", None) == getattr(nvml, "NVML_ERROR_NOT_SUPPORTED", 3)


def resolve_index(gpu_index: int | None, env: dict | None = None) -> tuple[int | str, str]:
    """Which NVML device to open: explicit index, else first CUDA_VISIBLE_DEVICES entry, else 0.

    Returns (index or UUID string, how it was chosen). NVML ignores CUDA_VISIBLE_DEVICES, so the
    visible list is mapped here.
    """
    if gpu_index is not None:
        return int(gpu_index), "gpu_index argument"
    env = os.environ if env is None else env
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd:
        first = cvd.split(",")[0].strip()
        if first.isdigit():
            return int(first), f"CUDA_VISIBLE_DEVICES={cvd}"
        if first.startswith(("GPU-", "MIG-")):
            return first, f"CUDA_VISIBLE_DEVICES={cvd}"
    return 0, "default index 0"


class NvmlDevice(GpuDevice):
    """One GPU seen through NVML (the :class:`~greenhp.energy.gpu.GpuDevice` of NVIDIA GPUs)."""

    api = "NVML"
    process_util_api = "nvmlDeviceGetProcessUtilization"
    counter_method = "nvml_counter"
    power_integral_method = "nvml_power_integral"
    power_mean_method = "nvml_power_mean"

    def __init__(self, nvml: Any, handle: Any, index: int | str, chosen_by: str):
        self.nvml = nvml
        self.handle = handle
        self.index = index
        self.chosen_by = chosen_by
        self.has_counter = True
        self.counter_reason: str | None = None
        self._power_field_ok = True
        self._util_ok = True

    @classmethod
    def open(cls, nvml: Any = None, gpu_index: int | None = None) -> tuple["NvmlDevice | None", str | None]:
        mod, reason = load_nvml(nvml)
        if mod is None:
            return None, reason
        idx, chosen_by = resolve_index(gpu_index)
        try:
            count = mod.nvmlDeviceGetCount()
            if count < 1:
                return None, "no NVIDIA GPU: NVML reports 0 devices"
            if isinstance(idx, str):
                handle = mod.nvmlDeviceGetHandleByUUID(idx)
            else:
                if idx >= count:
                    return None, f"GPU index {idx} ({chosen_by}) out of range: NVML sees {count} device(s)"
                handle = mod.nvmlDeviceGetHandleByIndex(idx)
        except Exception as e:
            return None, f"NVML could not open GPU {idx}: {type(e).__name__}: {e}"
        dev = cls(mod, handle, idx, chosen_by)
        try:
            mod.nvmlDeviceGetTotalEnergyConsumption(handle)
        except Exception as e:
            dev.has_counter = False
            if _is_not_supported(mod, e):
                dev.counter_reason = "energy counter not supported on this GPU (pre-Volta?)"
            else:
                dev.counter_reason = f"energy counter unreadable: {type(e).__name__}: {e}"
        return dev, None

    # -- readings -----------------------------------------------------------------------------
    def energy_mj(self) -> int | None:
        if not self.has_counter:
            return None
        return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def power_w(self) -> float | None:
        """Instant power (field NVML_FI_DEV_POWER_INSTANT), falling back to nvmlDeviceGetPowerUsage."""
        if self._power_field_ok:
            try:
                fid = getattr(self.nvml, "NVML_FI_DEV_POWER_INSTANT", 186)
                fv = self.nvml.nvmlDeviceGetFieldValues(self.handle, [fid])[0]
                if getattr(fv, "nvmlReturn", 0) == 0:
                    return _field_value(fv) / 1000.0
                self._power_field_ok = False
            except Exception:
                self._power_field_ok = False
        try:
            return self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
        except Exception:
            return None

    def status(self) -> dict[str, Any]:
        """SM utilisation, clocks, temperature, memory used (None where unreadable)."""
        m = self.nvml
        out: dict[str, Any] = {}
        out["sm_util_pct"] = _try(lambda: m.nvmlDeviceGetUtilizationRates(self.handle).gpu)
        out["sm_clock_mhz"] = _try(lambda: m.nvmlDeviceGetClockInfo(self.handle, getattr(m, "NVML_CLOCK_SM", 1)))
        out["mem_clock_mhz"] = _try(lambda: m.nvmlDeviceGetClockInfo(self.handle, getattr(m, "NVML_CLOCK_MEM", 2)))
        out["temp_c"] = _try(lambda: m.nvmlDeviceGetTemperature(self.handle, getattr(m, "NVML_TEMPERATURE_GPU", 0)))
        out["mem_used_mib"] = _try(lambda: m.nvmlDeviceGetMemoryInfo(self.handle).used / 2**20)
        return out

    def process_utilization(self, since_us: int) -> list[tuple[int, int, int]] | None:
        """[(pid, timestamp_us, sm_util_pct)] of processes active since ``since_us``; None if unsupported.

        NVML raises NotFound when no process was active in the period: that is an empty list.
        """
        if not self._util_ok:
            return None
        try:
            samples = self.nvml.nvmlDeviceGetProcessUtilization(self.handle, int(since_us))
        except Exception as e:
            if _is_not_supported(self.nvml, e):
                self._util_ok = False
                return None
            return []
        return [(int(s.pid), int(s.timeStamp), int(s.smUtil)) for s in samples]

    def info(self) -> dict[str, Any]:
        m, h = self.nvml, self.handle
        return {
            "index": self.index,
            "chosen_by": self.chosen_by,
            "name": _try(lambda: _s(m.nvmlDeviceGetName(h))),
            "uuid": _try(lambda: _s(m.nvmlDeviceGetUUID(h))),
            "driver": _try(lambda: _s(m.nvmlSystemGetDriverVersion())),
            "power_limit_w": _try(lambda: m.nvmlDeviceGetPowerManagementLimit(h) / 1000.0),
            "enforced_power_limit_w": _try(lambda: m.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0),
            "persistence_mode": _try(lambda: bool(m.nvmlDeviceGetPersistenceMode(h))),
            "energy_counter": self.has_counter,
        }

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass


def _try(fn):
    try:
        return fn()
    except Exception:
        return None


_VALUE_ATTR = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}


def _field_value(fv: Any) -> float:
    return float(getattr(fv.value, _VALUE_ATTR.get(getattr(fv, "valueType", 1), "uiVal")))
