#!/usr/bin/env python
"""Checks of a finished GPU study (bench/gpu_study.yaml, run by bench/device_check.sh).

    python bench/gpu_study_check.py STUDY_DIR --wall-s SECONDS [--report-s SECONDS] [--out check.md]

Reads every run record under STUDY_DIR/results/runs and prints one Markdown table:
the run count (single and pair), every record's GPU method (`nvml_counter` wanted) and training-GPU
verdict (`match` wanted), pair shares summing to the device total, the report, the study's wall
time against 6 minutes, its efficiency (sum of the training processes' durations / wall time),
and the per-run fixed cost: (wall - sum of durations) / runs, split into what the wrapper spent
before each window (settle, baseline, RAPL: ``energy.idle.prepare_s``) and the rest (Snakemake,
process start-up, record writing). Exit 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys

WALL_TARGET_S = 360.0
MIN_RUNS = 20
SHARE_TOLERANCE = 0.01
LONG_RUN_S = 30.0          # efficiency target >= 0.85 applies to studies whose runs last >= 30 s
EFFICIENCY_TARGET = 0.85


def load_records(study: str) -> list[dict]:
    recs = []
    for path in sorted(glob.glob(os.path.join(study, "results", "runs", "**", "*.json"), recursive=True)):
        with open(path) as fh:
            r = json.load(fh)
        if isinstance(r, dict) and "run_id" in r:
            r["_path"] = os.path.relpath(path, study)
            recs.append(r)
    return recs


def pair_share_error(r: dict) -> float | None:
    """|sum of the pair's GPU shares - device total| / device total; None without both numbers."""
    g = (r.get("energy") or {}).get("gpu") or {}
    att = (r.get("energy") or {}).get("attribution") or {}
    shares = [v.get("gpu_j") for v in att.values()]
    total = g.get("energy_j")
    if not shares or any(s is None for s in shares) or not total:
        return None
    return abs(sum(shares) - total) / total


