import time

import pytest

from greenhp.energy import EnergyConfig, EnergyMonitor
from greenhp.energy.attribution import attribute
from greenhp.energy.baseline import idle_gpu, settle_gpu
from greenhp.energy.nvml import NvmlDevice


def test_settle_waits_for_decay(make_nvml, fake_clock):
    # after a load: 140 W decaying to 71 W with a 3 s time constant
    t0 = fake_clock()
    nv = make_nvml(power=lambda t: 71 + 69 * 2.718281828 ** (-(t - t0) / 3.0), clock=fake_clock)
    dev, _ = NvmlDevice.open(nv, 0)
    r = settle_gpu(dev, tolerance_w=5, timeout_s=60, hz=10, clock=fake_clock, sleep=fake_clock.sleep)
    assert r["settled"] and 5 < r["settle_s"] < 20
    assert r["settle_power_w"] < 71 + 10


def test_settle_timeout(make_nvml, fake_clock):
    nv = make_nvml(power=lambda t: 300 - 10 * (t - 1000), clock=fake_clock)   # falls 10 W/s forever
    dev, _ = NvmlDevice.open(nv, 0)
    r = settle_gpu(dev, tolerance_w=5, timeout_s=4, hz=10, clock=fake_clock, sleep=fake_clock.sleep)
    assert not r["settled"] and r["settle_s"] == pytest.approx(4, abs=0.2) and "settle_flag" in r


def test_idle_from_counter(make_nvml, fake_clock):
    nv = make_nvml(power=lambda t: 71.0, clock=fake_clock)
    dev, _ = NvmlDevice.open(nv, 0)
    r = idle_gpu(dev, 2.0, hz=10, clock=fake_clock, sleep=fake_clock.sleep)
    assert r["gpu_method"] == "nvml_counter" and r["gpu_w"] == pytest.approx(71.0, rel=0.06)


def test_monitor_idle_net_and_no_meter_reasons(make_nvml):
    nv = make_nvml(power=lambda t: 100.0)
    cfg = EnergyConfig(cpu_meter="estimate", idle_seconds=0.3, sample_hz=50, settle_timeout_s=0)
    mon = EnergyMonitor(cfg, nvml=nv)
    mon.begin()
    time.sleep(0.5)
    r = mon.end(cpu_seconds={"main": 1.0})
    assert r["idle"]["gpu_w"] == pytest.approx(100.0, rel=0.4)
    assert r["idle"]["seconds"] == 0.3 and "no CPU idle baseline" in r["idle"]["cpu_reason"]
    d = r["window"]["duration_s"]
    assert r["net"]["gpu_j"] == pytest.approx(r["gpu"]["energy_j"] - r["idle"]["gpu_w"] * d)
    assert r["net"]["cpu_j"] == 10.0 and r["net"]["estimated"] is True

    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="none", idle_seconds=0.1, settle_timeout_s=1))
    mon.begin()
    r = mon.end()
    assert r["idle"]["gpu_w"] is None and "no GPU idle baseline" in r["idle"]["gpu_reason"]
    assert "no GPU to settle" in r["idle"]["settle_reason"]
    assert r["net"]["total_j"] is None


def test_monitor_idle_rapl(make_powercap):
    pc = make_powercap()
    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="rapl", idle_seconds=0.1), powercap_root=pc.root)
    mon.prepare()
    assert mon.idle["cpu_w"] == 0.0 and mon.idle["cpu_method"] == "rapl"   # counters static in the fake
    mon.begin()
    pc.set("pkg0", 5_000_000)
    r = mon.end()
    assert r["net"]["cpu_j"] == pytest.approx(5.0)


@pytest.mark.parametrize("util", [{"a": 300.0, "b": 100.0}, {"a": 0.0, "b": 0.0}, {"a": 5.0, "b": 0.0}])
def test_attribute_sums_to_total(util):
    r = attribute(["a", "b"], 1000.0, 50.0, 10.0, util, 200.0, 20.0, {"a": 3.0, "b": 1.0})
    assert sum(v["gpu_j"] for v in r.values()) == pytest.approx(1000.0, rel=0.01)
    assert sum(v["cpu_j"] for v in r.values()) == pytest.approx(200.0)
    assert sum(v["total_j"] for v in r.values()) == pytest.approx(1220.0, rel=0.01)
    assert all(v["estimated"] is True for v in r.values())
    if util["a"] == 300.0:
        assert r["a"]["gpu_j"] == pytest.approx(500 * 0.75 + 250)
        assert r["a"]["method"].startswith("gpu:sm_util_integral_split")
    assert r["a"]["cpu_j"] == pytest.approx(150.0)


def test_attribute_single_is_null_and_idle_clamped():
    assert attribute(["a"], 10.0, 1.0, 1.0, {}, None, None, {}) is None
    r = attribute(["a", "b"], 100.0, 50.0, 10.0, {"a": 1, "b": 1}, None, None, {})
    assert sum(v["gpu_j"] for v in r.values()) == pytest.approx(100.0)
    assert any("clamped" in n for n in r["a"]["notes"])


def test_pair_attribution_through_monitor(make_nvml):
    """Two tracked PIDs, process A at 60 % SM and B at 20 %; NVML only reports active processes."""
    state = {"ts": 0}

    def proc_util(since, now):
        state["ts"] += 100_000
        return [(1111, state["ts"], 60), (2222, state["ts"], 20), (999999, state["ts"], 0)]

    nv = make_nvml(power=lambda t: 400.0, proc_util=proc_util)
    mon = EnergyMonitor(EnergyConfig(cpu_meter="estimate", sample_hz=50, idle_seconds=0.2), nvml=nv)
    mon.begin()
    mon.track(1111, "a")
    mon.track(2222, "b")
    time.sleep(1.2)
    r = mon.end(cpu_seconds={"a": 4.0, "b": 2.0})
    att = r["attribution"]
    total_gpu = r["gpu"]["energy_j"]
    assert sum(v["gpu_j"] for v in att.values()) == pytest.approx(total_gpu, rel=0.01)
    assert sum(v["total_j"] for v in att.values()) == pytest.approx(r["total"]["energy_j"], rel=0.01)
    assert att["a"]["sm_util_pct_s"] / att["b"]["sm_util_pct_s"] == pytest.approx(3.0, rel=0.01)
    assert att["a"]["gpu_active_j"] == pytest.approx(3 * att["b"]["gpu_active_j"], rel=0.01)
    assert att["a"]["gpu_idle_share_j"] == pytest.approx(att["b"]["gpu_idle_share_j"])
    assert att["a"]["cpu_j"] == pytest.approx(40.0) and att["b"]["cpu_j"] == pytest.approx(20.0)
    assert att["a"]["estimated"] is True and "sm_util" in att["a"]["method"]
    with pytest.raises(ValueError):
        mon.track(3333, "a")


def test_descendant_pid_maps_to_tracked_parent():
    import os
    import subprocess
    import sys
    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="none"))
    child = subprocess.Popen([sys.executable, "-c", "import subprocess,sys,time;"
                              "p=subprocess.Popen([sys.executable,'-c','import time;time.sleep(2)']);"
                              "print(p.pid,flush=True);p.wait()"], stdout=subprocess.PIPE, text=True)
    grandchild = int(child.stdout.readline())
    mon.track(child.pid, "a")
    try:
        assert mon._label_of(grandchild) == "a"
        assert mon._label_of(os.getpid()) is None
    finally:
        child.kill()
        child.wait()
