"""How long the re-analysis of a large runs table takes, and its peak memory.

    PYTHONPATH=src .venv/bin/python bench/reanalysis_scale.py                  # 100,080 rows
    PYTHONPATH=src .venv/bin/python bench/reanalysis_scale.py --rows 10080 100080
    PYTHONPATH=/tmp/before/src .venv/bin/python bench/reanalysis_scale.py --root /tmp/before

The table imitates a published five-subject study (the reference study's design: 5 subjects x
3 hyperparameters x 5 mutants + the original, 5 repetitions, 400 single runs; 4 pair combinations
with their own mutants, 320 pair runs: 720 runs), generated from a fixed seed, then repeated
(fresh run ids, new noise) up to the requested number of rows. Each size is run through
``workflow/Reanalysis.smk`` end to end (import, stats, plots, summary; ``--cores 2``) in a fresh
folder; printed: wall seconds of the whole Snakemake command, the CPU seconds of all its processes
(user + system; less sensitive than wall time to other work on a shared machine) and the peak
resident memory of the largest process (``ru_maxrss`` of the waited children). ``--root`` picks the greenhp checkout whose
workflow runs (its ``src`` must be on PYTHONPATH), so an older version can be timed side by side.
Results: bench/RESULTS.md, "Re-analysis scale".
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from greenhp import units  # noqa: E402  (the one J -> kWh conversion)

SUBJECTS = {  # original hyperparameters, original total energy (J), duration (s), accuracy
    "mnist": ({"epochs": 14, "lr": 1.0, "gamma": 0.7}, 21600.0, 185.0, 0.99),
    "mnist_ff": ({"epochs": 1000, "lr": 0.03, "threshold": 2.0}, 11400.0, 45.0, 0.93),
    "siamese": ({"epochs": 14, "lr": 1.0, "gamma": 0.7}, 71800.0, 279.0, 0.96),
    "resnet20": ({"epochs": 200, "lr": 0.2, "weight_decay": 1e-4}, 233000.0, 985.0, 0.91),
    "hrnet18": ({"epochs": 60, "lr": 0.05, "weight_decay": 5e-4}, 875000.0, 2845.0, 0.85),
}
PAIRS = [("mnist", "mnist_ff"), ("mnist", "siamese"), ("siamese", "mnist"), ("siamese", "mnist_ff")]
HPS = ("epochs", "lr", "gamma", "weight_decay", "threshold")


def _mutant_values(rng, h, v):
    if h == "epochs":
        return [max(1, int(v + s * int(v * rng.uniform() * 0.25))) for s in (-1, 1, -1, 1, 1)]
    if h == "lr":
        return [float(f"{v * 10 ** (s * rng.uniform()):.4g}") for s in (-1, 1, -1, 1, -1)]
    if h == "threshold":
        return [float(x) for x in rng.choice([1, 3, 4, 5, 6], 5, replace=False)]
    if h == "gamma":
        return [float(f"{v / (1 + 4 * rng.uniform()):.4g}") if i % 2 else float(f"{min(0.99, v * (1 + 2 * rng.uniform())):.4g}")
                for i in range(5)]
    return [float(f"{v / (1 + 4 * rng.uniform()):.4g}") if i % 2 else float(f"{v * (1 + 2 * rng.uniform()):.4g}")
            for i in range(5)]


def published_like(seed: int = 0) -> pd.DataFrame:
    """720 runs shaped like the reference study's raw data (full runs.tsv columns)."""
    rng = np.random.default_rng(seed)
    rows = []

    def configs(subject, tag):
        orig, *_ = SUBJECTS[subject]
        out = [(f"{subject}__original", "none", "none", None, None, dict(orig))]
        for h, v in orig.items():
            for i, x in enumerate(_mutant_values(rng, h, v)):
                out.append((f"{subject}__{h}__{tag}{i}x{x:g}", h, "mutate", v, x, dict(orig, **{h: x})))
        return out

    def add(mode, subject, partner, cfgs, cv):
        orig, e0, d0, a0 = SUBJECTS[subject]
        level = 1.6 if mode == "pair" else 1.0
        for mid, h, op, o, v, hp in cfgs:
            scale = hp["epochs"] / orig["epochs"]
            for rep in range(1, 6):
                total = level * e0 * scale * (1 + cv * rng.standard_normal())
                acc = a0 - 0.02 * abs(math.log10(hp["lr"] / orig["lr"])) + 0.003 * rng.standard_normal()
                row = dict(run_id=f"{mode}-{mid}-{partner or ''}-{rep}", mode=mode, subject=subject,
                           mutant_id=mid, hyperparameter=h, operator=op, original=o, value=v,
                           repetition=rep, seed=rep, partner=partner, status="ok", reason=None,
                           duration_s=level * d0 * scale * (1 + cv * rng.standard_normal()),
                           gpu_energy_j=0.7 * total, cpu_energy_j=0.25 * total,
                           dram_energy_j=0.05 * total, total_energy_j=total,
                           gpu_method="nvml_power_integral", cpu_method="rapl", dram_method="rapl",
                           energy_estimated=False, total_domains="gpu+cpu+dram",
                           metric_name="accuracy", metric_value=acc, accuracy=acc,
                           energy_kwh=units.kwh(total), co2e_g=None, device="cuda",
                           gpu_model="RTX 3080", cpu_model="i9", gpu_net_energy_j=None,
                           cpu_net_energy_j=None, total_net_energy_j=None, gpu_share_j=None,
                           cpu_share_j=None, total_share_j=None)
                row.update({f"hp_{k}": hp.get(k) for k in HPS})
                rows.append(row)

    for s in SUBJECTS:
        add("single", s, None, configs(s, "s"), 0.01)
    for s, p in PAIRS:
        add("pair", s, f"{p}__original", configs(s, f"p{p}"), 0.04)
    return pd.DataFrame(rows)


