"""Predicted against measured: estimate a study before it runs, run it, compare.

    .venv/bin/python bench/estimate_check.py [--study config.yaml --study bench/estimate_other.yaml]
                                             [--cores 2] [--repeats 1] [--keep DIR]

For each study, in an empty working directory: `greenhp plan --estimate` (calibration runs on this
machine; writes results/estimate.tsv), then `snakemake --cores N` on the same config (the study,
its analysis and results/footprint.tsv). Prints, per study: the calibration's cost, the predicted
wall time and total energy with their ranges, the measured ones (wall time of the snakemake process;
total energy = training runs + idle baselines from results/footprint.tsv), their ratios, and whether
each lies within +-25 % (the issue's target) and within the predicted range; the load average
before and after (the VM is shared: timings under load are noisy).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from greenhp.cost import read_estimate_tsv  # noqa: E402


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


def run_one(configfile: Path, cores: int, repeats: int, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    t0 = time.monotonic()
    plan = subprocess.run([sys.executable, "-m", "greenhp.cli", "plan", "--configfile", str(configfile),
                           "--estimate", "--cores", str(cores), "--repeats", str(repeats),
                           "--tsv", "results/estimate.tsv", "--no-table"],
                          cwd=work, env=env(), capture_output=True, text=True)
    calib_s = time.monotonic() - t0
    (work / "estimate.out").write_text(plan.stdout + plan.stderr)
    if plan.returncode != 0:
        raise SystemExit(f"estimate of {configfile} failed: {plan.stderr.strip()}")
    snakemake = Path(sys.executable).parent / "snakemake"
    t0 = time.monotonic()
    with open(work / "snakemake.log", "w") as log:
        rc = subprocess.run([str(snakemake), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(configfile), "--cores", str(cores)],
                            env=env(), stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - t0
    load1 = os.getloadavg()
    if rc != 0:
        raise SystemExit(f"study {configfile} failed (exit {rc}); see {work / 'snakemake.log'}")
    est = read_estimate_tsv(work / "results" / "estimate.tsv")
    with open(work / "results" / "footprint.tsv") as fh:
        foot = {r["item"]: r for r in csv.DictReader(fh, delimiter="\t")}
    f = lambda r, k: float(r[k]) if r.get(k) not in ("", None) else None  # noqa: E731
    return {
        "study": configfile.name, "calibration_s": calib_s, "load_before": load0[0], "load_after": load1[0],
        "wall": wall, "wall_est": est["wall_time"]["seconds"], "wall_lo": est["wall_time"]["seconds_low"],
        "wall_hi": est["wall_time"]["seconds_high"],
        "energy": f(foot["total"], "energy_j"), "energy_est": est["total"]["energy_j"],
        "energy_lo": est["total"]["energy_j_low"], "energy_hi": est["total"]["energy_j_high"],
        "items": {k: (f(foot[k], "seconds"), est.get(k, {}).get("seconds")) for k in
                  ("training_single", "training_pair", "job_overhead", "workflow")},
        "runs": int(float(foot["total"]["count"])), "energy_method": foot["training_single"]["energy_method"],
    }


def verdict(x: float, est: float, lo: float, hi: float) -> str:
    r = x / est
    return (f"{r:.2f} ({'within' if 0.75 <= r <= 1.25 else 'OUTSIDE'} +-25 %, "
            f"{'inside' if lo <= x <= hi else 'outside'} the range)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", action="append", help="config file (repeatable); default: config.yaml and "
                                                     "bench/estimate_other.yaml")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--keep", help="work in this directory (kept) instead of a temporary one")
    args = ap.parse_args()
    studies = [Path(s).resolve() for s in (args.study or [ROOT / "config.yaml", ROOT / "bench" / "estimate_other.yaml"])]
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="greenhp-estimate-"))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; --cores {args.cores}; "
          f"calibration repeats {args.repeats}")
    out = []
    for i, s in enumerate(studies):
        r = run_one(s, args.cores, args.repeats, base / f"{i}-{s.stem}")
        out.append(r)
        print(f"\n{r['study']}: {r['runs']} runs; load average {r['load_before']:.1f} before, {r['load_after']:.1f} after")
        print(f"  calibration (greenhp plan --estimate): {r['calibration_s']:.0f} s")
        print(f"  wall time: predicted {r['wall_est']:.0f} s [{r['wall_lo']:.0f}-{r['wall_hi']:.0f}], measured "
              f"{r['wall']:.0f} s, ratio {verdict(r['wall'], r['wall_est'], r['wall_lo'], r['wall_hi'])}")
        print(f"  total energy ({r['energy_method']}): predicted {r['energy_est']:.0f} J "
              f"[{r['energy_lo']:.0f}-{r['energy_hi']:.0f}], measured {r['energy']:.0f} J, ratio "
              f"{verdict(r['energy'], r['energy_est'], r['energy_lo'], r['energy_hi'])}")
        for k, (m, e) in r["items"].items():
            if m is not None and e:
                print(f"    {k}: predicted {e:.0f} s, measured {m:.0f} s, ratio {m / e:.2f}")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    ok = all(0.75 <= r["wall"] / r["wall_est"] <= 1.25 and 0.75 <= r["energy"] / r["energy_est"] <= 1.25 for r in out)
    print(f"\nall within +-25 %: {'yes' if ok else 'no'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
