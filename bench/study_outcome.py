"""Print a finished study's outcome as Markdown: each configuration's task metric per mode, and time.

    .venv/bin/python bench/study_outcome.py [RESULTS_DIR]     (default: results)

Reads RESULTS_DIR/runs.tsv and the run records under RESULTS_DIR/runs/. Prints one row per
(subject, mode, configuration): its status counts, the metric of every repetition and their mean,
and the mean run duration; then the sums of run durations and of the training processes' CPU
seconds (from the records' timing), which bench/RESULTS.md quotes for studies/paper-mini.yaml.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def cpu_seconds(runs_dir: Path) -> float:
    total = 0.0
    for path in runs_dir.rglob("*.json"):
        timing = json.loads(path.read_text()).get("timing") or {}
        cpu = timing.get("cpu_seconds") or {}
        total += sum(float(v) for v in (cpu.values() if isinstance(cpu, dict) else [cpu]) if v is not None)
    return total


def main(argv: list[str]) -> int:
    results = Path(argv[0] if argv else "results")
    runs = pd.read_csv(results / "runs.tsv", sep="\t")
    print("| subject | mode | configuration | status | metric per repetition | mean | mean duration (s) |")
    print("|---|---|---|---|---|---:|---:|")
    for (subject, mode, mutant), g in runs.sort_values(["subject", "mode", "mutant_id", "repetition"]).groupby(
            ["subject", "mode", "mutant_id"], sort=False):
        status = ", ".join(f"{s} {n}" for s, n in g["status"].value_counts().items())
        values = ", ".join("—" if pd.isna(v) else f"{v:.3f}" for v in g["metric_value"])
        ok = g[g["status"] == "ok"]["metric_value"]
        mean = f"{ok.mean():.3f}" if len(ok) else "—"
        name = g["metric_name"].dropna().iloc[0] if g["metric_name"].notna().any() else "metric"
        print(f"| {subject} | {mode} | {mutant} | {status} | {name}: {values} | {mean} | {g['duration_s'].mean():.1f} |")
    print()
    print(f"{len(runs)} runs; sum of run durations {runs['duration_s'].sum():.0f} s; "
          f"CPU seconds of the wrappers' children (training processes) {cpu_seconds(results / 'runs'):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
