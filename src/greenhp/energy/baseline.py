"""Idle baseline and settling before a measured window.

Idle power depends on recent history (on an H100: 71 W cold, 135-140 W for > 15 s after a heavy
load), so it is measured instead of assumed, after waiting for the GPU to settle: once per GPU and
then reused from a cache while young enough (``gpu_baseline``, below), or before every run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from greenhp.atomic import write_json

from .config import EnergyConfig
from .gpu import GpuDevice

SETTLE_WINDOW_S = 1.0   # mean over the last second ...
SETTLE_LAG_S = 2.0      # ... compared with the mean over the second that ended 2 s earlier


def settle_gpu(dev: GpuDevice, tolerance_w: float, timeout_s: float, hz: float = 10.0,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
               ) -> dict[str, Any]:
    """Wait until GPU power stops drifting: |mean(last 1 s) - mean(1 s ending 2 s before)| <= tol.

    Returns settle_s (time waited), settled (bool), power_w at the end, the criterion.
    """
    period = 1.0 / hz
    t0 = clock()
    samples: list[tuple[float, float]] = []
    criterion = (f"|mean power of last {SETTLE_WINDOW_S:g} s - mean of the {SETTLE_WINDOW_S:g} s ending "
                 f"{SETTLE_LAG_S:g} s earlier| <= {tolerance_w:g} W")
    while True:
        now = clock()
        p = dev.power_w()
        if p is not None:
            samples.append((now, p))
        el = now - t0
        if el >= SETTLE_WINDOW_S + SETTLE_LAG_S and _steady(samples, now, tolerance_w):
            return {"settle_s": el, "settled": True, "settle_power_w": _mean(samples, now - SETTLE_WINDOW_S, now),
                    "settle_criterion": criterion}
        if el >= timeout_s:
            return {"settle_s": el, "settled": False, "settle_power_w": _mean(samples, now - SETTLE_WINDOW_S, now),
                    "settle_criterion": criterion, "settle_flag": f"not settled within {timeout_s:g} s"}
        sleep(period)


def idle_gpu(dev: GpuDevice, seconds: float, hz: float = 10.0, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Idle GPU power over ``seconds``: from the energy counter if there is one, else mean sampled power."""
    period = 1.0 / hz
    t0 = clock()
    e0 = dev.energy_mj() if dev.has_counter else None
    powers = []
    while True:
        p = dev.power_w()
        if p is not None:
            powers.append(p)
        if clock() - t0 >= seconds:
            break
        sleep(period)
    e1 = dev.energy_mj() if e0 is not None else None
    dt = clock() - t0
    mean_p = sum(powers) / len(powers) if powers else None
    if e0 is not None and e1 is not None and dt > 0 and e1 > e0:
        return {"gpu_w": (e1 - e0) / 1000.0 / dt, "gpu_method": dev.counter_method, "gpu_sampled_mean_w": mean_p}
    if mean_p is not None:
        return {"gpu_w": mean_p, "gpu_method": dev.power_mean_method, "gpu_sampled_mean_w": mean_p}
    return {"gpu_w": None, "gpu_method": "unavailable", "gpu_reason": "no power readings during idle window"}


# -- baseline policy: one idle measurement per GPU, cached with its age -----------------------------
#
# Measuring idle power before every run costs idle_seconds plus a settle wait per run (the reference
# study slept a fixed 60 s before each of its 800 runs). Idle power is a fact about a GPU at a time,
# so it is measured once per GPU UUID, kept in a small JSON file with the time it was taken, and
# reused while it is younger than ``baseline_max_age_s``. Before each run the GPU is only waited for
# until its power is back within ``settle_tolerance_w`` of that idle (at most ``settle_timeout_s``).
# It is measured again when the entry is stale, or when a quick reading has drifted: power steady at
# a level more than ``baseline_drift_w`` below the cached idle (the cache is too high), or still
# more than that away when the settle timeout ends while steady (the idle itself has moved).

CACHE_VERSION = 1
QUICK_WINDOW_S = 1.0    # a quick idle reading: mean power over the last second


