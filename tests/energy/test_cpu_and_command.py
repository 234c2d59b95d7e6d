import json
import os
import sys
import warnings
from types import SimpleNamespace

import pytest

from greenhp.energy import EnergyConfig, EnergyMonitor, measure_command

BUSY = [sys.executable, "-c", "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass"]


def test_estimate_on_this_machine(tmp_path):
    """This VM has no RAPL: auto -> estimate_cpu_time from the child's CPU time, never 0."""
    out = tmp_path / "run.json"
    rc = measure_command(BUSY, out, EnergyConfig.from_dict({"gpu_meter": "auto"}))
    assert rc == 0
    rec = json.loads(out.read_text())
    assert rec["command"] == BUSY and rec["returncode"] == 0
    e = rec["energy"]
    cpu = e["cpu"]
    if os.path.isdir("/sys/class/powercap") and cpu["method"] == "rapl":
        pytest.skip("this machine has readable RAPL")
    assert cpu["method"] == "estimate_cpu_time" and cpu["estimated"] is True
    assert cpu["energy_j"] > 0 and cpu["energy_j"] == pytest.approx(rec["cpu_seconds"] * 10.0)
    assert rec["cpu_seconds"] >= 0.25
    assert e["dram"]["energy_j"] is None and e["dram"]["reason"]
    assert e["total"]["estimated"] is True and "cpu" in e["total"]["domains"]
    assert e["total"]["energy_j"] > 0
    for dom in ("gpu", "cpu", "dram"):
        assert e[dom]["energy_j"] is None or e[dom]["energy_j"] > 0   # never a silent 0
        if e[dom]["energy_j"] is None:
            assert e[dom]["reason"]
    assert e["window"]["duration_s"] > 0.25
    assert e["environment"]["versions"]["python"]
    assert not list(tmp_path.glob(".run.json.*"))   # temp file replaced


def test_returncode_passed_through(tmp_path):
    out = tmp_path / "r.json"
    assert measure_command([sys.executable, "-c", "raise SystemExit(3)"], out,
                           EnergyConfig(gpu_meter="none")) == 3
    assert json.loads(out.read_text())["returncode"] == 3


def test_command_not_found(tmp_path):
    out = tmp_path / "r.json"
    assert measure_command(["/nonexistent/prog"], out, EnergyConfig(gpu_meter="none")) == 127
    rec = json.loads(out.read_text())
    assert rec["returncode"] == 127 and "could not start" in rec["error"]


def test_shell_string_rejected(tmp_path):
    with pytest.raises(TypeError):
        measure_command("echo hi", tmp_path / "r.json")


def test_estimate_forced_and_none():
    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="estimate", cpu_watts_per_core=15))
    mon.begin()
    r = mon.end(cpu_seconds={"a": 2.0, "b": 1.0})
    assert r["cpu"]["energy_j"] == pytest.approx(45.0) and r["cpu"]["method"] == "estimate_cpu_time"
    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="none"))
    mon.begin()
    r = mon.end(cpu_seconds={"a": 2.0})
    assert r["cpu"]["energy_j"] is None and "cpu_meter: none" in r["cpu"]["reason"]
    assert r["total"]["energy_j"] is None


def test_estimate_with_zero_cpu_time_is_none_not_zero():
    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="estimate"))
    mon.begin()
    r = mon.end(cpu_seconds={"a": 0.0})
    assert r["cpu"]["energy_j"] is None and "no CPU time" in r["cpu"]["reason"]


def test_pyrapl_on_this_machine_is_unavailable_not_a_crash():
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # any leaked warning would fail here
        mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="pyrapl"))
        mon.begin()
        r = mon.end()
    if r["cpu"]["method"] == "pyrapl":
        pytest.skip("pyRAPL works on this machine")
    assert r["cpu"]["energy_j"] is None and r["cpu"]["reason"].startswith("pyRAPL")
    assert r["dram"]["energy_j"] is None


def test_pyrapl_fake_module():
    class Meas:
        def __init__(self, label):
            self.result = None

        def begin(self):
            pass

        def end(self):
            self.result = SimpleNamespace(pkg=[2_000_000.0, 1_000_000.0], dram=[500_000.0])

    fake = SimpleNamespace(setup=lambda: None, Measurement=Meas)
    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="pyrapl"), pyrapl=fake)
    mon.begin()
    r = mon.end()
    assert r["cpu"] == {"energy_j": 3.0, "method": "pyrapl", "reason": None, "hint": None,
                        "flags": ["pyrapl_no_wraparound_handling"]}
    assert r["dram"]["energy_j"] == 0.5 and r["total"]["energy_j"] == 3.5


def test_pyrapl_setup_raises():
    def setup():
        warnings.warn("pymongo missing", ImportWarning)
        raise RuntimeError("PyRAPLCantRecordEnergyConsumption: intel-rapl")

    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="pyrapl"),
                        pyrapl=SimpleNamespace(setup=setup))
    mon.begin()
    r = mon.end()
    assert r["cpu"]["energy_j"] is None and "PyRAPLCantRecordEnergyConsumption" in r["cpu"]["reason"]


def test_end_before_begin():
    with pytest.raises(RuntimeError):
        EnergyMonitor(EnergyConfig(gpu_meter="none")).end()
