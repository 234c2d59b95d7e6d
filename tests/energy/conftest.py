"""Fakes for the energy tests: a module-like NVML, a GPU straight on the GpuDevice interface (another
vendor), and a powercap tree in tmp_path."""

from __future__ import annotations

import math
import os
import time
from types import SimpleNamespace

import pytest

from greenhp.energy.gpu import GpuDevice


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += dt


class _NVMLError(Exception):
    def __init__(self, value: int = 999):
        super().__init__(f"fake NVML error {value}")
        self.value = value


class _NotSupported(_NVMLError):
    def __init__(self):
        super().__init__(3)


class _NotFound(_NVMLError):
    def __init__(self):
        super().__init__(6)


class FakeNVML:
    """Module-like stand-in for pynvml with one or more GPUs.

    power(t) gives watts at time t; the energy counter is its integral (mJ) quantised to the 100 ms
    update period of real GPUs. ``proc_util(since_us, now)`` returns [(pid, ts_us, sm_pct)].
    """

    NVMLError = _NVMLError
    NVMLError_NotSupported = _NotSupported
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_FI_DEV_POWER_INSTANT = 186
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, power=lambda t: 100.0, clock=time.time, has_counter=True, field_ok=True,
                 init_error: Exception | None = None, count=1, proc_util=None, counter_period=0.1,
                 proc_util_supported=True, uuid="GPU-fake-0000"):
        self.power = power
        self.clock = clock
        self.has_counter = has_counter
        self.field_ok = field_ok
        self.init_error = init_error
        self.count = count
        self.proc_util = proc_util
        self.counter_period = counter_period
        self.proc_util_supported = proc_util_supported
        self.uuid = uuid
        self.t0 = clock()
        self.calls: dict[str, int] = {}
        self.initialised = False

    def _c(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    # energy of power() from t0 to t (numeric, 1 ms steps; cheap for the short windows in tests)
    def _energy_j(self, t: float) -> float:
        n = max(1, int((t - self.t0) / 0.001))
        if t <= self.t0:
            return 0.0
        dt = (t - self.t0) / n
        return sum(self.power(self.t0 + (i + 0.5) * dt) for i in range(n)) * dt

    def nvmlInit(self):
        self._c("nvmlInit")
        if self.init_error is not None:
            raise self.init_error
        self.initialised = True

    def nvmlShutdown(self):
        self._c("nvmlShutdown")

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        if i >= self.count:
            raise _NVMLError(2)
        return SimpleNamespace(index=i)

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return SimpleNamespace(index=0, uuid=uuid)

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self._c("counter")
        if not self.has_counter:
            raise _NotSupported()
        t = self.clock()
        tq = self.t0 + math.floor((t - self.t0) / self.counter_period) * self.counter_period
        return int(self._energy_j(tq) * 1000) + 5_000_000_000

    def nvmlDeviceGetPowerUsage(self, h):
        self._c("power_usage")
        return int(self.power(self.clock()) * 1000)

    def nvmlDeviceGetFieldValues(self, h, ids):
        self._c("field_values")
        if not self.field_ok:
            raise _NotSupported()
        assert ids == [186]
        return [SimpleNamespace(fieldId=186, nvmlReturn=0, valueType=1,
                                value=SimpleNamespace(uiVal=int(self.power(self.clock()) * 1000)))]

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=87, memory=40)

    def nvmlDeviceGetClockInfo(self, h, kind):
        return 1980 if kind == 1 else 2619

    def nvmlDeviceGetTemperature(self, h, kind):
        return 45

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=1024 * 2**20, total=80 * 2**30)

    def nvmlDeviceGetProcessUtilization(self, h, since):
        self._c("proc_util")
        if not self.proc_util_supported:
            raise _NotSupported()
        if self.proc_util is None:
            raise _NotFound()
        rows = self.proc_util(since, self.clock())
        if not rows:
            raise _NotFound()
        return [SimpleNamespace(pid=p, timeStamp=ts, smUtil=sm, memUtil=0, encUtil=0, decUtil=0)
                for p, ts, sm in rows]

    def nvmlDeviceGetName(self, h):
        return "Fake H100"

    def nvmlDeviceGetUUID(self, h):
        return self.uuid

    def nvmlSystemGetDriverVersion(self):
        return b"580.00"

    def nvmlDeviceGetPowerManagementLimit(self, h):
        return 700000

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return 700000

    def nvmlDeviceGetPersistenceMode(self, h):
        return 1


