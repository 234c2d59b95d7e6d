"""Meters behind one interface: a backend registered in greenhp.energy.meters is selected by the
configuration and measured by the monitor (with the sampler, idle baseline, snapshot, marks and pair
attribution) without any other change; the configuration and its schema accept exactly the
registered names; a meter's results are checked as they enter the monitor."""

import os
import time

import pytest
import yaml

from greenhp.energy import EnergyConfig, EnergyMonitor
from greenhp.energy.meters import (REGISTRY, GpuMeter, Measurement, Meter, MeterSet, Reading, UnavailableMeter,
                                   meter_names, open_meters, unavailable)

SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "src", "greenhp", "schemas", "config.schema.yaml")


@pytest.fixture
def fakesmi(monkeypatch, make_fake_gpu):
    """Register ``gpu_meter: fakesmi`` (a GpuMeter on FakeGpu) for one test; returns the devices it opened."""
    opened = []

    def open_fakesmi(ctx):
        dev = make_fake_gpu(power=lambda t: 120.0, has_counter=ctx.cfg.sample_hz != 49)
        opened.append(dev)
        return [GpuMeter(dev, ctx.cfg.sample_hz)]

    monkeypatch.setitem(REGISTRY["gpu_meter"], "fakesmi", open_fakesmi)
    return opened


@pytest.mark.parametrize("hz, method", [(50, "fakesmi_counter"), (49, "fakesmi_power_integral")])
def test_a_registered_gpu_backend_is_measured_like_nvml(fakesmi, tmp_path, hz, method):
    cfg = EnergyConfig(gpu_meter="fakesmi", cpu_meter="none", sample_hz=hz, idle_seconds=0.2)
    mon = EnergyMonitor(cfg, timeline_path=tmp_path / "tl.tsv")
    mon.begin()
    mon.expect_marks()
    mon.track(os.getpid(), "main")
    mon.track(2**22 + 1, "partner")
    mon.mark("main", "start")
    mon.mark("main", "run_start")
    time.sleep(0.6)
    mon.mark("main", "run_end")
    time.sleep(0.1)
    r = mon.end(cpu_seconds={"main": 1.0, "partner": 1.0})
    mon.close()
    g, dur = r["gpu"], r["window"]["duration_s"]
    assert g["method"] == method and g["energy_j"] == pytest.approx(120 * dur, rel=0.2)
    assert g["power_integral_j"] == pytest.approx(120 * dur, rel=1e-6) and g["gpu_index"] == 0
    # the idle baseline and the snapshot went through the same device
    assert r["idle"]["gpu_w"] == pytest.approx(120.0, rel=0.2)
    assert r["idle"]["gpu_method"] in ("fakesmi_counter", "fakesmi_power_mean")
    env = r["environment"]["gpu"]
    assert env["name"] == "Fake MI300" and env["status_start"]["temp_c"] == 40 and env["status_end"]
    # marks read this meter; its phases add up to its whole-window energy
    ph = r["phases"]["main"]
    assert ph["methods"]["gpu"] == method
    assert sum(p["gpu_j"] for p in ph["phases"]) == pytest.approx(g["energy_j"], rel=1e-9)
    assert ph["training"]["gpu_j"] > 0
    # pair shares: the device cannot tell per-process use, and the note names its call
    notes = r["attribution"]["main"]["notes"]
    assert "fakesmi_process_util not supported on this GPU" in notes
    assert len(open(tmp_path / "tl.tsv").read().splitlines()) > 5
    assert fakesmi[0].closed


