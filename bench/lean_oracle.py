"""The best any lean decision rule could do on a finished study: an upper bound (greenhp.lean.oracle).

    PYTHONPATH=src python bench/lean_oracle.py RUNS_TSV --configfile CONFIG... [--budget 0.70]
        [--first-waves 2 3] [--target 0.98] [--label NAME]

For each first wave: every subset of mutant groups extended to all repetitions whose runs fit the
budget (a share of the full table's runs) is replayed against the full table's verdicts, and the
best is printed. Originals always get every repetition (docs/lean.md). When the best is below the
target, no setting of the two-stage lean design (first wave, p band, delta band, any rule computed
from the first wave) keeps the target's share of verdicts within that budget on this table.
Markdown, one row per first wave.
"""
import argparse
import time

from greenhp.lean.decide import study_tables
from greenhp.lean.oracle import best_extensions
from greenhp.lean.replay import load_config, read_table, table_repetitions, verdicts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs")
    parser.add_argument("--configfile", nargs="+", default=["config.yaml"])
    parser.add_argument("--label", default="")
    parser.add_argument("--budget", type=float, default=0.70)
    parser.add_argument("--target", type=float, default=0.98)
    parser.add_argument("--first-waves", nargs="+", type=int, default=[2, 3])
    parser.add_argument("--limit", type=int, default=5000, help="most subsets to try per first wave")
    args = parser.parse_args()
    config = load_config(args.configfile)
    analysis = config.get("analysis") or {}
    runs = read_table(args.runs, analysis.get("metric_directions") or None)
    reps = table_repetitions(runs)
    full = verdicts(study_tables(runs, analysis), float(analysis.get("alpha", 0.05)))
    print(f"### {args.label or args.runs}: best verdicts kept within {args.budget:.0%} of the runs "
          f"({len(runs)} runs, {reps} repetitions, {len(full)} verdicts)\n")
    print("| first wave | runs of the first wave | budget (runs) | subsets tried | best kept | "
          "its runs | groups it extends | target reachable |")
    print("|---|---|---|---|---|---|---|---|")
    for k in args.first_waves:
        t0 = time.perf_counter()
        b = best_extensions(runs, k, args.budget, analysis, full_verdicts=full, limit=args.limit)
        took = time.perf_counter() - t0
        if not b.complete:
            why = ("the first wave alone is over the budget" if b.runs_first_wave > b.budget_runs
                   else f"more than {args.limit} subsets: not tried")
            print(f"| {k} | {b.runs_first_wave} | {b.budget_runs} | - | - | - | {why} | - |")
            continue
        reach = "yes" if b.kept_share >= args.target else "no"
        groups = "; ".join(b.best_groups) or "none"
        print(f"| {k} | {b.runs_first_wave} ({b.runs_first_wave / b.runs_full:.1%}) | {b.budget_runs} | "
              f"{b.subsets} ({took:.0f} s) | {b.best_kept}/{b.verdicts} ({b.kept_share:.1%}) | {b.best_runs} | "
              f"{groups} | {reach} |")


if __name__ == "__main__":
    main()
