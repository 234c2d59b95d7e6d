"""Phase marks: meters read at marks, phases that add up to the window, monotone epoch rows."""

import os
import time

import pytest

from greenhp.energy import EnergyConfig, EnergyMonitor
from greenhp.energy.meters import (CpuTimeMeter, GpuMeter, PyRaplMeter, RaplMeter, UnavailableMeter, open_meters,
                                   proc_cpu_seconds)
from greenhp.energy.phases import build
from greenhp.marks import MarkListener, MarkWriter, open_channel


def _reading(v, method="rapl"):
    return {"value_j": v, "method": method, "reason": None}


def _mark(name, t, gpu, cpu, epoch=None, metric=None):
    m = {"name": name, "t": t, "readings": {"gpu": _reading(gpu, "nvml_counter"), "cpu": _reading(cpu),
                                            "dram": {"value_j": None, "method": "unavailable", "reason": "no dram"}}}
    if epoch is not None:
        m.update(epoch=epoch, epochs=3, metric_name="accuracy", metric=metric)
    return m


DOMAINS = {"gpu": {"energy_j": 100.0, "method": "nvml_counter"}, "cpu": {"energy_j": 50.0, "method": "rapl"},
           "dram": {"energy_j": None, "method": "unavailable", "reason": "RAPL has no dram zone"}}


def test_phases_add_up_and_epochs_are_monotone():
    marks = [_mark("start", 1.0, 1.0, 2.0), _mark("run_start", 3.0, 10.0, 20.0), _mark("data_ready", 3.5, 12.0, 21.0),
             _mark("epoch", 5.0, 30.0, 30.0, 1, 0.5), _mark("epoch", 6.0, 50.0, 35.0, 2, 0.7),
             _mark("epoch", 7.0, 70.0, 40.0, 3, 0.71), _mark("run_end", 7.5, 75.0, 42.0)]
    out = build(marks, DOMAINS, ["gpu", "cpu"], 0.0, 8.0)
    names = [p["name"] for p in out["phases"]]
    assert names == ["setup", "training", "evaluation", "end"]
    for d, total in (("gpu", 100.0), ("cpu", 50.0), ("total", 150.0)):
        assert sum(p[f"{d}_j"] for p in out["phases"]) == pytest.approx(total, abs=1e-9)
    assert sum(p["duration_s"] for p in out["phases"]) == pytest.approx(8.0)
    assert all(p["dram_j"] is None and p["reasons"]["dram"] == "RAPL has no dram zone" for p in out["phases"])
    tr = out["training"]
    assert tr["gpu_j"] == pytest.approx(58.0) and tr["cpu_j"] == pytest.approx(19.0) and tr["duration_s"] == 3.5
    ep = out["epochs"]
    assert [e["epoch"] for e in ep] == [1, 2, 3]
    for key in ("t_s", "gpu_j", "cpu_j", "total_j"):
        vals = [e[key] for e in ep]
        assert vals == sorted(vals) and vals[0] >= 0
    assert ep[-1]["total_j"] == pytest.approx(tr["total_j"])
    assert ep[0]["metric"] == 0.5 and ep[0]["metric_name"] == "accuracy"


def test_subject_without_epoch_done_gets_setup_training_end():
    marks = [_mark("start", 1.0, 1.0, 2.0), _mark("run_start", 3.0, 10.0, 20.0), _mark("run_end", 6.0, 60.0, 40.0)]
    out = build(marks, DOMAINS, ["gpu", "cpu"], 0.0, 7.0)
    assert [p["name"] for p in out["phases"]] == ["setup", "training", "end"]
    assert out["epochs"] == []
    assert out["training"]["gpu_j"] == pytest.approx(50.0)
    assert sum(p["total_j"] for p in out["phases"]) == pytest.approx(150.0)


def test_no_marks_is_one_whole_phase_with_a_reason():
    out = build([], DOMAINS, ["gpu", "cpu"], 0.0, 2.0)
    assert [p["name"] for p in out["phases"]] == ["whole"] and out["phases"][0]["total_j"] == 150.0
    assert out["training"] is None and "no training start mark" in out["reason"]


def test_unreadable_meter_at_mark_is_missing_not_zero():
    marks = [_mark("run_start", 1.0, 10.0, 20.0), _mark("run_end", 2.0, 20.0, 30.0)]
    marks[0]["readings"]["cpu"] = {"value_j": None, "method": "unavailable", "reason": "pyRAPL cannot be read"}
    out = build(marks, DOMAINS, ["gpu", "cpu"], 0.0, 3.0)
    setup, training, end = out["phases"]
    assert setup["cpu_j"] is None and "pyRAPL" in setup["reasons"]["cpu"] and setup["total_j"] is None
    assert end["cpu_j"] == pytest.approx(20.0) and end["total_j"] == pytest.approx(100.0)