class BaselineCache:
    """A JSON file ``{"version": 1, "gpus": {uuid: entry}}`` shared by the jobs of a study.

    Readers and writers take an exclusive ``fcntl.flock`` on ``<path>.lock`` around each
    read-modify-write, and the file is replaced atomically, so concurrent jobs (one per GPU) never
    lose each other's entries or read half a file. The lock is not held while measuring.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).resolve()
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)   # closing drops the lock

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.path) as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}      # unreadable or half-written by something else: measured again, then rewritten
        gpus = data.get("gpus") if isinstance(data, dict) and data.get("version") == CACHE_VERSION else None
        return gpus if isinstance(gpus, dict) else {}

    def get(self, uuid: str) -> dict[str, Any] | None:
        with self._locked():
            e = self._read().get(uuid)
        if not isinstance(e, dict) or not isinstance(e.get("gpu_w"), (int, float)) \
                or not isinstance(e.get("measured_unix"), (int, float)):
            return None
        return e

    def put(self, uuid: str, entry: dict[str, Any]) -> None:
        with self._locked():
            gpus = self._read()
            gpus[uuid] = entry
            write_json(self.path, {"version": CACHE_VERSION, "gpus": gpus})


def gpu_uuid(dev: GpuDevice) -> str | None:
    try:
        u = dev.info().get("uuid")
    except Exception:
        return None
    return str(u) if u else None


def _mean(samples: list[tuple[float, float]], lo: float, hi: float) -> float | None:
    xs = [w for t, w in samples if lo < t <= hi]
    return sum(xs) / len(xs) if xs else None


def _steady(samples: list[tuple[float, float]], now: float, tolerance_w: float) -> bool | None:
    """The settle criterion at ``now``: |mean of the last SETTLE_WINDOW_S - mean of the window that
    ended SETTLE_LAG_S earlier| <= tolerance; None when a window holds no sample."""
    prev = _mean(samples, now - SETTLE_LAG_S - SETTLE_WINDOW_S, now - SETTLE_LAG_S)
    cur = _mean(samples, now - SETTLE_WINDOW_S, now)
    return None if cur is None or prev is None else abs(cur - prev) <= tolerance_w


def settle_to(dev: GpuDevice, target_w: float, tolerance_w: float, drift_w: float, timeout_s: float,
              hz: float = 10.0, clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Wait until the mean power of the last second is within ``tolerance_w`` of ``target_w`` (a
    cached idle), for at most ``max(timeout_s, 1 s)``; one second is the quick idle reading.

    ``drift`` is True when the idle itself seems to have moved: power steady (the settle_gpu
    criterion) at more than ``drift_w`` below the target (stops at once), or more than ``drift_w``
    away from it when the time is up (steady, or too short a wait to tell).
    """
    period = 1.0 / hz
    limit = max(timeout_s, QUICK_WINDOW_S)
    t0 = clock()
    samples: list[tuple[float, float]] = []
    criterion = (f"|mean power of the last {QUICK_WINDOW_S:g} s - cached idle {target_w:.1f} W| "
                 f"<= {tolerance_w:g} W")
    while True:
        now = clock()
        p = dev.power_w()
        if p is not None:
            samples.append((now, p))
        el = now - t0
        m = _mean(samples, now - QUICK_WINDOW_S, now) if el >= QUICK_WINDOW_S - 1e-9 else None
        steady = None
        if el >= SETTLE_WINDOW_S + SETTLE_LAG_S:
            steady = bool(_steady(samples, now, tolerance_w))
        out = {"settle_s": el, "settle_power_w": m, "settle_criterion": criterion}
        if m is not None and abs(m - target_w) <= tolerance_w:
            return {**out, "settled": True, "drift": False}
        if m is not None and steady and m < target_w - drift_w:
            return {**out, "settled": False, "drift": True,
                    "drift_reason": f"power steady at {m:.1f} W, more than {drift_w:g} W below the cached idle"}
        if el >= limit - 1e-9:
            if m is not None and abs(m - target_w) > drift_w and steady is not False:
                return {**out, "settled": False, "drift": True,
                        "drift_reason": f"power {m:.1f} W after {el:.1f} s, more than {drift_w:g} W from the "
                                        f"cached idle" + (", and steady" if steady else "")}
            return {**out, "settled": False, "drift": False,
                    "settle_flag": f"not within {tolerance_w:g} W of the cached idle within {limit:g} s"}
        sleep(period)


