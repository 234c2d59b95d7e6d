import csv
import time

import pytest

from greenhp.energy import EnergyConfig, EnergyMonitor
from greenhp.energy.sampler import GpuSampler, trapezoid_j
from greenhp.energy.nvml import NvmlDevice


def _run(mon, seconds):
    mon.begin()
    time.sleep(seconds)
    return mon.end()


def test_counter_and_integral_agree(make_nvml, tmp_path):
    nv = make_nvml(power=lambda t: 250.0)
    tl = tmp_path / "tl.tsv"
    mon = EnergyMonitor(EnergyConfig(cpu_meter="none", sample_hz=50), nvml=nv, timeline_path=tl)
    r = _run(mon, 1.2)
    g = r["gpu"]
    assert g["method"] == "nvml_counter" and g["reason"] is None
    d = r["window"]["duration_s"]
    assert g["energy_j"] == pytest.approx(250 * d, abs=250 * 0.1 + 1)  # counter updates every 100 ms
    assert g["power_integral_j"] == pytest.approx(250 * d, rel=1e-6)
    assert abs(g["disagreement_pct"]) < 10
    assert g["counter_updates"] >= 10 and "under_10_counter_updates" not in g["flags"]
    assert "window_under_1s" not in g["flags"]
    assert r["total"]["domains"] == ["gpu"] and r["total"]["estimated"] is False
    rows = list(csv.reader(open(tl), delimiter="\t"))
    assert rows[0] == ["t_s", "power_w", "sm_util_pct", "sm_clock_mhz", "mem_clock_mhz", "temp_c", "mem_used_mib"]
    assert len(rows) > 20 and float(rows[5][1]) == 250.0 and rows[5][2] == "87"
    env = r["environment"]["gpu"]
    assert env["name"] == "Fake H100" and env["driver"] == "580.00" and env["power_limit_w"] == 700.0
    assert env["status_start"]["temp_c"] == 45


def test_short_window_flags(make_nvml):
    nv = make_nvml(power=lambda t: 100.0)
    r = _run(EnergyMonitor(EnergyConfig(cpu_meter="none"), nvml=nv), 0.3)
    assert "window_under_1s" in r["gpu"]["flags"] and "under_10_counter_updates" in r["gpu"]["flags"]


def test_no_counter_falls_back_to_power_integral(make_nvml):
    nv = make_nvml(power=lambda t: 80.0, has_counter=False)
    r = _run(EnergyMonitor(EnergyConfig(cpu_meter="none", sample_hz=50), nvml=nv), 0.5)
    g = r["gpu"]
    assert g["method"] == "nvml_power_integral"
    assert g["energy_j"] == pytest.approx(80 * r["window"]["duration_s"], rel=1e-6)
    assert "not supported" in g["counter_reason"]


def test_field_values_fallback_to_power_usage(make_nvml):
    nv = make_nvml(power=lambda t: 123.0, field_ok=False)
    dev, reason = NvmlDevice.open(nv, 0)
    assert reason is None
    assert dev.power_w() == 123.0
    assert dev.power_w() == 123.0
    assert nv.calls["field_values"] == 1 and nv.calls["power_usage"] == 2


def test_nvml_init_failure_is_unavailable(make_nvml):
    nv = make_nvml(init_error=RuntimeError("Driver Not Loaded"))
    r = _run(EnergyMonitor(EnergyConfig(cpu_meter="none"), nvml=nv), 0.01)
    assert r["gpu"]["energy_j"] is None and r["gpu"]["method"] == "unavailable"
    assert r["gpu"]["reason"].startswith("no NVIDIA GPU / NVML not loadable") and "Driver Not Loaded" in r["gpu"]["reason"]
    assert r["total"]["energy_j"] is None and r["total"]["domains"] == []


def test_real_machine_without_gpu_auto():
    # this machine has no NVIDIA driver: the real pynvml must report unavailable, not crash
    r = _run(EnergyMonitor(EnergyConfig(cpu_meter="none")), 0.01)
    if r["gpu"]["method"] == "unavailable":
        assert r["gpu"]["energy_j"] is None and r["gpu"]["reason"]


def test_gpu_index_out_of_range(make_nvml):
    r = _run(EnergyMonitor(EnergyConfig(cpu_meter="none"), gpu_index=3, nvml=make_nvml()), 0.01)
    assert r["gpu"]["energy_j"] is None and "out of range" in r["gpu"]["reason"]


def test_cuda_visible_devices_maps_nvml_index(make_nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    dev, reason = NvmlDevice.open(make_nvml(count=2), None)
    assert reason is None and dev.index == 1 and "CUDA_VISIBLE_DEVICES" in dev.chosen_by


def test_sync_hook_called_at_edges(make_nvml):
    calls = []
    mon = EnergyMonitor(EnergyConfig(cpu_meter="none"), nvml=make_nvml(), sync=lambda: calls.append(1))
    _run(mon, 0.01)
    assert len(calls) == 2


def test_trapezoid_edges():
    s = [(1.0, 100.0), (2.0, 200.0), (3.0, 200.0)]
    assert trapezoid_j(s, 1.0, 3.0) == pytest.approx(150 + 200)
    assert trapezoid_j(s, 1.5, 2.5) == pytest.approx(0.5 * 175 + 0.5 * 200)
    assert trapezoid_j(s, 0.0, 1.0) == pytest.approx(100.0)      # held at nearest sample
    assert trapezoid_j([], 0, 1) is None


def test_sampler_with_fake_clock(make_nvml, fake_clock):
    nv = make_nvml(power=lambda t: 100.0 if int(t * 10) % 2 else 300.0, clock=fake_clock)
    dev, _ = NvmlDevice.open(nv, 0)
    s = GpuSampler(dev, hz=20, clock=fake_clock)
    for _ in range(201):
        s.tick()
        fake_clock.sleep(0.05)
    assert len(s.samples) == 201
    assert s.counter_updates >= 95
