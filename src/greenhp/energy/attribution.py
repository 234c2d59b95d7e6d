"""Per-process estimate for processes sharing one GPU (pair mode).

NVML has no per-process energy. Following Kepler / experiment-impact-tracker:
  active = device energy - idle_w x duration, split by each process's time-integrated SM utilisation;
  idle part (idle_w x duration) split evenly; so the shares sum to the device total exactly.
CPU (and DRAM) energy split by the CPU seconds of each process. Always ``estimated: true``.
"""

from __future__ import annotations

from typing import Any

GPU_METHOD = "sm_util_integral_split"


def attribute(labels: list[str], gpu_j: float | None, gpu_idle_w: float | None, duration_s: float,
              util_integral: dict[str, float], cpu_j: float | None, dram_j: float | None,
              cpu_seconds: dict[str, float]) -> dict[str, Any] | None:
    if len(labels) < 2:
        return None
    n = len(labels)
    out: dict[str, Any] = {lab: {"estimated": True} for lab in labels}
    notes: list[str] = []

    # GPU
    if gpu_j is None:
        for lab in labels:
            out[lab]["gpu_j"] = None
        gpu_method = "unavailable"
    else:
        idle_j = 0.0
        if gpu_idle_w is None:
            notes.append("no idle baseline: the whole GPU energy is split by SM utilisation")
        else:
            idle_j = min(gpu_idle_w * duration_s, gpu_j)
            if gpu_idle_w * duration_s > gpu_j:
                notes.append("idle x duration exceeds device energy: active part clamped to 0")
        active_j = gpu_j - idle_j
        u = {lab: max(0.0, util_integral.get(lab, 0.0)) for lab in labels}
        total_u = sum(u.values())
        if total_u > 0:
            gpu_method = GPU_METHOD
            w = {lab: u[lab] / total_u for lab in labels}
        else:
            gpu_method = "even_split_no_util_samples"
            notes.append("no per-process SM utilisation samples: active energy split evenly")
            w = {lab: 1.0 / n for lab in labels}
        untracked = util_integral.get("untracked", 0.0)
        if untracked > 0:
            notes.append(f"untracked processes used the GPU ({untracked:.1f} %·s of SM time); "
                         "their share is given to the tracked processes")
        for lab in labels:
            out[lab]["gpu_j"] = active_j * w[lab] + idle_j / n
            out[lab]["gpu_active_j"] = active_j * w[lab]
            out[lab]["gpu_idle_share_j"] = idle_j / n
            out[lab]["sm_util_pct_s"] = u[lab]

    # CPU / DRAM by CPU seconds
    s = {lab: max(0.0, float(cpu_seconds.get(lab, 0.0))) for lab in labels}
    total_s = sum(s.values())
    cw = {lab: (s[lab] / total_s if total_s > 0 else 1.0 / n) for lab in labels}
    if total_s <= 0 and (cpu_j is not None or dram_j is not None):
        notes.append("no CPU seconds given: CPU/DRAM energy split evenly")
    for lab in labels:
        out[lab]["cpu_seconds"] = s[lab]
        out[lab]["cpu_j"] = None if cpu_j is None else cpu_j * cw[lab]
        out[lab]["dram_j"] = None if dram_j is None else dram_j * cw[lab]
        parts = [out[lab][k] for k in ("gpu_j", "cpu_j", "dram_j") if out[lab][k] is not None]
        out[lab]["total_j"] = sum(parts) if parts else None
        out[lab]["method"] = f"gpu:{gpu_method}+cpu:cpu_seconds_split"
        if notes:
            out[lab]["notes"] = notes
    return out