@pytest.fixture
def fake_clock():
    return FakeClock()


@pytest.fixture
def make_nvml():
    return FakeNVML


class FakeGpu(GpuDevice):
    """A GPU of another vendor ("FakeSMI"), implementing :class:`GpuDevice` directly: power(t) watts,
    an energy counter (mJ, the integral of power, updated every 100 ms) unless ``has_counter`` is
    False, no per-process utilisation, and its own method names."""

    api = "FakeSMI"
    process_util_api = "fakesmi_process_util"
    counter_method = "fakesmi_counter"
    power_integral_method = "fakesmi_power_integral"
    power_mean_method = "fakesmi_power_mean"

    def __init__(self, power=lambda t: 100.0, clock=time.time, has_counter=True, index=0, uuid="FAKE-0001"):
        self.power, self.clock, self.index, self.uuid = power, clock, index, uuid
        self.has_counter = has_counter
        self.counter_reason = None if has_counter else "FakeSMI has no energy counter"
        self.t0 = clock()
        self.closed = False

    def energy_mj(self):
        if not self.has_counter:
            return None
        t = self.t0 + math.floor((self.clock() - self.t0) / 0.1) * 0.1     # updated every 100 ms
        n = max(1, int((t - self.t0) / 0.001))
        dt = (t - self.t0) / n
        return int(sum(self.power(self.t0 + (i + 0.5) * dt) for i in range(n)) * dt * 1000)

    def power_w(self):
        return float(self.power(self.clock()))

    def status(self):
        return {"sm_util_pct": 50, "sm_clock_mhz": 2100, "mem_clock_mhz": 1300, "temp_c": 40, "mem_used_mib": 512.0}

    def process_utilization(self, since_us):
        return None

    def info(self):
        return {"index": self.index, "chosen_by": "test", "name": "Fake MI300", "uuid": self.uuid, "driver": "fake 1.0",
                "power_limit_w": 750.0, "enforced_power_limit_w": 750.0, "persistence_mode": None,
                "energy_counter": self.has_counter}

    def close(self):
        self.closed = True


@pytest.fixture
def make_fake_gpu():
    return FakeGpu


class Powercap:
    """A fake /sys/class/powercap tree. ``set(zone, uj)`` writes a counter value."""

    def __init__(self, root, sockets=1, dram=True, psys=False, core=True, max_range=262143328850):
        self.root = str(root)
        self.max_range = max_range
        self.paths: dict[str, str] = {}
        os.makedirs(self.root, exist_ok=True)
        for s in range(sockets):
            top = os.path.join(self.root, f"intel-rapl:{s}")
            self._zone(top, f"package-{s}", f"pkg{s}")
            k = 0
            if core:
                self._zone(os.path.join(top, f"intel-rapl:{s}:{k}"), "core", f"core{s}")
                k += 1
                self._zone(os.path.join(top, f"intel-rapl:{s}:{k}"), "uncore", f"uncore{s}")
                k += 1
            if dram:
                self._zone(os.path.join(top, f"intel-rapl:{s}:{k}"), "dram", f"dram{s}")
        if psys:
            self._zone(os.path.join(self.root, f"intel-rapl:{sockets}"), "psys", "psys")

    def _zone(self, path, name, key):
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "name"), "w") as f:
            f.write(name + "\n")
        with open(os.path.join(path, "max_energy_range_uj"), "w") as f:
            f.write(f"{self.max_range}\n")
        self.paths[key] = path
        self.set(key, 0)

    def set(self, key, uj):
        with open(os.path.join(self.paths[key], "energy_uj"), "w") as f:
            f.write(f"{int(uj)}\n")

    def energy_file(self, key):
        return os.path.join(self.paths[key], "energy_uj")


@pytest.fixture
def make_powercap(tmp_path):
    def make(**kw):
        return Powercap(tmp_path / "powercap", **kw)
    return make
