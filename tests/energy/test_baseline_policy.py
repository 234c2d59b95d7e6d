"""The baseline policy (greenhp.energy.baseline.gpu_baseline) against the fake NVML and a fake clock:
one idle measurement per GPU UUID, reused while young, re-measured when stale or drifted; settling
toward the cached idle stops at the tolerance or at the timeout; records carry age and settle time."""

import json
import math
import multiprocessing
import time

import pytest

from greenhp.energy import EnergyConfig, EnergyMonitor
from greenhp.energy.baseline import BaselineCache, gpu_baseline
from greenhp.energy.nvml import NvmlDevice


def cfg(tmp_path, **kw):
    d = dict(idle_seconds=2.0, settle_timeout_s=10.0, settle_tolerance_w=5.0, baseline_max_age_s=100.0,
             baseline_drift_w=10.0, baseline_cache=str(tmp_path / "cache" / "gpu_baselines.json"))
    d.update(kw)
    return EnergyConfig(**d)


class Power:
    """Settable GPU power: ``level`` W, or a decay from ``start`` W toward ``level`` from ``t0``."""

    def __init__(self, level):
        self.level, self.start, self.t0, self.tau = level, None, 0.0, 3.0

    def decay(self, start, t0, tau=3.0):
        self.start, self.t0, self.tau = start, t0, tau

    def __call__(self, t):
        if self.start is None or t < self.t0:
            return self.level
        return self.level + (self.start - self.level) * math.exp(-(t - self.t0) / self.tau)


@pytest.fixture
def gpu(make_nvml, fake_clock):
    power = Power(71.0)
    dev, reason = NvmlDevice.open(make_nvml(power=power, clock=fake_clock, uuid="GPU-aaaa"), 0)
    assert dev is not None, reason
    return dev, power


def base(dev, c, clock):
    return gpu_baseline(dev, c, clock=clock, sleep=clock.sleep)


def test_measured_once_reused_while_young_then_remeasured_when_stale(gpu, fake_clock, tmp_path):
    dev, power = gpu
    c = cfg(tmp_path)
    first = base(dev, c, fake_clock)
    assert first["baseline"]["source"] == "measured" and first["baseline"]["why"] == "no cached baseline for this GPU"
    assert first["gpu_w"] == pytest.approx(71.0, rel=0.06) and first["baseline_age_s"] == 0.0
    assert first["baseline_s"] == pytest.approx(2.0, abs=0.2)
    entry = json.loads((tmp_path / "cache" / "gpu_baselines.json").read_text())["gpus"]["GPU-aaaa"]
    assert entry["gpu_w"] == first["gpu_w"] and entry["measured_unix"] == first["baseline"]["measured_unix"]

    fake_clock.sleep(50.0)
    power.level = 73.0                      # within tolerance of the cached 71 W: no new measurement
    again = base(dev, c, fake_clock)
    assert again["baseline"]["source"] == "cache" and again["gpu_w"] == first["gpu_w"]
    assert again["baseline_s"] == 0.0 and again["settled"] is True
    assert again["settle_s"] == pytest.approx(1.0, abs=0.15)        # one quick idle reading
    assert 50.0 < again["baseline_age_s"] < 52.0

    fake_clock.sleep(60.0)                  # now 111 s old > 100 s
    stale = base(dev, c, fake_clock)
    assert stale["baseline"]["source"] == "measured" and "stale" in stale["baseline"]["why"]
    assert stale["gpu_w"] == pytest.approx(73.0, rel=0.06) and stale["baseline_age_s"] == 0.0


def test_max_age_zero_measures_every_run_and_writes_no_file(gpu, fake_clock, tmp_path):
    dev, _ = gpu
    c = cfg(tmp_path, baseline_max_age_s=0.0)
    for _ in range(2):
        r = base(dev, c, fake_clock)
        assert r["baseline"]["source"] == "measured" and "baseline_max_age_s: 0" in r["baseline"]["why"]
    assert not (tmp_path / "cache").exists()


def test_remeasured_on_drift_below_without_waiting_for_the_timeout(gpu, fake_clock, tmp_path):
    dev, power = gpu
    c = cfg(tmp_path, settle_timeout_s=60.0)
    base(dev, c, fake_clock)
    power.level = 45.0                      # the GPU idles far lower than the cached 71 W
    r = base(dev, c, fake_clock)
    assert r["baseline"]["source"] == "measured" and r["baseline"]["why"].startswith("drift:")
    assert r["gpu_w"] == pytest.approx(45.0, rel=0.06)
    assert r["settle_s"] < 4.0              # steady after 3 s, not the 60 s timeout
    assert BaselineCache(c.baseline_cache).get("GPU-aaaa")["gpu_w"] == r["gpu_w"]


def test_remeasured_on_drift_above_when_steady_at_the_timeout(gpu, fake_clock, tmp_path):
    dev, power = gpu
    c = cfg(tmp_path, settle_timeout_s=5.0)
    base(dev, c, fake_clock)
    power.level = 120.0                     # steady 49 W above the cached idle until the timeout
    r = base(dev, c, fake_clock)
    assert r["baseline"]["source"] == "measured" and "steady" in r["baseline"]["why"]
    assert r["settle_s"] == pytest.approx(5.0, abs=0.15)
    assert r["gpu_w"] == pytest.approx(120.0, rel=0.06)