def checks(recs: list[dict], wall_s: float, report_ok: bool, report_s: float | None = None) -> tuple[list, bool, dict]:
    """Rows (check, result, target, PASS/FAIL), whether all passed, and the figures."""
    rows, ok_all = [], True

    def row(name, result, target, ok):
        nonlocal ok_all
        ok_all = ok_all and bool(ok)
        rows.append((name, result, target, "PASS" if ok else "FAIL"))

    n = len(recs)
    single = [r for r in recs if r.get("mode") == "single"]
    pair = [r for r in recs if r.get("mode") == "pair"]
    row("runs", f"{n} ({len(single)} single, {len(pair)} pair)", f">= {MIN_RUNS}, both modes",
        n >= MIN_RUNS and single and pair)
    bad_status = [r["_path"] for r in recs if r.get("status") != "ok"]
    row("status ok", f"{n - len(bad_status)}/{n}" + (f"; not ok: {', '.join(bad_status[:3])}" if bad_status else ""),
        "all", n and not bad_status)
    methods: dict[str, int] = {}
    for r in recs:
        m = ((r.get("energy") or {}).get("gpu") or {}).get("method")
        methods[str(m)] = methods.get(str(m), 0) + 1
    row("GPU method", ", ".join(f"{k} x{v}" for k, v in sorted(methods.items())), "nvml_counter for every record",
        n and set(methods) == {"nvml_counter"})
    verdicts: dict[str, int] = {}
    for r in recs:
        v = (((r.get("energy") or {}).get("gpu") or {}).get("training_gpu") or {}).get("verdict")
        verdicts[str(v)] = verdicts.get(str(v), 0) + 1
    row("training GPU verdict", ", ".join(f"{k} x{v}" for k, v in sorted(verdicts.items())), "match for every record",
        n and set(verdicts) == {"match"})
    errs = [pair_share_error(r) for r in pair]
    worst = max((e for e in errs if e is not None), default=None)
    row("pair shares = device total", f"{sum(e is not None for e in errs)}/{len(pair)} pairs with shares; worst "
        + ("—" if worst is None else f"{100 * worst:.3f} %"), f"all pairs, within {100 * SHARE_TOLERANCE:g} %",
        pair and all(e is not None and e <= SHARE_TOLERANCE for e in errs))
    row("report", "results/report.html built" + (f" in {report_s:.1f} s" if report_s is not None else "")
        if report_ok else "not built", "built", report_ok)
    row("study wall time", f"{wall_s:.1f} s", f"<= {WALL_TARGET_S:g} s", wall_s <= WALL_TARGET_S)

    dur = [((r.get("timing") or {}).get("duration_s") or 0.0) for r in recs]
    train = [((r.get("timing") or {}).get("train_seconds") or 0.0) for r in recs]
    prep = [((r.get("energy") or {}).get("idle") or {}).get("prepare_s") for r in recs]
    prep = [p for p in prep if p is not None]
    settle = [((r.get("energy") or {}).get("idle") or {}).get("settle_s") for r in recs]
    settle = [s for s in settle if s is not None]
    sources: dict[str, int] = {}
    ages = []
    for r in recs:
        idle = (r.get("energy") or {}).get("idle") or {}
        src = (idle.get("baseline") or {}).get("source", "none")
        sources[src] = sources.get(src, 0) + 1
        if idle.get("baseline_age_s") is not None:
            ages.append(idle["baseline_age_s"])
    fig = {"runs": n, "wall_s": wall_s, "sum_duration_s": sum(dur), "sum_train_s": sum(train)}
    if n and wall_s > 0:
        fig["efficiency"] = sum(dur) / wall_s
        fig["fixed_s_per_run"] = (wall_s - sum(dur)) / n
        fig["prepare_s_median"] = statistics.median(prep) if prep else None
        fig["mean_run_s"] = sum(dur) / n
        fig["efficiency_at_30s_runs"] = LONG_RUN_S / (LONG_RUN_S + fig["fixed_s_per_run"])
        rows.append(("efficiency (sum of training-process durations / wall)",
                     f"{fig['efficiency']:.3f} (runs {fig['mean_run_s']:.1f} s on average; sum of the "
                     f"training loops alone {sum(train):.1f} s = {sum(train) / wall_s:.3f})",
                     "reported (target >= 0.85 applies to runs >= 30 s)", "—"))
        row("per-run fixed cost", f"{fig['fixed_s_per_run']:.2f} s per run = (wall - sum of durations) / runs; "
            f"of it, before each window (settle + baseline): median {fig['prepare_s_median'] or 0:.2f} s, "
            f"settle median {statistics.median(settle) if settle else 0:.2f} s",
            f"<= {LONG_RUN_S * (1 - EFFICIENCY_TARGET) / EFFICIENCY_TARGET:.2f} s "
            f"(so that {LONG_RUN_S:g} s runs reach {EFFICIENCY_TARGET})",
            fig["efficiency_at_30s_runs"] >= EFFICIENCY_TARGET)
        rows.append(("efficiency projected for 30 s runs", f"{fig['efficiency_at_30s_runs']:.3f} = 30 / (30 + fixed cost)",
                     f">= {EFFICIENCY_TARGET}", "—"))
        rows.append(("baselines", ", ".join(f"{k} x{v}" for k, v in sorted(sources.items()))
                     + (f"; age median {statistics.median(ages):.0f} s, max {max(ages):.0f} s" if ages else ""),
                     "measured once, then cache", "—"))
    return rows, ok_all, fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study", help="the study's working directory")
    ap.add_argument("--wall-s", type=float, required=True, help="the study's wall time (Snakemake start to end)")
    ap.add_argument("--report-s", type=float, help="time taken by snakemake --report")
    ap.add_argument("--out", help="also write the table here")
    a = ap.parse_args(argv)
    recs = load_records(a.study)
    report_ok = os.path.isfile(os.path.join(a.study, "results", "report.html"))
    rows, ok, fig = checks(recs, a.wall_s, report_ok, a.report_s)
    lines = ["| check | result | target | verdict |", "|---|---|---|---|"]
    lines += [f"| {c} | {r} | {t} | {v} |" for c, r, t, v in rows]
    lines.append("")
    lines.append("figures: " + json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in fig.items()}))
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
