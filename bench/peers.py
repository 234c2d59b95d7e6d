#!/usr/bin/env python
"""greenhp beside CodeCarbon and Zeus on one training workload: overhead and joules per domain.

The same small torch MLP training (bench/overhead.py's workload, calibrated to --seconds) runs
  plain        the workload alone,
  greenhp      under `greenhp measure` (its CLI, a separate process around the workload),
  codecarbon   under CodeCarbon's OfflineEmissionsTracker (default settings, machine tracking),
  zeus         under Zeus's ZeusMonitor (all GPUs it finds, CPU through RAPL where readable),
each tool in a small driver process that starts it, runs the workload as a child and stops it, so
every arm pays what a user pays (the tool's import, start and stop). The arms alternate: round k
starts with arm k. Printed: every run, each tool's wall-time ratio against plain (ratio of medians),
and the joules each tool reported per domain (median over rounds) with how it got them. On a
machine without a GPU or RAPL every figure is an estimate or missing, and the table says which.

    PYTHONPATH=src /tmp/peers-venv/bin/python bench/peers.py [--seconds 15] [--rounds 3] [--device cpu|cuda]

CodeCarbon and Zeus come from bench/requirements-peers.txt (never greenhp's requirements); a tool
that does not import is reported unavailable with the import error, and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "src"))

from overhead import argv_for, calibrate  # noqa: E402  (the same workload as the overhead bench)
from greenhp.units import J_PER_KWH as KWH_J  # noqa: E402  (CodeCarbon reports kWh: back to joules)

ARMS = ("plain", "greenhp", "codecarbon", "zeus")


# -- drivers: one process per measured run ----------------------------------------------------------
def drive_codecarbon(argv: list[str]) -> dict:
    import logging
    from codecarbon import OfflineEmissionsTracker
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    tr = OfflineEmissionsTracker(country_iso_code="FRA", save_to_file=False, log_level="error")
    tr.start()
    rc = subprocess.run(argv, stdout=subprocess.DEVNULL).returncode
    tr.stop()
    d = tr.final_emissions_data
    cpu_mode = next((getattr(h, "_mode", None) for h in getattr(tr, "_hardware", [])
                     if type(h).__name__ == "CPU"), None)
    how = {"cpu": f"CodeCarbon CPU mode {cpu_mode!s} ({d.cpu_power:g} W, {d.tracking_mode} tracking)",
           "dram": f"CodeCarbon RAM estimate ({d.ram_power:g} W)",
           "gpu": (f"CodeCarbon NVML ({d.gpu_count} GPU: {d.gpu_model})" if d.gpu_count
                   else "no GPU found: CodeCarbon reports 0, not missing")}
    estimated = {"cpu": cpu_mode not in ("intel_rapl", "intel_power_gadget", "windows_emi"),
                 "dram": True, "gpu": not d.gpu_count}
    return {"rc": rc, "j": {"gpu": d.gpu_energy * KWH_J, "cpu": d.cpu_energy * KWH_J, "dram": d.ram_energy * KWH_J},
            "how": how, "estimated": estimated}


def drive_zeus(argv: list[str]) -> dict:
    from zeus.monitor import ZeusMonitor
    m = ZeusMonitor()
    m.begin_window("run")
    rc = subprocess.run(argv, stdout=subprocess.DEVNULL).returncode
    r = m.end_window("run")
    j, how = {}, {}
    for dom, vals, what in (("gpu", r.gpu_energy, "NVML energy counter"), ("cpu", r.cpu_energy, "RAPL package"),
                            ("dram", r.dram_energy, "RAPL dram")):
        if vals:
            j[dom], how[dom] = float(sum(vals.values())), f"Zeus {what} ({len(vals)} device(s))"
        else:
            j[dom] = None
            how[dom] = ("Zeus found no GPU" if dom == "gpu" else "Zeus found no readable RAPL zone") + ": not measured"
    return {"rc": rc, "j": j, "how": how, "estimated": {k: False for k in j}}


def driver_main(tool: str, out: str, argv: list[str]) -> int:
    res = {"codecarbon": drive_codecarbon, "zeus": drive_zeus}[tool](argv)
    with open(out, "w") as fh:
        json.dump(res, fh)
    return res["rc"]


# -- the bench ---------------------------------------------------------------------------------------
def tool_available(tool: str) -> str | None:
    """None if the tool imports in this interpreter, else why not (one line)."""
    mod = {"codecarbon": "codecarbon", "zeus": "zeus.monitor"}[tool]
    p = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True, text=True)
    if p.returncode == 0:
        return None
    last = (p.stderr.strip().splitlines() or ["?"])[-1]
    return f"{tool} does not import here ({last}); install bench/requirements-peers.txt"


def greenhp_joules(record: dict) -> dict:
    j, how, est = {}, {}, {}
    for dom in ("gpu", "cpu", "dram"):
        d = record.get(dom) or {}
        j[dom] = d.get("energy_j")
        how[dom] = f"greenhp {d.get('method')}" + (f": {d.get('reason')}" if d.get("energy_j") is None else "")
        est[dom] = bool(d.get("estimated"))
    return {"j": j, "how": how, "estimated": est}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_arm(arm: str, argv: list[str], tmp: str, k: int, env: dict) -> tuple[float, float, dict | None]:
    """One run of one arm: (wall s, CPU s of the arm's whole process tree: tool + workload, report)."""
    out = os.path.join(tmp, f"{arm}{k}.json")
    if arm == "plain":
        cmd = argv
    elif arm == "greenhp":
        cmd = [sys.executable, "-m", "greenhp.cli", "measure", "--out", out, "--", *argv]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--driver", arm, "--driver-out", out, "--", *argv]
    c0, t0 = _children_cpu(), time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    dt, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if p.returncode != 0:
        raise SystemExit(f"peers: the {arm} arm failed (rc {p.returncode}): {p.stderr.strip()[-400:]}")
    if arm == "plain":
        return dt, cpu, None
    with open(out) as fh:
        data = json.load(fh)
    return dt, cpu, (greenhp_joules(data["energy"] if "energy" in data else data) if arm == "greenhp" else data)


def fmt_j(v) -> str:
    return "missing" if v is None else f"{v:.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0, help="target duration of one workload run (default 15)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the four arms (default 3)")
    ap.add_argument("--device", default="cpu", help="workload device: cpu (default) or cuda")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the workload (default 1)")
    ap.add_argument("--out", help="also write the Markdown table here")
    ap.add_argument("--driver", choices=("codecarbon", "zeus"), help=argparse.SUPPRESS)
    ap.add_argument("--driver-out", help=argparse.SUPPRESS)
    ap.add_argument("cmd", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.driver:
        return driver_main(a.driver, a.driver_out, a.cmd)
    if a.rounds < 1 or a.seconds <= 0:
        ap.error("--rounds must be >= 1 and --seconds > 0")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.join(ROOT, "src")] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    if a.threads:
        env["GREENHP_BENCH_THREADS"] = os.environ["GREENHP_BENCH_THREADS"] = str(a.threads)
    missing = {t: why for t in ("codecarbon", "zeus") if (why := tool_available(t))}
    arms = [x for x in ARMS if x not in missing]
    iters = calibrate(a.seconds, a.device)
    wl = argv_for(iters, a.device)
    lines = [f"workload: torch MLP on {a.device}, {iters} iterations (~{a.seconds:g} s), {a.threads} thread(s); "
             f"{a.rounds} rounds of {', '.join(arms)}, alternating; host {platform.node()}, "
             f"{os.cpu_count()} CPUs, Python {platform.python_version()}"]
    lines += [f"unavailable: {why}" for why in missing.values()]
    print("\n".join(lines), flush=True)
    walls: dict[str, list[float]] = {x: [] for x in arms}
    cpus: dict[str, list[float]] = {x: [] for x in arms}
    reports: dict[str, list[dict]] = {x: [] for x in arms if x != "plain"}
    with tempfile.TemporaryDirectory(prefix="greenhp-peers-") as tmp:
        for k in range(a.rounds):
            order = arms[k % len(arms):] + arms[:k % len(arms)]
            for arm in order:
                dt, cpu, rep = run_arm(arm, wl, tmp, k, env)
                walls[arm].append(dt)
                cpus[arm].append(cpu)
                if rep is not None:
                    reports[arm].append(rep)
                print(f"round {k} {arm}: {dt:.2f} s wall, {cpu:.2f} CPU s" + (
                    "" if rep is None else "; " + ", ".join(f"{d} {fmt_j(v)} J" for d, v in rep["j"].items())),
                    flush=True)
    plain = statistics.median(walls["plain"])
    plain_cpu = statistics.median(cpus["plain"])
    table = ["| tool | median wall s | overhead ratio vs plain (wall) | tool's own CPU s per run | GPU J | CPU J "
             "| DRAM/RAM J | how each domain was obtained |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    table.append(f"| plain | {plain:.2f} | 1.000 | 0 (workload {plain_cpu:.2f} CPU s) | — | — | — | workload alone |")
    for arm in arms[1:]:
        med = statistics.median(walls[arm])
        reps = reports[arm]
        cells = []
        for dom in ("gpu", "cpu", "dram"):
            vals = [r["j"].get(dom) for r in reps]
            if any(v is None for v in vals):
                cells.append("missing")
            else:
                est = any(r["estimated"].get(dom) for r in reps)
                cells.append(f"{statistics.median(vals):.1f}" + (" (est.)" if est else ""))
        how = "; ".join(f"{d}: {reps[-1]['how'][d]}" for d in ("gpu", "cpu", "dram"))
        own = statistics.median(cpus[arm]) - plain_cpu
        table.append(f"| {arm} | {med:.2f} | {med / plain:.3f} | {own:.2f} | {' | '.join(cells)} | {how} |")
    for tool, why in missing.items():
        table.append(f"| {tool} | — | — | — | — | — | — | {why} |")
    span = 100 * (max(walls["plain"]) - min(walls["plain"])) / plain
    table.append("")
    table.append(f"Plain runs span {min(walls['plain']):.2f}-{max(walls['plain']):.2f} s ({span:.1f} % of the median): "
                 f"ratio differences below that are noise on this machine. A tool's own CPU s = median CPU "
                 f"seconds of its arm's processes (tool + workload) minus the plain arm's: what load cannot hide. "
                 f"Joules are medians over the "
                 f"{a.rounds} rounds; (est.) marks an estimate, 'missing' a domain the tool did not measure.")
    print("\n".join(table))
    if a.out:
        with open(a.out, "w") as fh:
            fh.write("\n".join(lines + [""] + table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
