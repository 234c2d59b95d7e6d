"""EnergyMonitor: one measured window (GPU, CPU, DRAM, idle baseline, attribution, environment)."""

from __future__ import annotations

import os
import resource
import threading
import time
from typing import Any, Callable

from .attribution import attribute
from .baseline import gpu_baseline
from .config import EnergyConfig
from .environment import snapshot
from .meters import Meters, NvmlCounterMeter, NvmlPowerIntegralMeter, open_meters, proc_cpu_seconds
from .nvml import NvmlDevice
from .phases import build as build_phases
from .pyrapl_backend import PyRaplBackend
from .rapl import RaplReader, default_opener
from .sampler import GpuSampler

SHORT_WINDOW_S = 1.0
MIN_COUNTER_UPDATES = 10


def _unavailable(reason: str, hint: str | None = None, **extra) -> dict[str, Any]:
    d = {"energy_j": None, "method": "unavailable", "reason": reason}
    if hint is not None:
        d["hint"] = hint
    d.update(extra)
    return d


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


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


class EnergyMonitor:
    """Measure one window. ``nvml``, ``powercap_root``, ``rapl_opener``, ``pyrapl``, ``clock`` and
    ``sleep`` are injectable for tests; ``sync`` (e.g. ``torch.cuda.synchronize``) is called at the
    window edges when the caller runs GPU work in-process."""

    def __init__(self, cfg: EnergyConfig | None = None, gpu_index: int | None = None,
                 timeline_path: str | os.PathLike | None = None, nvml: Any = None,
                 powercap_root: str | None = None, *, sync: Callable[[], Any] | None = None,
                 rapl_opener: Callable[[str], Any] = default_opener, pyrapl: Any = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.cfg = cfg or EnergyConfig()
        self.gpu_index = gpu_index
        self.timeline_path = timeline_path
        self._nvml = nvml
        self.powercap_root = powercap_root or self.cfg.powercap_root
        self.sync = sync
        self._rapl_opener = rapl_opener
        self._pyrapl_mod = pyrapl
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
        cfg = self.cfg
        m = open_meters(cfg, nvml=self._nvml, gpu_index=self.gpu_index, powercap_root=self.powercap_root,
                        rapl_opener=self._rapl_opener, pyrapl=self._pyrapl_mod,
                        sampler=lambda: getattr(self, "sampler", None), clock=self.clock,
                        cpu_seconds=self._tracked_cpu_seconds)
        self.meters: Meters = m
        self.gpu: NvmlDevice | None = m.device
        self.gpu_reason: str | None = m.gpu_reason
        self.rapl: RaplReader | None = m.rapl
        self.pyrapl: PyRaplBackend | None = m.pyrapl
        self.cpu_mode = m.cpu_mode
        self.cpu_reason: str | None = m.cpu_reason
        self.cpu_hint: str | None = m.cpu_hint
        self.dram_reason: str | None = m.dram_reason
        self._rapl_env_zones: list = m.rapl_env_zones
        self._rapl_env_reason: str | None = m.rapl_env_reason

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
            readings = {d: meter.read().to_dict() for d, meter in self.meters.by_domain().items()}
            row = {"label": label, "name": str(name), "t": t, "readings": readings,
                   **{k: v for k, v in info.items() if v is not None}}
            self.marks.append(row)
            return row

    def _phases(self, domains: dict, have: list[str], t_end: float, estimated: bool) -> dict[str, Any]:
        if isinstance(self.meters.gpu, NvmlPowerIntegralMeter) and self.sampler is not None:
            for m in self.marks:   # the integral up to each mark, from all samples (edges interpolated)
                m["readings"]["gpu"] = self.meters.gpu.read(at=m["t"]).to_dict()
        out = {}
        for label in self._labels:
            mine = [m for m in self.marks if m["label"] == label]
            out[label] = build_phases(mine, domains, have, self.t_start, t_end, idle=self.idle,
                                      estimated=estimated)
        return out

    # -- idle / settle ------------------------------------------------------------------------
    def prepare(self) -> dict[str, Any]:
        """Wait for the GPU to settle (if settle_timeout_s > 0), then measure idle power for
        idle_seconds (GPU from NVML, CPU/DRAM from RAPL if readable)."""
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
            if self.rapl is not None:
                # RAPL idle after the GPU's (1 s), or over the whole window without a GPU
                w = self.rapl.instant_power_w(min(1.0, cfg.idle_seconds) if self.gpu is not None else cfg.idle_seconds)
                idle["cpu_w"], idle["dram_w"] = w.get("package"), w.get("dram")
                idle["cpu_method"] = "rapl"
            else:
                reasons["cpu_reason"] = ("no CPU idle baseline: "
                                         + (self.cpu_reason or self._rapl_env_reason or f"cpu meter is {self.cpu_mode}"))
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
        self.sampler = None
        if self.gpu is not None:
            self.sampler = GpuSampler(self.gpu, hz=self.cfg.sample_hz, timeline=self._timeline_f,
                                      clock=self.clock, pid_label=self._label_of)
        self._sync("begin")
        self._cpu0 = _children_cpu_s()
        self.t_start = self.clock()
        self._e0 = self.gpu.energy_mj() if self.gpu is not None and self.gpu.has_counter else None
        if isinstance(self.meters.gpu, NvmlCounterMeter):
            self.meters.gpu.zero_mj = self._e0
        if self.sampler is not None:
            self.sampler.start()
        if self.rapl is not None:
            self.rapl.start()
        if self.pyrapl is not None:
            self.pyrapl.start()
        for meter in self.meters.by_domain().values():
            meter.start()
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
        e1 = self.gpu.energy_mj() if self._e0 is not None else None
        t_end = self.clock()
        cpu_children = _children_cpu_s() - self._cpu0
        if self.sampler is not None:
            self.sampler.stop()
        rapl_tot = self.rapl.stop() if self.rapl is not None else None
        pyrapl_tot = self.pyrapl.stop() if self.pyrapl is not None else None
        if self._timeline_f is not None:
            self._timeline_f.close()
        dur = t_end - self.t_start

        env = snapshot(self.gpu.info() if self.gpu is not None else None, self.gpu_reason,
                       self._rapl_env_zones, self._rapl_env_reason)
        gpu = self._gpu_result(e1, t_end, dur)
        if self.gpu is not None and training_gpus is not None:
            check = training_gpu_check(env["gpu"].get("uuid"), training_gpus)
            if check["verdict"] == "mismatch":
                gpu = _unavailable(
                    f"the measured GPU ({check['measured_uuid']}) is not the GPU that "
                    f"{', '.join(check['not_on_measured_gpu'])} trained on "
                    f"({', '.join(str(check['training_uuids'][k]) for k in check['not_on_measured_gpu'])}); "
                    f"its reading is kept as other_gpu_j, not counted",
                    hint="make the GPU index given to the wrapper (or the first CUDA_VISIBLE_DEVICES entry) "
                         "name the GPU the training uses, e.g. by its UUID; see docs/cluster.md",
                    other_gpu_j=gpu.get("energy_j"), other_gpu_method=gpu.get("method"),
                    gpu_index=gpu.get("gpu_index"))
            gpu["training_gpu"] = check
        cpu, dram = self._cpu_result(rapl_tot, pyrapl_tot, cpu_seconds, cpu_children)

        domains = {"gpu": gpu, "cpu": cpu, "dram": dram}
        have = [k for k, v in domains.items() if v.get("energy_j") is not None]
        total = {"energy_j": sum(domains[k]["energy_j"] for k in have) if have else None,
                 "domains": have,
                 "estimated": any(domains[k].get("estimated", False) for k in have)}
        if not have:
            total["reason"] = "no domain could be measured"

        net = self._net(gpu, cpu, dram, have, dur)
        attribution = attribute(
            self._labels, gpu.get("energy_j"), self.idle.get("gpu_w"), dur,
            self.sampler.proc_util_integral if self.sampler is not None else {},
            cpu.get("energy_j"), dram.get("energy_j"), cpu_seconds or {})
        if attribution is not None and self.sampler is not None and self.sampler.proc_util_supported is False:
            for v in attribution.values():
                v.setdefault("notes", []).append("nvmlDeviceGetProcessUtilization not supported on this GPU")

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
        if getattr(self, "gpu", None) is not None:
            self.gpu.close()

    # -- per domain ---------------------------------------------------------------------------
    def _gpu_result(self, e1, t_end, dur) -> dict[str, Any]:
        if self.gpu is None:
            return _unavailable(self.gpu_reason or "GPU not measured")
        s = self.sampler
        integral = s.integral_j(self.t_start, t_end)
        flags = []
        if dur < SHORT_WINDOW_S:
            flags.append("window_under_1s")
        extras = {"power_integral_j": integral, "samples": len(s.samples), "sample_hz": self.cfg.sample_hz,
                  "mean_power_w": (integral / dur) if integral is not None and dur > 0 else None,
                  "gpu_index": self.gpu.index}
        if self._e0 is not None and e1 is not None:
            e = (e1 - self._e0) / 1000.0
            if s.counter_updates < MIN_COUNTER_UPDATES:
                flags.append("under_10_counter_updates")
            dis = (100.0 * (integral - e) / e) if integral is not None and e > 0 else None
            return {"energy_j": e, "method": "nvml_counter", "reason": None,
                    "disagreement_pct": dis, "counter_updates": s.counter_updates, **extras, "flags": flags}
        if integral is None:
            return _unavailable(f"no energy counter ({self.gpu.counter_reason}) and no power samples",
                                **extras, flags=flags)
        return {"energy_j": integral, "method": "nvml_power_integral", "reason": None,
                "counter_reason": self.gpu.counter_reason, "disagreement_pct": None, **extras, "flags": flags}

    def _cpu_result(self, rapl_tot, pyrapl_tot, cpu_seconds, cpu_children):
        if self.cpu_mode == "rapl":
            cpu = {"energy_j": rapl_tot["package_j"], "method": "rapl", "reason": None, "hint": None,
                   "sockets": rapl_tot["sockets"], "psys_j": rapl_tot["psys_j"],
                   "per_zone_j": rapl_tot["per_zone_j"], "wraps": rapl_tot["wraps"],
                   "inner_zones_not_summed": rapl_tot["inner_zones_not_summed"],
                   "poll_period_s": rapl_tot["poll_period_s"], "polls": rapl_tot["polls"],
                   "flags": list(self.rapl.flags)}
            if rapl_tot["has_dram"]:
                dram = {"energy_j": rapl_tot["dram_j"], "method": "rapl", "reason": None}
            else:
                dram = _unavailable(self.dram_reason)
            return cpu, dram
        if self.cpu_mode == "pyrapl":
            if pyrapl_tot.get("package_j") is None:
                cpu = _unavailable(pyrapl_tot.get("error") or "pyRAPL returned no package energy",
                                   flags=pyrapl_tot["flags"])
            else:
                cpu = {"energy_j": pyrapl_tot["package_j"], "method": "pyrapl", "reason": None, "hint": None,
                       "flags": pyrapl_tot["flags"]}
            if pyrapl_tot.get("dram_j") is None:
                dram = _unavailable(pyrapl_tot.get("error") or "pyRAPL returned no dram energy")
            else:
                dram = {"energy_j": pyrapl_tot["dram_j"], "method": "pyrapl", "reason": None}
            return cpu, dram
        if self.cpu_mode == "estimate":
            if cpu_seconds:
                secs, source = float(sum(cpu_seconds.values())), "cpu_seconds given by the caller (os.wait4)"
            else:
                secs, source = cpu_children, "getrusage(RUSAGE_CHILDREN) delta over the window"
            w = self.cfg.cpu_watts_per_core
            if secs > 0:
                cpu = {"energy_j": secs * w, "method": "estimate_cpu_time", "reason": None,
                       "hint": self.cpu_hint, "estimated": True, "cpu_seconds": secs,
                       "cpu_seconds_source": source, "watts_per_core": w}
            else:
                cpu = _unavailable(f"CPU-time estimate impossible: no CPU time recorded ({source})",
                                   hint=self.cpu_hint)
            return cpu, _unavailable(self.dram_reason)
        return (_unavailable(self.cpu_reason or "CPU not measured", hint=self.cpu_hint),
                _unavailable(self.dram_reason or "DRAM not measured"))

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
