#!/usr/bin/env python
"""One-shot GPU check of greenhp.energy (run on a GPU machine; < 5 min on an H100, --quick ~1 min).

Measures: (1) steady bf16 matmul load >= 10 s, NVML counter vs sampled-power integral (<= 2 %);
(2) square-wave loads (busy/idle 50, 100, 200 ms): what counter and sampler each see;
(3) settle time and idle baseline right after the load; (4) two training processes alone and
together: attributed shares vs their solo energies; (5) wrapper overhead on GPU (target <= 1 %).
Prints one Markdown table and writes it to --out. Exits 2 with a message when there is no GPU.

    PYTHONPATH=src python bench/gpu_check.py --out gpu_check.md [--quick] [--gpu-index 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, HERE)

from greenhp.energy import EnergyConfig, EnergyMonitor, measure_command  # noqa: E402

TRAIN = r"""
import sys, time, torch
iters, width = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
dev = "cuda"
m = torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(4)]).to(dev, torch.bfloat16)
opt = torch.optim.SGD(m.parameters(), lr=1e-4)
x = torch.randn(4096, width, device=dev, dtype=torch.bfloat16)
def step():
    opt.zero_grad(); loss = m(x).float().pow(2).mean(); loss.backward(); opt.step()
if iters == 0:  # calibration: seconds per iteration, timed inside one process after a warm-up
    for _ in range(10): step()
    torch.cuda.synchronize(); t0 = time.perf_counter()
    for _ in range(50): step()
    torch.cuda.synchronize(); print((time.perf_counter() - t0) / 50)
    sys.exit(0)
for _ in range(iters):
    step()