def table_of(rows: int, path: Path) -> int:
    base = published_like()
    copies = math.ceil(rows / len(base))
    rng = np.random.default_rng(1)
    parts = []
    for k in range(copies):
        t = base.copy()
        t["run_id"] = t["run_id"] + f"-c{k}"
        noise = 1 + 0.01 * rng.standard_normal(len(t))
        for c in ("gpu_energy_j", "cpu_energy_j", "dram_energy_j", "total_energy_j"):
            t[c] = t[c] * noise
        parts.append(t)
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(path, sep="\t", index=False)
    return len(table)


def run_once(rows: int, root: Path, keep: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="greenhp-rescale-") as tmp:
        work = Path(keep) if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        table = work / "published.tsv"
        n = table_of(rows, table)
        cmd = [sys.executable, "-m", "snakemake", "-s", str(root / "workflow" / "Reanalysis.smk"),
               "--directory", str(work), "--cores", "2", "--quiet", "all",
               "--config", f"runs_table={table}", "analysis_dir=re"]
        env = dict(os.environ)
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        before, peak = r0.ru_maxrss, r1.ru_maxrss
        cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        if res.returncode != 0:
            raise SystemExit(f"re-analysis of {n} rows failed:\n{res.stderr[-3000:]}")
        logs = {p.stem: p.read_text()[-200:] for p in (work / "re" / "logs").glob("*.log")}
        return dict(rows=n, wall_s=wall, cpu_s=cpu, peak_gib=max(peak, before) / 2**20, logs=logs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_080])
    ap.add_argument("--root", type=Path, default=ROOT, help="greenhp checkout whose workflow runs")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (one size only)")
    args = ap.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; root {args.root}")
    for rows in args.rows:
        r = run_once(rows, args.root, args.keep)
        print(f"{r['rows']:>7} rows: {r['wall_s']:6.1f} s wall, {r['cpu_s']:6.1f} s CPU, "
              f"peak {r['peak_gib']:.2f} GiB "
              f"(load average after {os.getloadavg()[0]:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