def test_config_and_schema_accept_exactly_the_registered_meters(fakesmi):
    with open(SCHEMA) as f:
        props = yaml.safe_load(f)["properties"]["energy"]["properties"]
    names = {s: [n for n in meter_names(s) if n != "fakesmi"] for s in ("gpu_meter", "cpu_meter")}
    assert props["gpu_meter"]["enum"] == names["gpu_meter"] == ["auto", "nvml", "none"]
    assert props["cpu_meter"]["enum"] == names["cpu_meter"] == ["auto", "rapl", "pyrapl", "estimate", "none"]
    assert EnergyConfig(gpu_meter="fakesmi").gpu_meter == "fakesmi"
    with pytest.raises(ValueError,
                       match=r"energy.cpu_meter: 'amdsmi' is not one of auto, rapl, pyrapl, estimate, none$"):
        EnergyConfig(cpu_meter="amdsmi")


def test_unregistered_meter_is_rejected():
    with pytest.raises(ValueError, match=r"energy.gpu_meter: 'fakesmi' is not one of auto, nvml, none$"):
        EnergyConfig(gpu_meter="fakesmi")


class HostMeter(Meter):
    """A CPU backend measuring cpu only, with an idle reading and something for the snapshot."""

    domains = ("cpu",)

    def __init__(self):
        self.zero = None

    def begin(self, window):
        self.zero = window.t_start

    def read(self):
        return {"cpu": Reading("cpu", 1.0, "rapl")}

    def end(self, t_end, cpu_seconds):
        return {"cpu": Measurement("cpu", 2.5 * (t_end - self.zero), "rapl", None, {"flags": ["host"]})}

    def idle_power(self, seconds):
        return {"cpu_w": 2.5, "cpu_method": "rapl"}

    def environment(self):
        return {"host_meter": "v1"}


def test_a_registered_cpu_backend_fills_cpu_idle_and_snapshot(monkeypatch):
    monkeypatch.setitem(REGISTRY["cpu_meter"], "host",
                        lambda ctx: [HostMeter(), UnavailableMeter("dram", "host has no dram")])
    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="host", idle_seconds=0.1))
    mon.begin()
    time.sleep(0.05)
    r = mon.end()
    assert r["cpu"]["energy_j"] == pytest.approx(2.5 * r["window"]["duration_s"]) and r["cpu"]["flags"] == ["host"]
    assert r["dram"] == {"energy_j": None, "method": "unavailable", "reason": "host has no dram"}
    assert r["idle"]["cpu_w"] == 2.5 and r["idle"]["cpu_method"] == "rapl" and "cpu_reason" not in r["idle"]
    assert r["net"]["cpu_j"] == pytest.approx(0.0, abs=1e-9)
    assert r["environment"]["host_meter"] == "v1" and r["environment"]["rapl_zones"] == []


def test_an_opener_must_answer_for_its_domains(monkeypatch):
    monkeypatch.setitem(REGISTRY["cpu_meter"], "cpu_only", lambda ctx: [HostMeter()])
    with pytest.raises(ValueError,
                       match=r"energy.cpu_meter: 'cpu_only' opened meters for \['cpu'\], not \['cpu', 'dram'\]"):
        open_meters(EnergyConfig(gpu_meter="none", cpu_meter="cpu_only"))
    with pytest.raises(ValueError, match="domain 'cpu' of UnavailableMeter is also measured by HostMeter"):
        MeterSet([UnavailableMeter("gpu", "x"), HostMeter(), UnavailableMeter("cpu", "y"),
                  UnavailableMeter("dram", "z")])


def test_a_measurement_is_a_number_with_its_method_or_missing_with_a_reason():
    assert unavailable("dram", "no zone", hint="chmod").to_record() == {
        "energy_j": None, "method": "unavailable", "reason": "no zone", "hint": "chmod"}
    assert Measurement("cpu", 0.0, "rapl").to_record() == {"energy_j": 0.0, "method": "rapl", "reason": None}
    for bad in (dict(energy_j=None, method="rapl", reason="x"), dict(energy_j=1.0, method="unavailable", reason="x"),
                dict(energy_j=None, method="unavailable", reason="")):
        with pytest.raises(ValueError):
            Measurement("cpu", **bad)
    with pytest.raises(ValueError, match="domain 'disk'"):
        Measurement("disk", 1.0, "rapl")
