"""EnergyMonitor: one measured window (GPU, CPU, DRAM, idle baseline, attribution, environment)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Mapping

from .attribution import attribute
from .baseline import gpu_baseline
from .config import EnergyConfig
from .environment import snapshot
from .gpu import GpuDevice
from .meters import GpuMeter, Measurement, MeterSet, Window, open_meters, proc_cpu_seconds, unavailable
from .phases import build as build_phases


def _uuid_hex(uuid: Any) -> str | None:
    """A GPU UUID as 32 lower-case hex digits, whatever its spelling (NVML: ``GPU-0b42632a-...``,
    torch: ``0b42632a-...``); None when it is not one (unknown, a fake, an odd format)."""
    if not uuid:
        return None
    u = str(uuid).strip().lower()
    for prefix in ("gpu-", "mig-"):
        if u.startswith(prefix):
            u = u[len(prefix):]
    h = "".join(ch for ch in u if ch != "-")
    return h if len(h) == 32 and all(ch in "0123456789abcdef" for ch in h) else None


def training_gpu_check(measured_uuid: Any, training: dict[str, Any] | None) -> dict[str, Any]:
    """Is the GPU we measured the GPU the training processes used? ``training`` maps a process
    label to the UUID torch reported for its CUDA device (None where it trained on none or did not say).

    ``verdict`` is "match", "mismatch" or "unknown" (a UUID missing or unreadable on either side)."""
    training = {k: v for k, v in (training or {}).items() if v is not None}
    out = {"verdict": "unknown", "measured_uuid": measured_uuid, "training_uuids": training}
    m = _uuid_hex(measured_uuid)
    seen = {label: _uuid_hex(u) for label, u in training.items()}
    if m is None or not seen or any(h is None for h in seen.values()):
        return out
    other = sorted(label for label, h in seen.items() if h != m)
    out["verdict"] = "mismatch" if other else "match"
    if other:
        out["not_on_measured_gpu"] = other
    return out


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


class EnergyMonitor:
    """Measure one window with the meters the configuration selects (:mod:`greenhp.energy.meters`).
    ``nvml`` and ``pyrapl`` (stand-ins for pynvml and pyRAPL; ``modules`` for any backend library, by
    import name), ``powercap_root``, ``rapl_opener``, ``clock`` and ``sleep`` are injectable for tests;
    ``sync`` (e.g. ``torch.cuda.synchronize``) is called at the window edges when the caller runs GPU
    work in-process."""

    def __init__(self, cfg: EnergyConfig | None = None, gpu_index: int | None = None,
                 timeline_path: str | os.PathLike | None = None, nvml: Any = None,
                 powercap_root: str | None = None, *, sync: Callable[[], Any] | None = None,
                 rapl_opener: Callable[[str], Any] | None = None, pyrapl: Any = None,
                 modules: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.cfg = cfg or EnergyConfig()
        self.gpu_index = gpu_index
        self.timeline_path = timeline_path
        self._modules = {**({"pynvml": nvml} if nvml is not None else {}),
                         **({"pyRAPL": pyrapl} if pyrapl is not None else {}), **(modules or {})}
        self.powercap_root = powercap_root or self.cfg.powercap_root
        self.sync = sync
        self._rapl_opener = rapl_opener
        self.clock = clock
        self.sleep = sleep
        self.tracked: dict[int, str] = {}
        self._labels: list[str] = []
        self._pid_cache: dict[int, str | None] = {}
        self._opened = False
        self._prepared = False
        self._begun = False
        self.flags: list[str] = []
        self.marks: list[dict[str, Any]] = []
        self._mark_lock = threading.Lock()
        self._expect_marks = False
        self._final_cpu: dict[str, float] = {}
        self._last_cpu: dict[str, float] = {}
        self.idle: dict[str, Any] = {"gpu_w": None, "cpu_w": None, "dram_w": None, "seconds": 0.0,
                                     "settle_s": None, "baseline_age_s": None}

    # -- meters -------------------------------------------------------------------------------
    def _open(self) -> None:
        if self._opened:
            return
        self._opened = True
        self.meters: MeterSet = open_meters(
            self.cfg, gpu_index=self.gpu_index, powercap_root=self.powercap_root, rapl_opener=self._rapl_opener,
            modules=self._modules, cpu_seconds=self._tracked_cpu_seconds)
        g = self.meters.for_domain("gpu")
        # the GPU device (settling, idle baseline, status, snapshot) and its meter (per-process use)
        self._gpu_meter: GpuMeter | None = g if isinstance(g, GpuMeter) else None
        self.gpu: GpuDevice | None = g.device if isinstance(g, GpuMeter) else None
        self.gpu_reason: str | None = None if self.gpu is not None else (
            g.reason or f"the GPU meter ({type(g).__name__}) has no GPU device")

    # -- phase marks --------------------------------------------------------------------------
    def expect_marks(self) -> None:
        """The caller's processes send phase marks: ``end()`` then reports phases for every tracked
        label (a process that sent none gets one "whole" phase and a reason)."""
        self._expect_marks = True

    def child_done(self, label: str, cpu_seconds: float) -> None:
        """A tracked process ended (reaped) with this CPU time: later marks of the others use it."""
        self._final_cpu[label] = float(cpu_seconds)

    def _tracked_cpu_seconds(self) -> tuple[float | None, str | None]:
        """CPU seconds of every tracked process now (/proc, or the final value once reaped)."""
        if not self.tracked:
            return None, "no tracked process"
        total = 0.0
        for pid, label in self.tracked.items():
            if label in self._final_cpu:
                total += self._final_cpu[label]
                continue
            v = proc_cpu_seconds(pid)
            if v is None:
                v = self._last_cpu.get(label)
                if v is None:
                    return None, f"CPU time of {label} (pid {pid}) unreadable in /proc"
            self._last_cpu[label] = v
            total += v
        return total, None

    def mark(self, label: str, name: str, **info: Any) -> dict[str, Any] | None:
        """Read every meter now, for the mark ``name`` sent by the tracked process ``label``
        (``info``: epoch, epochs, metric_name, metric, loss, t_child). Returns the stored mark, or
        None outside the window."""
        with self._mark_lock:
            if not self._begun:
                return None
            t = self.clock()
            readings = {d: r.to_dict() for d, r in self.meters.read().items()}
            row = {"label": label, "name": str(name), "t": t, "readings": readings,
                   **{k: v for k, v in info.items() if v is not None}}
            self.marks.append(row)
            return row

    def _phases(self, domains: dict, have: list[str], t_end: float, estimated: bool) -> dict[str, Any]:
        for meter in self.meters:   # e.g. a power integral up to each mark, from all samples
            for m in self.marks:
                better = meter.read_at(m["t"])
                if better is not None:
                    m["readings"].update({d: r.to_dict() for d, r in better.items()})
        out = {}
        for label in self._labels:
            mine = [m for m in self.marks if m["label"] == label]
            out[label] = build_phases(mine, domains, have, self.t_start, t_end, idle=self.idle,
                                      estimated=estimated)
        return out

    # -- idle / settle ------------------------------------------------------------------------
    def prepare(self) -> dict[str, Any]:
        """Wait for the GPU to settle (if settle_timeout_s > 0), then measure idle power for
        idle_seconds (the GPU through its device, CPU/DRAM from the meters that can: RAPL)."""
        self._open()
        cfg = self.cfg
        idle = self.idle
        reasons = {}
        mono = self.clock
        t_prep = mono()
        if self.gpu is None and cfg.settle_timeout_s > 0:
            reasons["settle_reason"] = f"no GPU to settle: {self.gpu_reason}"
        if cfg.idle_seconds > 0:
            idle["seconds"] = cfg.idle_seconds
        if self.gpu is not None and (cfg.settle_timeout_s > 0 or cfg.idle_seconds > 0):
            # settle + idle (or a cached idle of this GPU): the baseline policy, greenhp.energy.baseline
            idle.update(gpu_baseline(self.gpu, cfg, clock=mono, sleep=self.sleep))
        if cfg.idle_seconds > 0:
            if self.gpu is None:
                reasons["gpu_reason"] = f"no GPU idle baseline: {self.gpu_reason}"
            for meter in self.meters:
                if "gpu" in meter.domains:
                    continue
                # the host's idle after the GPU's (1 s), or over the whole window without a GPU
                got = meter.idle_power(min(1.0, cfg.idle_seconds) if self.gpu is not None else cfg.idle_seconds)
                if got is not None:
                    idle.update(got)
                elif "cpu" in meter.domains:
                    reasons["cpu_reason"] = f"no CPU idle baseline: {meter.idle_reason}"
        else:
            reasons["reason"] = "idle_seconds: 0 (no idle baseline)"
        idle.update(reasons)
        idle["prepare_s"] = mono() - t_prep   # this run's fixed cost before its window
        self._prepared = True
        return idle

    # -- window -------------------------------------------------------------------------------
    def begin(self) -> None:
        self._open()
        if not self._prepared and (self.cfg.idle_seconds > 0 or self.cfg.settle_timeout_s > 0):
            self.prepare()
        self._env_start = self.gpu.status() if self.gpu is not None else None
        self._timeline_f = open(self.timeline_path, "w") if (self.timeline_path and self.gpu) else None
        self._sync("begin")
        self.t_start = self.clock()
        # every meter takes its own zero (counters, samplers, CPU time) at the window's start
        self.meters.begin(Window(self.t_start, self.clock, timeline=self._timeline_f, pid_label=self._label_of))
        self.marks = []
        self._begun = True

    def track(self, pid: int, label: str) -> None:
        if label in self._labels:
            raise ValueError(f"label {label!r} already tracked")
        self.tracked[int(pid)] = label
        self._labels.append(label)
        self._pid_cache.clear()

    def _label_of(self, pid: int) -> str | None:
        """Label of a tracked PID or of a descendant of one (walks the parent chain in /proc)."""
        if pid in self.tracked:
            return self.tracked[pid]
        if pid in self._pid_cache:
            return self._pid_cache[pid]
        p, hops, lab = pid, 0, None
        while p and p > 1 and hops < 32:
            p = _ppid(p)
            hops += 1
            if p in self.tracked:
                lab = self.tracked[p]
                break
        self._pid_cache[pid] = lab
        return lab

    def _sync(self, where: str) -> None:
        if self.sync is None:
            return
        try:
            self.sync()
        except Exception as e:
            self.flags.append(f"sync at {where} failed: {type(e).__name__}: {e}")

    def end(self, cpu_seconds: dict[str, float] | None = None,
            training_gpus: dict[str, Any] | None = None) -> dict[str, Any]:
        """Close the window. ``training_gpus`` (label -> the CUDA device UUID each training process
        reported) lets the monitor check that the GPU it measured is the one that trained: on a
        mismatch the GPU energy is recorded as unavailable, with the other GPU's reading kept apart."""
        if not self._begun:
            raise RuntimeError("EnergyMonitor.end() called before begin()")
        with self._mark_lock:
            self._begun = False
        self._sync("end")
        t_end = self.clock()
        measured = self.meters.end(t_end, cpu_seconds)   # every meter closes its own window
        if self._timeline_f is not None:
            self._timeline_f.close()
        dur = t_end - self.t_start

        env = snapshot(self.gpu, self.gpu_reason, self.meters.environment())
        gpu = self._checked_gpu(measured["gpu"], env, training_gpus)
        cpu, dram = measured["cpu"].to_record(), measured["dram"].to_record()

        domains = {"gpu": gpu, "cpu": cpu, "dram": dram}
        have = [k for k, v in domains.items() if v.get("energy_j") is not None]
        total = {"energy_j": sum(domains[k]["energy_j"] for k in have) if have else None,
                 "domains": have,
                 "estimated": any(domains[k].get("estimated", False) for k in have)}
        if not have:
            total["reason"] = "no domain could be measured"

        net = self._net(gpu, cpu, dram, have, dur)
        attribution = self._attribution(gpu, cpu, dram, dur, cpu_seconds)
        if self.gpu is not None:
            env["gpu"]["status_start"] = self._env_start
            env["gpu"]["status_end"] = self.gpu.status()
        result = {
            "window": {"start_unix": self.t_start, "end_unix": t_end, "duration_s": dur},
            "gpu": gpu, "cpu": cpu, "dram": dram, "total": total,
            "idle": dict(self.idle), "net": net, "attribution": attribution,
            "environment": env, "config": self.cfg.to_dict(),
        }
        if self._expect_marks or self.marks:
            result["phases"] = self._phases(domains, have, t_end, total["estimated"])
        if self.flags:
            result["flags"] = list(self.flags)
        return result

    def close(self) -> None:
        if self._opened:
            self.meters.close()

    # -- whole-window checks and shares -------------------------------------------------------
    def _checked_gpu(self, gpu: Measurement, env: dict[str, Any], training_gpus: dict[str, Any] | None
                     ) -> dict[str, Any]:
        """The GPU's record, unless the training processes say they used another GPU: then unavailable,
        with the measured GPU's reading kept apart (``other_gpu_j``)."""
        rec = gpu.to_record()
        if self.gpu is None or training_gpus is None:
            return rec
        check = training_gpu_check(env["gpu"].get("uuid"), training_gpus)
        if check["verdict"] == "mismatch":
            rec = unavailable(
                "gpu",
                f"the measured GPU ({check['measured_uuid']}) is not the GPU that "
                f"{', '.join(check['not_on_measured_gpu'])} trained on "
                f"({', '.join(str(check['training_uuids'][k]) for k in check['not_on_measured_gpu'])}); "
                f"its reading is kept as other_gpu_j, not counted",
                hint="make the GPU index given to the wrapper (or the first CUDA_VISIBLE_DEVICES entry) "
                     "name the GPU the training uses, e.g. by its UUID; see docs/cluster.md",
                other_gpu_j=rec.get("energy_j"), other_gpu_method=rec.get("method"),
                gpu_index=rec.get("gpu_index")).to_record()
        rec["training_gpu"] = check
        return rec

    def _attribution(self, gpu: dict, cpu: dict, dram: dict, dur: float,
                     cpu_seconds: dict[str, float] | None) -> dict[str, Any] | None:
        """Each tracked process's share (pair mode): the GPU's by its SM utilisation, CPU/DRAM by CPU time."""
        util, supported = self._gpu_meter.process_util() if self._gpu_meter is not None else ({}, None)
        attribution = attribute(self._labels, gpu.get("energy_j"), self.idle.get("gpu_w"), dur, util,
                                cpu.get("energy_j"), dram.get("energy_j"), cpu_seconds or {})
        if attribution is not None and supported is False:
            for v in attribution.values():
                v.setdefault("notes", []).append(f"{self.gpu.process_util_api} not supported on this GPU")
        return attribution

    def _net(self, gpu, cpu, dram, have, dur) -> dict[str, Any]:
        idle = self.idle
        net: dict[str, Any] = {}
        reasons = {}
        for dom, d, w in (("gpu", gpu, idle.get("gpu_w")), ("cpu", cpu, idle.get("cpu_w")),
                          ("dram", dram, idle.get("dram_w"))):
            e = d.get("energy_j")
            if e is None:
                net[f"{dom}_j"] = None
            elif d.get("method") == "estimate_cpu_time":
                net[f"{dom}_j"] = e      # the estimate only counts the process's CPU time: no idle part
                reasons[dom] = "estimate has no idle part: net = gross (estimated)"
            elif w is None:
                net[f"{dom}_j"] = None
                reasons[dom] = "no idle baseline for this domain"
            else:
                net[f"{dom}_j"] = e - w * dur
        parts = [net[f"{k}_j"] for k in have]
        net["total_j"] = sum(parts) if have and all(p is not None for p in parts) else None
        net["estimated"] = cpu.get("method") == "estimate_cpu_time" and "cpu" in have
        if reasons:
            net["reasons"] = reasons
        return net
