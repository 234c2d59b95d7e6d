"""Idle baseline and settling before a measured window.

Idle power depends on recent history (on an H100: 71 W cold, 135-140 W for > 15 s after a heavy
load), so it is measured before every run instead of assumed, after waiting for the GPU to settle.
"""

from __future__ import annotations

import time
from typing import Any, Callable

SETTLE_WINDOW_S = 1.0   # mean over the last second ...
SETTLE_LAG_S = 2.0      # ... compared with the mean over the second that ended 2 s earlier


def settle_gpu(dev: Any, tolerance_w: float, timeout_s: float, hz: float = 10.0,
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
        if el >= SETTLE_WINDOW_S + SETTLE_LAG_S:
            cur = [w for t, w in samples if t > now - SETTLE_WINDOW_S]
            prev = [w for t, w in samples if now - SETTLE_LAG_S - SETTLE_WINDOW_S < t <= now - SETTLE_LAG_S]
            if cur and prev:
                mc, mp = sum(cur) / len(cur), sum(prev) / len(prev)
                if abs(mc - mp) <= tolerance_w:
                    return {"settle_s": el, "settled": True, "settle_power_w": mc, "settle_criterion": criterion}
        if el >= timeout_s:
            cur = [w for t, w in samples if t > now - SETTLE_WINDOW_S]
            return {"settle_s": el, "settled": False, "settle_power_w": (sum(cur) / len(cur)) if cur else None,
                    "settle_criterion": criterion, "settle_flag": f"not settled within {timeout_s:g} s"}
        sleep(period)


def idle_gpu(dev: Any, seconds: float, hz: float = 10.0, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Idle GPU power over ``seconds``: from the energy counter if there is one, else mean sampled power."""
    period = 1.0 / hz
    t0 = clock()
    e0 = dev.energy_mj() if getattr(dev, "has_counter", False) else None
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
        return {"gpu_w": (e1 - e0) / 1000.0 / dt, "gpu_method": "nvml_counter", "gpu_sampled_mean_w": mean_p}
    if mean_p is not None:
        return {"gpu_w": mean_p, "gpu_method": "nvml_power_mean", "gpu_sampled_mean_w": mean_p}
    return {"gpu_w": None, "gpu_method": "unavailable", "gpu_reason": "no power readings during idle window"}
