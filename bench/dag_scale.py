"""How long `snakemake -n` takes on large greenhp studies, against a floor: a minimal Snakefile with
the same number of jobs and nothing else.

    PYTHONPATH=src .venv/bin/python bench/dag_scale.py                 # 1,000 / 10,000 / 100,000 runs
    PYTHONPATH=src .venv/bin/python bench/dag_scale.py --sizes 1000 10000

Each study is a generated mutant table (`mutants_table:`) of digits_mlp configurations, REPS
repetitions each, no pairs: N single runs + 5 table/analysis jobs. The floor Snakefile has one rule with
N outputs of the same path pattern, one collecting rule, and 4 more trivial rules (same job count).
Both are run with `-n` in an empty working directory (every job is planned), output discarded.
Results: bench/RESULTS.md, "DAG scale".
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPS = 5

MINIMAL = '''
N_CONFIGS, REPS = {configs}, {reps}
IDS = [f"digits_mlp__lr__v{{i}}" for i in range(N_CONFIGS)]
RECORDS = [f"results/runs/single/{{m}}/rep{{k}}.json" for m in IDS for k in range(1, REPS + 1)]

rule all:
    input: "results/plots.txt", "results/mutants.tsv"

rule mutants:
    output: "results/mutants.tsv"
    shell: "touch {{output}}"

rule train:
    output: "results/runs/single/{{mutant_id}}/rep{{rep}}.json"
    shell: "touch {{output}}"

rule aggregate:
    input: RECORDS
    output: "results/runs.tsv"
    shell: "touch {{output}}"

rule stats:
    input: "results/runs.tsv"
    output: "results/stats.tsv"
    shell: "touch {{output}}"

rule plots:
    input: "results/stats.tsv"
    output: "results/plots.txt"
    shell: "touch {{output}}"
'''


def write_table(path: Path, configs: int) -> None:
    from greenhp.subjects import REGISTRY

    defaults = dict(REGISTRY["digits_mlp"].defaults)
    hps = list(defaults)
    lines = ["\t".join(["mutant_id", "subject", "hyperparameter", "operator", "original", "value"] + [f"hp_{h}" for h in hps])]
    lines.append("\t".join(["digits_mlp__original", "digits_mlp", "none", "none", "", ""] + [repr(defaults[h]) for h in hps]))
    lr0 = float(defaults["lr"])
    for i in range(1, configs):
        lr = lr0 * (1 + i * 1e-4)
        hp = dict(defaults, lr=lr)
        lines.append("\t".join([f"digits_mlp__lr__v{i}", "digits_mlp", "lr", "values", repr(lr0), repr(lr)] + [repr(hp[h]) for h in hps]))
    path.write_text("\n".join(lines) + "\n")


def write_config(path: Path, table: Path) -> None:
    path.write_text(
        f"study: dag-scale\nseed: 1\ndevice: cpu\nrepetitions: {REPS}\nmutants_per_hyperparameter: 1\n"
        f"subjects:\n  digits_mlp: {{hyperparameters: [lr]}}\npairs: {{}}\nmutants_table: {table}\n"
    )


def dry_run(args: list[str], cwd: Path) -> float:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    exe = Path(sys.executable).parent / "snakemake"
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "snakemake"]) + ["-n", "--cores", "1"] + args
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"dry run failed in {cwd}:\n{out.stderr[-3000:]}")
    return elapsed


def measure(runs: int, repeat: int) -> tuple[float, float]:
    configs = runs // REPS
    with tempfile.TemporaryDirectory(prefix=f"dag-scale-{runs}-") as tmp:
        tmp = Path(tmp)
        green, floor = tmp / "greenhp", tmp / "floor"
        green.mkdir()
        floor.mkdir()
        write_table(green / "mutants_in.tsv", configs)
        write_config(green / "study.yaml", green / "mutants_in.tsv")
        (floor / "Snakefile").write_text(MINIMAL.format(configs=configs, reps=REPS))
        g = min(dry_run(["--snakefile", str(ROOT / "Snakefile"), "--directory", str(green),
                         "--configfile", str(green / "study.yaml")], green) for _ in range(repeat))
        f = min(dry_run(["--snakefile", str(floor / "Snakefile")], floor) for _ in range(repeat))
    return g, f


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="runs per study")
    parser.add_argument("--repeat", type=int, default=1, help="dry runs per measurement (the minimum is kept)")
    args = parser.parse_args()
    print(f"# {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; snakemake -n, seconds")
    print(f"{'runs':>8} {'jobs':>8} {'greenhp_s':>10} {'floor_s':>8} {'ratio':>6} {'greenhp_us/run':>15}")
    for runs in args.sizes:
        g, f = measure(runs, args.repeat)
        print(f"{runs:>8} {runs + 5:>8} {g:>10.2f} {f:>8.2f} {g / f:>6.2f} {g / runs * 1e6:>15.0f}", flush=True)


if __name__ == "__main__":
    main()