def test_meters_say_why(make_nvml, tmp_path):
    common = dict(powercap_root=str(tmp_path / "none"), rapl_opener=open)
    m = open_meters(EnergyConfig(gpu_meter="none", cpu_meter="none"), **common)
    for d, r in m.read().items():
        meter = m.for_domain(d)
        assert isinstance(meter, UnavailableMeter) and r.value_j is None and r.method == "unavailable" and r.reason
    m = open_meters(EnergyConfig(gpu_meter="auto", cpu_meter="auto"), modules={"pynvml": make_nvml()}, **common,
                    cpu_seconds=lambda: (2.0, None))
    assert isinstance(m.for_domain("gpu"), GpuMeter) and m.for_domain("gpu").device.has_counter
    assert isinstance(m.for_domain("cpu"), CpuTimeMeter)
    assert m.read()["cpu"].value_j == 20.0 and m.read()["cpu"].method == "estimate_cpu_time"
    assert "RAPL not present" in m.read()["dram"].reason


def test_rapl_and_pyrapl_meters(make_powercap, tmp_path):
    pc = make_powercap()
    m = open_meters(EnergyConfig(gpu_meter="none", cpu_meter="rapl"), powercap_root=pc.root, rapl_opener=open)
    assert isinstance(m.for_domain("cpu"), RaplMeter) and m.for_domain("dram") is m.for_domain("cpu")
    m.for_domain("cpu").reader.start(thread=False)
    pc.set("pkg0", 3_000_000)
    pc.set("dram0", 1_000_000)
    assert m.read()["cpu"].value_j == 3.0 and m.read()["dram"].value_j == 1.0
    r = PyRaplMeter(None).read()["cpu"]
    assert r.value_j is None and "pyRAPL" in r.reason


def test_monitor_marks_with_fake_gpu_and_rapl(make_nvml, make_powercap):
    pc = make_powercap()
    mon = EnergyMonitor(EnergyConfig(cpu_meter="rapl", sample_hz=50), nvml=make_nvml(power=lambda t: 200.0),
                        powercap_root=pc.root)
    mon.begin()
    mon.expect_marks()
    mon.track(os.getpid(), "main")
    mon.mark("main", "start")
    mon.mark("main", "run_start")
    uj = 0
    for epoch in (1, 2, 3):
        time.sleep(0.25)
        uj += 2_000_000
        pc.set("pkg0", uj)
        mon.mark("main", "epoch", epoch=epoch, epochs=3, metric_name="accuracy", metric=0.1 * epoch)
    mon.mark("main", "run_end")
    pc.set("pkg0", uj + 500_000)
    r = mon.end()
    ph = r["phases"]["main"]
    assert [p["name"] for p in ph["phases"]] == ["setup", "training", "evaluation", "end"]
    for d in ("gpu", "cpu"):
        assert sum(p[f"{d}_j"] for p in ph["phases"]) == pytest.approx(r[d]["energy_j"], rel=1e-9, abs=1e-9)
    assert sum(p["total_j"] for p in ph["phases"]) == pytest.approx(r["total"]["energy_j"], rel=1e-9)
    assert [e["cpu_j"] for e in ph["epochs"]] == pytest.approx([2.0, 4.0, 6.0])
    gpu = [e["gpu_j"] for e in ph["epochs"]]
    assert gpu == sorted(gpu) and gpu[-1] == pytest.approx(200 * 0.75, rel=0.25)
    assert mon.mark("main", "late") is None           # after the window: ignored


def test_monitor_estimate_reads_child_cpu_time():
    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="estimate", cpu_watts_per_core=10))
    mon.begin()
    mon.track(os.getpid(), "main")
    t = time.process_time()
    while time.process_time() - t < 0.1:
        pass
    m = mon.mark("main", "run_start")
    assert m["readings"]["cpu"]["method"] == "estimate_cpu_time"
    assert m["readings"]["cpu"]["value_j"] == pytest.approx(10 * proc_cpu_seconds(os.getpid()), abs=0.5)
    mon.mark("main", "run_end")
    r = mon.end(cpu_seconds={"main": proc_cpu_seconds(os.getpid()) + 0.01})
    ph = r["phases"]["main"]
    assert sum(p["cpu_j"] for p in ph["phases"]) == pytest.approx(r["cpu"]["energy_j"])
    assert [p["name"] for p in ph["phases"]] == ["setup", "training", "end"]


def test_marks_channel_round_trip():
    got = []
    r, w = open_channel()
    lst = MarkListener(r, "main", lambda label, name, **info: got.append((label, name, info)))
    lst.start()
    wr = MarkWriter(w)
    wr.mark("start")
    wr.mark("epoch", epoch=1, metric=float("nan"), loss=0.5)
    os.write(w, b"not json\n")
    os.close(w)
    lst.join(5)
    assert [g[1] for g in got] == ["start", "epoch"] and lst.bad_lines == 1
    assert got[1][2]["epoch"] == 1 and "metric" not in got[1][2] and got[1][2]["loss"] == 0.5
    assert "t_child" in got[0][2]
    assert not MarkWriter.from_env({}).enabled
    wr2 = MarkWriter(w)  # closed fd: disables itself, never raises
    wr2.mark("x")
    assert not wr2.enabled