torch.cuda.synchronize()
"""

ROWS: list[tuple[str, str, str, str]] = []


def row(check, result, target="", ok=""):
    ROWS.append((check, result, target, ok))
    print(f"  {check}: {result} {('[' + ok + ']') if ok else ''}", flush=True)


def fmt(x, spec=".1f"):
    return "n/a" if x is None else format(x, spec)


def no_gpu(msg: str) -> int:
    print(f"gpu_check: no GPU: {msg}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="gpu_check.md", help="where to write the Markdown table")
    ap.add_argument("--quick", action="store_true", help="short smoke run (numbers not meaningful)")
    ap.add_argument("--gpu-index", type=int, default=0)
    ap.add_argument("--sections", default="steady,square,idle,pair,overhead",
                    help="comma-separated subset of steady,square,idle,pair,overhead")
    ap.add_argument("--overhead-seconds", type=float, default=None,
                    help="training time of one overhead run (default 20, --quick 2)")
    ap.add_argument("--overhead-repeats", type=int, default=None,
                    help="plain/wrapped pairs of the overhead check (default 3, --quick 1)")
    a = ap.parse_args(argv)
    q = a.quick
    T_STEADY, T_SQUARE, T_IDLE, T_SETTLE = (3, 2, 1, 5) if q else (10, 8, 5, 30)
    T_TRAIN = 2 if q else 8
    T_OVH = a.overhead_seconds or (2 if q else 20)
    OVH_REPEATS = a.overhead_repeats or (1 if q else 3)

    os.environ.setdefault("CUDA_VISIBLE_DEVICES", str(a.gpu_index))   # before CUDA initialises
    try:
        import torch
    except Exception as e:
        return no_gpu(f"torch not importable: {e}")
    if not torch.cuda.is_available():
        return no_gpu("torch.cuda.is_available() is False")
    from greenhp.energy.nvml import NvmlDevice
    dev, reason = NvmlDevice.open(None, a.gpu_index)
    if dev is None:
        return no_gpu(reason)
    t_all = time.monotonic()
    info = dev.info()
    print(f"GPU {info['name']} driver {info['driver']} limit {info['power_limit_w']} W "
          f"counter={info['energy_counter']}", flush=True)
    cuda = torch.device("cuda:0")
    A = torch.randn(8192, 8192, device=cuda, dtype=torch.bfloat16)
    B = torch.randn(8192, 8192, device=cuda, dtype=torch.bfloat16)
    sync = torch.cuda.synchronize

    def busy(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            for _ in range(4):
                torch.matmul(A, B)
            sync()

    def monitor(**kw):
        c = dict(cpu_meter="none", sample_hz=20.0)
        c.update(kw)
        return EnergyMonitor(EnergyConfig(**c), gpu_index=a.gpu_index, sync=sync)

    busy(1.0)   # warm-up
    sections = set(a.sections.split(","))

    # 1. steady load
    if "steady" in sections:
        steady(monitor, busy, T_STEADY)
    if "square" in sections:
        square(monitor, busy, T_SQUARE)
    if "idle" in sections:
        idle_check(monitor, busy, T_IDLE, T_SETTLE)
    if "pair" in sections:
        pair(monitor, T_TRAIN, T_IDLE, T_SETTLE)
    if "overhead" in sections:
        overhead_check(a.gpu_index, T_OVH, OVH_REPEATS)
    total = time.monotonic() - t_all
    lines = [f"GPU check on {info['name']} (driver {info['driver']}, power limit {info['power_limit_w']} W)"
             f"{' --quick' if q else ''}, sections {a.sections}, total {total:.0f} s", "",
             "| check | result | target | pass |", "|---|---|---|---|"]
    lines += [f"| {c} | {r_} | {t} | {o} |" for c, r_, t, o in ROWS]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(a.out, "w") as f:
        f.write(text)
    return 0


def steady(monitor, busy, seconds):
    mon = monitor()
    mon.begin()
    busy(seconds)
    r = mon.end()
    g = r["gpu"]
    d = g.get("disagreement_pct")
    row(f"steady bf16 matmul {seconds} s", f"{g['method']} {fmt(g['energy_j'])} J, integral "
        f"{fmt(g.get('power_integral_j'))} J, {fmt(g.get('mean_power_w'))} W, diff {fmt(d, '+.2f')} %, "
        f"{g.get('counter_updates')} counter updates, flags {g.get('flags')}",
        "abs diff <= 2 %", "PASS" if d is not None and abs(d) <= 2 else "FAIL")


def square(monitor, busy, seconds):
    for ms in (50, 100, 200):
        mon = monitor()
        mon.begin()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            busy(ms / 1000)
            time.sleep(ms / 1000)
        r = mon.end()
        g = r["gpu"]
        row(f"square {ms}/{ms} ms busy/idle {seconds} s",
            f"counter {fmt(g['energy_j'])} J, sampler integral {fmt(g.get('power_integral_j'))} J "
            f"({g.get('samples')} samples at 20 Hz), diff {fmt(g.get('disagreement_pct'), '+.2f')} %",
            "reference: +1.5/-0.7/+1.3 %", "")


def idle_check(monitor, busy, t_idle, t_settle):
    busy(3.0)
    mon = monitor(idle_seconds=t_idle, settle_timeout_s=t_settle, settle_tolerance_w=5.0)
    idle = mon.prepare()
    row("settle after 3 s load, then idle window",
        f"settled={idle.get('settled')} in {fmt(idle.get('settle_s'))} s at {fmt(idle.get('settle_power_w'))} W; "
        f"idle {fmt(idle.get('gpu_w'))} W over {t_idle} s ({idle.get('gpu_method')})",
        f"settle within {t_settle} s", "PASS" if idle.get("settled") else "WARN")


def iterations(width, seconds):
    """Training iterations of TRAIN at ``width`` that take about ``seconds`` on this GPU."""
    out = subprocess.run([sys.executable, "-c", TRAIN, "0", str(width)], check=True, capture_output=True, text=True)
    per = float(out.stdout.strip().splitlines()[-1])
    n = max(20, int(seconds / per))
    print(f"  calibration: width {width}: {per * 1000:.2f} ms/iteration -> {n} iterations", flush=True)
    return n


def pair(monitor, t_train, t_idle, t_settle):
    t_iter = {w: iterations(w, t_train) for w in (4096, 2048)}
    jobs = {"A": [sys.executable, "-c", TRAIN, str(t_iter[4096]), "4096"],
            "B": [sys.executable, "-c", TRAIN, str(t_iter[2048]), "2048"]}

    def measured(labels):
        m = monitor(cpu_meter="estimate", idle_seconds=min(2.0, t_idle), settle_timeout_s=min(10.0, t_settle))
        m.begin()
        procs = {lab: subprocess.Popen(jobs[lab]) for lab in labels}
        for lab, p in procs.items():
            m.track(p.pid, lab)
        cpu = {}
        for lab, p in procs.items():
            _, st, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(st)
            cpu[lab] = ru.ru_utime + ru.ru_stime
        return m.end(cpu_seconds=cpu)

    solo = {lab: measured([lab]) for lab in ("A", "B")}
    both = measured(["A", "B"])
    for lab in ("A", "B"):
        s = solo[lab]
        row(f"solo {lab} ({jobs[lab][-1]} wide, {jobs[lab][-2]} iters)",
            f"GPU {fmt(s['gpu']['energy_j'])} J gross, {fmt(s['net']['gpu_j'])} J net, "
            f"{fmt(s['window']['duration_s'])} s, idle {fmt(s['idle']['gpu_w'])} W")
    att = both["attribution"] or {}
    tot = both["gpu"]["energy_j"]
    ssum = sum(v["gpu_j"] for v in att.values() if v.get("gpu_j") is not None) if att else None
    row("pair A+B together", f"device {fmt(tot)} J in {fmt(both['window']['duration_s'])} s; shares sum "
        f"{fmt(ssum)} J", "shares sum = device total (1 %)",
        "PASS" if tot and ssum and abs(ssum - tot) <= 0.01 * tot else "FAIL")
    for lab in ("A", "B"):
        v = att.get(lab, {})
        sj = solo[lab]["gpu"]["energy_j"]
        sn = solo[lab]["net"]["gpu_j"]
        row(f"pair share {lab}", f"{fmt(v.get('gpu_j'))} J (active {fmt(v.get('gpu_active_j'))} J, "
            f"SM {fmt(v.get('sm_util_pct_s'))} %·s) vs solo gross {fmt(sj)} J / net {fmt(sn)} J; "
            f"share/solo gross {fmt(v['gpu_j'] / sj if v.get('gpu_j') and sj else None, '.2f')}; "
            f"{v.get('method')}", "informative")


def overhead_check(gpu_index, seconds, repeats):
    """The same GPU training process run plain and under measure_command (NVML counter, 10 Hz
    sampler, CPU meter auto), alternating; the wall-time ratio of the medians (target <= 1.01)."""
    import overhead
    iters = iterations(4096, seconds)
    cfg = EnergyConfig(cpu_meter="auto", sample_hz=10.0)
    overhead.argv_for = lambda n, device="cpu": [sys.executable, "-c", TRAIN, str(n), "4096"]
    cpu: dict = {}
    plain, wrapped = overhead.run_pairs(iters, repeats, cfg, device="cuda", gpu_index=gpu_index, cpu=cpu)
    for k, (p, w) in enumerate(zip(plain, wrapped)):
        print(f"  overhead pair {k}: plain {p:.2f} s, wrapped {w:.2f} s, ratio {w / p:.4f}, "
              f"wrapper's own CPU {cpu['wrapper'][k]:.3f} s", flush=True)
    fig = overhead.figures(plain, wrapped, cpu)
    ratio = fig["ratio"]
    row(f"wrapper overhead on GPU (~{seconds:g} s of training, {repeats} alternating pairs)",
        f"plain {statistics.median(plain):.2f} s, wrapped {statistics.median(wrapped):.2f} s (medians), "
        f"ratio {ratio:.4f}; pairs " + ", ".join(f"{w / p:.3f}" for p, w in zip(plain, wrapped))
        + f"; plain runs span {min(plain):.2f}-{max(plain):.2f} s; wrapper's own CPU {fig['own_s'] * 1000:.0f} ms per run "
        f"({fig['own_pct']:.2f} % of its wall time)",
        "<= 1.01", "PASS" if ratio <= 1.01 else "FAIL")


if __name__ == "__main__":
    sys.exit(main())
