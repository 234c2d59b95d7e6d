#!/usr/bin/env python
"""Wrapper overhead: the same CPU training workload (small torch MLP) run plain and under
measure_command, alternating, several times; prints the median wall-time ratio (target <= 1.02).

Beside wall time it prints what noise cannot hide: the workload's own CPU seconds in both arms and
the CPU seconds the wrapper itself spent (this process's threads: sampler, meters, record writing)
per wrapped run, as a share of the run's wall time.

    PYTHONPATH=src python bench/overhead.py [--seconds 20] [--repeats 3] [--config energy.yaml]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from greenhp.energy import EnergyConfig, measure_command  # noqa: E402

WORKLOAD = r"""
import os, sys, torch
torch.manual_seed(0)
if os.environ.get("GREENHP_BENCH_THREADS"): torch.set_num_threads(int(os.environ["GREENHP_BENCH_THREADS"]))
iters = int(sys.argv[1]); device = sys.argv[2] if len(sys.argv) > 2 else "cpu"
m = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                        torch.nn.ReLU(), torch.nn.Linear(512, 10)).to(device)
opt = torch.optim.SGD(m.parameters(), lr=0.01)
x = torch.randn(256, 256, device=device); y = torch.randint(0, 10, (256,), device=device)
for _ in range(iters):
    opt.zero_grad(); loss = torch.nn.functional.cross_entropy(m(x), y); loss.backward(); opt.step()
if device != "cpu": torch.cuda.synchronize()
print(float(loss.detach()))
"""


def argv_for(iters: int, device: str = "cpu") -> list[str]:
    return [sys.executable, "-c", WORKLOAD, str(iters), device]


def calibrate(seconds: float, device: str = "cpu") -> int:
    """Iterations that take about ``seconds`` (start-up time measured and excluded)."""
    t0 = time.perf_counter()
    subprocess.run(argv_for(1, device), check=True, capture_output=True)
    startup = time.perf_counter() - t0
    n = 200
    while True:
        t0 = time.perf_counter()
        subprocess.run(argv_for(n, device), check=True, capture_output=True)
        dt = time.perf_counter() - t0 - startup
        if dt > 1.0:
            return max(1, int(n * (seconds - startup) / dt))
        n *= 4


def _cpu(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def run_pairs(iters: int, repeats: int, cfg: EnergyConfig, device: str = "cpu", gpu_index=None,
              cpu: dict | None = None):
    """Alternating plain/wrapped runs; returns (plain wall s, wrapped wall s). Where ``cpu`` is a
    dict, fills its lists ``plain_child``/``wrapped_child`` (the workload's CPU s) and ``wrapper``
    (this process's own CPU s during each wrapped run)."""
    plain, wrapped = [], []
    if cpu is not None:
        for k in ("plain_child", "wrapped_child", "wrapper"):
            cpu[k] = []
    with tempfile.TemporaryDirectory() as d:
        for k in range(repeats):
            order = ("plain", "wrapped") if k % 2 == 0 else ("wrapped", "plain")   # alternate
            for what in order:
                c_self, c_child = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                if what == "plain":
                    rc = subprocess.run(argv_for(iters, device), stdout=subprocess.DEVNULL).returncode
                else:
                    out = os.path.join(d, f"run{k}.json")
                    with open(os.devnull, "w") as devnull:
                        so = os.dup(1)
                        os.dup2(devnull.fileno(), 1)
                        try:
                            rc = measure_command(argv_for(iters, device), out, cfg, gpu_index=gpu_index)
                        finally:
                            os.dup2(so, 1)
                            os.close(so)
                dt = time.perf_counter() - t0
                d_self, d_child = _cpu(resource.RUSAGE_SELF) - c_self, _cpu(resource.RUSAGE_CHILDREN) - c_child
                if rc != 0:
                    raise SystemExit(f"workload failed ({what}, rc={rc})")
                (plain if what == "plain" else wrapped).append(dt)
                if cpu is not None:
                    cpu[f"{what}_child"].append(d_child)
                    if what == "wrapped":
                        cpu["wrapper"].append(d_self)
    return plain, wrapped


def figures(plain: list[float], wrapped: list[float], cpu: dict) -> dict:
    """The bench's verdict figures, shared by this script and bench/gpu_check.py: the wall-time ratio
    of the medians, the wrapper's own CPU seconds per run (median) and that as % of a wrapped run."""
    own = statistics.median(cpu["wrapper"])
    return {"ratio": statistics.median(wrapped) / statistics.median(plain), "own_s": own,
            "own_pct": 100 * own / statistics.median(wrapped)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="target duration of one run (default 20)")
    ap.add_argument("--repeats", type=int, default=3, help="plain/wrapped pairs (default 3)")
    ap.add_argument("--config", help="energy config YAML (default: EnergyConfig defaults)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads of the workload (default 1: on a small shared VM two threads make run "
                         "times vary by 10-20 %%, which hides a 1-2 %% overhead; 0 = torch's default)")
    a = ap.parse_args(argv)
    if a.threads:
        os.environ["GREENHP_BENCH_THREADS"] = str(a.threads)  # inherited by the plain and the wrapped child alike
    if a.config:
        from greenhp.energy.cli import load_config
        cfg = load_config(a.config)
    else:
        cfg = EnergyConfig()
    iters = calibrate(a.seconds)
    print(f"workload: torch MLP, {iters} iterations (~{a.seconds:g} s), {a.repeats} alternating pairs, "
          f"cpus={os.cpu_count()}, config gpu_meter={cfg.gpu_meter} cpu_meter={cfg.cpu_meter} "
          f"sample_hz={cfg.sample_hz:g}", flush=True)
    cpu: dict = {}
    plain, wrapped = run_pairs(iters, a.repeats, cfg, cpu=cpu)
    ratios = [w / p for p, w in zip(plain, wrapped)]
    print("| pair | plain s | wrapped s | ratio | workload CPU s plain / wrapped | wrapper's own CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    for i, (p, w, r) in enumerate(zip(plain, wrapped, ratios)):
        print(f"| {i} | {p:.2f} | {w:.2f} | {r:.4f} | {cpu['plain_child'][i]:.2f} / {cpu['wrapped_child'][i]:.2f} "
              f"| {cpu['wrapper'][i]:.3f} |")
    fig = figures(plain, wrapped, cpu)
    med = fig["ratio"]
    print(f"median plain {statistics.median(plain):.2f} s, median wrapped {statistics.median(wrapped):.2f} s, "
          f"ratio of medians {med:.4f}, median of pair ratios {statistics.median(ratios):.4f} "
          f"(target <= 1.02): {'OK' if med <= 1.02 else 'OVER'}")
    print(f"plain run times span {min(plain):.2f}-{max(plain):.2f} s "
          f"({100 * (max(plain) - min(plain)) / statistics.median(plain):.1f} % of the median): "
          f"differences below that are noise on this machine")
    print(f"workload CPU seconds, ratio of medians wrapped/plain "
          f"{statistics.median(cpu['wrapped_child']) / statistics.median(cpu['plain_child']):.4f}; "
          f"the wrapper's own CPU time per run: median {fig['own_s'] * 1000:.0f} ms = "
          f"{fig['own_pct']:.2f} % of a wrapped run's wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