def test_small_offset_is_not_drift(gpu, fake_clock, tmp_path):
    dev, power = gpu
    c = cfg(tmp_path, settle_timeout_s=3.0)
    base(dev, c, fake_clock)
    power.level = 78.0                      # 7 W off: beyond the 5 W tolerance, within the 10 W drift
    r = base(dev, c, fake_clock)
    assert r["baseline"]["source"] == "cache" and r["settled"] is False and "settle_flag" in r
    assert r["settle_s"] == pytest.approx(3.0, abs=0.15)


def test_settle_stops_at_tolerance_of_the_cached_idle(gpu, fake_clock, tmp_path):
    dev, power = gpu
    c = cfg(tmp_path, settle_timeout_s=60.0)
    base(dev, c, fake_clock)
    power.decay(140.0, fake_clock())        # after a load: 140 W decaying to 71 W, tau 3 s
    r = base(dev, c, fake_clock)
    # the 1 s mean is within 5 W of 71 W once 69 exp(-t/3) averages under 5 W: about 8.5 s
    assert r["settled"] is True and r["baseline"]["source"] == "cache"
    assert 7.0 < r["settle_s"] < 10.5
    assert abs(r["settle_power_w"] - 71.0) <= 5.0


def test_settle_stops_at_timeout_and_keeps_the_cached_idle_while_still_falling(gpu, fake_clock, tmp_path):
    dev, power = gpu
    c = cfg(tmp_path, settle_timeout_s=4.0)
    base(dev, c, fake_clock)
    power.decay(140.0, fake_clock(), tau=10.0)   # still falling ~9 W per 2 s: not steady, so not drift
    r = base(dev, c, fake_clock)
    assert r["settled"] is False and r["settle_s"] == pytest.approx(4.0, abs=0.15)
    assert r["baseline"]["source"] == "cache" and "within 4 s" in r["settle_flag"]
    assert r["gpu_w"] == pytest.approx(71.0, rel=0.06)


def test_one_entry_per_uuid(make_nvml, fake_clock, tmp_path):
    c = cfg(tmp_path)
    for uuid, w in (("GPU-aaaa", 71.0), ("GPU-bbbb", 90.0)):
        dev, _ = NvmlDevice.open(make_nvml(power=lambda t, w=w: w, clock=fake_clock, uuid=uuid), 0)
        r = base(dev, c, fake_clock)
        assert r["baseline"]["source"] == "measured"
    cache = BaselineCache(c.baseline_cache)
    assert cache.get("GPU-aaaa")["gpu_w"] == pytest.approx(71.0, rel=0.06)
    assert cache.get("GPU-bbbb")["gpu_w"] == pytest.approx(90.0, rel=0.06)


def test_unreadable_cache_is_measured_again_and_rewritten(gpu, fake_clock, tmp_path):
    dev, _ = gpu
    c = cfg(tmp_path)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "gpu_baselines.json").write_text("{half a fil")
    r = base(dev, c, fake_clock)
    assert r["baseline"]["source"] == "measured"
    assert BaselineCache(c.baseline_cache).get("GPU-aaaa") is not None


def _put_many(path, uuid, n):
    cache = BaselineCache(path)
    for i in range(n):
        cache.put(f"{uuid}-{i}", {"gpu_w": 70.0 + i, "measured_unix": time.time()})


def test_concurrent_writers_lose_no_entry(tmp_path):
    path = str(tmp_path / "c.json")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_put_many, args=(path, f"GPU-{k}", 15)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    gpus = json.loads((tmp_path / "c.json").read_text())["gpus"]
    assert len(gpus) == 60


@pytest.mark.parametrize("d, word", [
    ({"baseline_max_age_s": -1}, "baseline_max_age_s"),
    ({"baseline_drift_w": 0}, "baseline_drift_w"),
    ({"baseline_cache": ""}, "baseline_cache"),
    ({"baseline_cache": 3}, "baseline_cache"),
])
def test_bad_baseline_keys_name_the_key(d, word):
    with pytest.raises(ValueError, match=word):
        EnergyConfig.from_dict(d)


def test_records_carry_baseline_age_and_settle_time(make_nvml, tmp_path):
    c = cfg(tmp_path, idle_seconds=0.2, settle_timeout_s=1.5, sample_hz=50, cpu_meter="estimate")
    records = []
    for _ in range(2):
        mon = EnergyMonitor(c, nvml=make_nvml(power=lambda t: 100.0, uuid="GPU-cccc"))
        mon.begin()
        time.sleep(0.2)
        records.append(mon.end(cpu_seconds={"main": 0.1}))
        mon.close()
    first, second = (r["idle"] for r in records)
    assert first["baseline"]["source"] == "measured" and first["baseline_age_s"] == 0.0
    assert first["settle_s"] is not None and first["prepare_s"] >= first["settle_s"] + first["baseline_s"] - 0.05
    assert second["baseline"]["source"] == "cache" and second["baseline_s"] == 0.0
    assert second["baseline_age_s"] > 0.2 and second["settle_s"] == pytest.approx(1.0, abs=0.3)
    assert second["gpu_w"] == first["gpu_w"]
    d = records[1]["window"]["duration_s"]
    assert records[1]["net"]["gpu_j"] == pytest.approx(records[1]["gpu"]["energy_j"] - second["gpu_w"] * d)
