import os

import pytest

from greenhp.energy import EnergyConfig, EnergyMonitor
from greenhp.energy.rapl import RaplReader


def test_several_wraps_counted(make_powercap):
    pc = make_powercap(sockets=1, dram=True, max_range=1_000_000)   # wraps every 1 J
    r = RaplReader(pc.root)
    assert r.discover()
    pc.set("pkg0", 900_000)
    r.start(thread=False)
    total = 0
    v = 900_000
    for step in [300_000, 450_000, 700_000, 200_000, 950_000, 600_000]:   # 3.2 J, several wraps
        v = (v + step) % 1_000_000
        pc.set("pkg0", v)
        total += step
        r.poll()
    t = r.stop()
    assert t["package_j"] == pytest.approx(total / 1e6)
    assert sum(t["wraps"].values()) == 4


def test_two_sockets_summed_psys_apart_core_not_added(make_powercap):
    pc = make_powercap(sockets=2, dram=True, psys=True, core=True)
    r = RaplReader(pc.root)
    assert r.discover()
    r.start(thread=False)
    pc.set("pkg0", 5_000_000)
    pc.set("pkg1", 3_000_000)
    pc.set("core0", 4_000_000)
    pc.set("uncore1", 1_000_000)
    pc.set("dram0", 1_000_000)
    pc.set("dram1", 500_000)
    pc.set("psys", 20_000_000)
    t = r.stop()
    assert t["package_j"] == pytest.approx(8.0)
    assert t["dram_j"] == pytest.approx(1.5)
    assert t["psys_j"] == pytest.approx(20.0)
    assert t["sockets"] == [0, 1]
    assert len(t["inner_zones_not_summed"]) == 4


def test_poll_period_bounded(make_powercap):
    r = RaplReader(make_powercap(max_range=262143328850).root)
    assert r.discover()
    assert r.poll_period_s() == 1.0
    r2 = RaplReader(make_powercap(max_range=60_000_000).root)   # 60 J: wraps in 60 ms at 1 kW
    assert r2.discover()
    assert 0.05 <= r2.poll_period_s() < 1.0


def test_missing_root(tmp_path):
    r = RaplReader(str(tmp_path / "nope"))
    assert not r.discover()
    assert r.reason.startswith("RAPL not present") and "missing" in r.reason


def test_permission_denied_injected_opener(make_powercap):
    pc = make_powercap()

    def opener(path):
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return open(path)

    r = RaplReader(pc.root, opener=opener)
    assert not r.discover()
    assert r.reason.startswith("permission denied:") and "energy_uj" in r.reason
    assert "chmod" in r.hint and "root" in r.hint


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not deny reads "
                    "(the injected-opener test covers this path)")
def test_permission_denied_chmod(make_powercap):
    pc = make_powercap()
    os.chmod(pc.energy_file("pkg0"), 0)
    r = RaplReader(pc.root)
    assert not r.discover() and r.reason.startswith("permission denied")


def test_monitor_rapl_with_thread_and_wraps(make_powercap):
    pc = make_powercap(sockets=2, dram=True, psys=True, max_range=1_000_000)
    cfg = EnergyConfig(gpu_meter="none", cpu_meter="rapl")
    mon = EnergyMonitor(cfg, powercap_root=pc.root)
    mon.begin()
    rapl = mon.meters.for_domain("cpu").reader
    rapl.poll()
    for k in range(1, 6):
        pc.set("pkg0", (k * 600_000) % 1_000_000)
        pc.set("pkg1", (k * 300_000) % 1_000_000)
        pc.set("dram0", k * 10_000)
        rapl.poll()
    r = mon.end()
    assert r["cpu"]["method"] == "rapl"
    assert r["cpu"]["energy_j"] == pytest.approx(3.0 + 1.5)
    assert r["dram"]["energy_j"] == pytest.approx(0.05)
    assert r["cpu"]["psys_j"] == pytest.approx(0.0)
    assert r["total"]["domains"] == ["cpu", "dram"] and r["total"]["estimated"] is False
    assert r["gpu"]["energy_j"] is None and "gpu_meter: none" in r["gpu"]["reason"]
    assert len(r["environment"]["rapl_zones"]) == 2 * 4 + 1


def test_monitor_rapl_no_dram(make_powercap):
    pc = make_powercap(dram=False)
    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="auto"), powercap_root=pc.root)
    mon.begin()
    pc.set("pkg0", 2_000_000)
    r = mon.end()
    assert r["cpu"]["method"] == "rapl" and r["cpu"]["energy_j"] == pytest.approx(2.0)
    assert r["dram"]["energy_j"] is None and "no dram zone" in r["dram"]["reason"]
    assert r["total"]["domains"] == ["cpu"]


def test_monitor_rapl_forced_but_denied(make_powercap):
    pc = make_powercap()

    def opener(path):
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return open(path)

    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="rapl"), powercap_root=pc.root,
                        rapl_opener=opener)
    mon.begin()
    r = mon.end(cpu_seconds={"main": 3.0})
    assert r["cpu"]["energy_j"] is None and r["cpu"]["method"] == "unavailable"
    assert r["cpu"]["reason"].startswith("permission denied") and "chmod" in r["cpu"]["hint"]
    assert r["total"]["energy_j"] is None


def test_auto_falls_back_to_estimate_when_denied(make_powercap):
    pc = make_powercap()

    def opener(path):
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return open(path)

    mon = EnergyMonitor(EnergyConfig(gpu_meter="none"), powercap_root=pc.root, rapl_opener=opener)
    mon.begin()
    r = mon.end(cpu_seconds={"main": 3.0})
    assert r["cpu"]["method"] == "estimate_cpu_time" and r["cpu"]["energy_j"] == pytest.approx(30.0)
    assert "permission denied" in r["cpu"]["hint"]
    assert r["dram"]["energy_j"] is None and "permission denied" in r["dram"]["reason"]
    assert r["total"]["estimated"] is True