def gpu_baseline(dev: GpuDevice, cfg: EnergyConfig, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Settle and idle baseline of one GPU before a run, by the baseline policy of ``cfg`` (an
    EnergyConfig). Returns the keys of the record's ``idle`` mapping: gpu_w (and how it was
    measured), settle_s / settled / settle_criterion, ``baseline_age_s`` (age of the idle used, 0
    when measured for this run), ``baseline_s`` (time spent measuring it in this run), and
    ``baseline`` saying where it came from and why.

    ``clock`` must be wall time (time.time) for ages to mean anything across processes.
    """
    t_start = clock()
    hz_settle = max(cfg.sample_hz, 5.0)
    uuid = gpu_uuid(dev) if cfg.idle_seconds > 0 else None
    cache = BaselineCache(cfg.baseline_cache) if cfg.idle_seconds > 0 and cfg.baseline_max_age_s > 0 and uuid \
        else None
    info: dict[str, Any] = {"uuid": uuid, "max_age_s": cfg.baseline_max_age_s,
                            "cache": str(cache.path) if cache else None}
    out: dict[str, Any] = {}
    entry = cache.get(uuid) if cache else None
    if cfg.idle_seconds <= 0:
        why = None
    elif cache is None:
        why = ("baseline_max_age_s: 0 (measured before every run)" if cfg.baseline_max_age_s <= 0
               else "GPU has no UUID to cache its baseline under (measured before every run)")
    elif entry is None:
        why = "no cached baseline for this GPU"
    else:
        age = t_start - float(entry["measured_unix"])
        if age > cfg.baseline_max_age_s or age < 0:
            why = f"cached baseline stale ({age:.0f} s old, max {cfg.baseline_max_age_s:g} s)"
        else:
            s = settle_to(dev, float(entry["gpu_w"]), cfg.settle_tolerance_w, cfg.baseline_drift_w,
                          cfg.settle_timeout_s, hz=hz_settle, clock=clock, sleep=sleep)
            drift = s.pop("drift")
            why = f"drift: {s.pop('drift_reason')}" if drift else None
            out.update(s)
            if not drift:
                out.update({"gpu_w": float(entry["gpu_w"]), "gpu_method": entry.get("gpu_method"),
                            "seconds": entry.get("idle_seconds"), "baseline_s": 0.0,
                            "baseline_age_s": clock() - float(entry["measured_unix"]),
                            "baseline": {**info, "source": "cache",
                                         "measured_unix": entry["measured_unix"]}})
                return out
    if why is None or not why.startswith("drift"):
        if cfg.settle_timeout_s > 0:   # steady, not a target: there is no idle to aim at yet
            out.update(settle_gpu(dev, cfg.settle_tolerance_w, cfg.settle_timeout_s, hz=hz_settle,
                                  clock=clock, sleep=sleep))
    if cfg.idle_seconds <= 0:
        return out
    t0 = clock()
    g = idle_gpu(dev, cfg.idle_seconds, hz=cfg.sample_hz, clock=clock, sleep=sleep)
    t1 = clock()
    out.update(g)
    out.update({"seconds": cfg.idle_seconds, "baseline_s": t1 - t0, "baseline_age_s": 0.0,
                "baseline": {**info, "source": "measured", "why": why, "measured_unix": t1}})
    if cache is not None and g.get("gpu_w") is not None:
        cache.put(uuid, {"gpu_w": g["gpu_w"], "gpu_method": g["gpu_method"], "measured_unix": t1,
                         "idle_seconds": cfg.idle_seconds, "gpu_sampled_mean_w": g.get("gpu_sampled_mean_w"),
                         "why": why})
    return out
