"""The lean design replayed on finished studies (greenhp.lean.replay) over a grid of settings.

    PYTHONPATH=src python bench/lean_replays.py RUNS_TSV --configfile CONFIG... [--label NAME]
    PYTHONPATH=src python bench/lean_replays.py synthetic:SEED [--bands 0.005,0.3 ...]

``synthetic:SEED``: the reference-shaped synthetic table of bench/reanalysis_scale.py
(``published_like(SEED)``: 135 mutants, 720 runs, energy proportional to epochs with 1 % (single) and
4 % (pair) run-to-run spread, accuracy falling with |log lr|), not a measurement.

For each first wave (2, 3) and p band of the grid: the share of runs and of seconds the lean design
would have trained, the share of mutant groups it extends after the first wave (what
lean.expected_extension estimates), the verdicts kept, and every verdict that differs. Markdown.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

from greenhp.lean.decide import study_tables
from greenhp.lean.replay import load_config, read_table, replay, replay_settings, table_repetitions, verdicts

BANDS = [(0.005, 0.3), (0.01, 0.3), (0.02, 0.3), (0.05, 0.3), (0.005, 0.25), (0.005, 0.2), (0.02, 0.2),
         (0.005, 0.5)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs")
    parser.add_argument("--configfile", nargs="+", default=["config.yaml"])
    parser.add_argument("--label", default="")
    parser.add_argument("--first-waves", nargs="+", type=int, default=[2, 3])
    parser.add_argument("--bands", nargs="+", default=None, metavar="LOW,HIGH")
    args = parser.parse_args()
    bands = [tuple(float(x) for x in b.split(",")) for b in args.bands] if args.bands else BANDS
    if args.runs.startswith("synthetic:"):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from reanalysis_scale import published_like

        path = Path(tempfile.mkdtemp()) / "published.tsv"
        published_like(int(args.runs.split(":", 1)[1])).to_csv(path, sep="\t", index=False)
        args.runs = str(path)
    config = load_config(args.configfile)
    analysis = config.get("analysis") or {}
    runs = read_table(args.runs, analysis.get("metric_directions") or None)
    reps = table_repetitions(runs)
    t0 = time.perf_counter()
    full = verdicts(study_tables(runs, analysis), float(analysis.get("alpha", 0.05)))
    print(f"### {args.label or args.runs}: {len(runs)} runs, {reps} repetitions, {len(full)} verdicts "
          f"(full analysis {time.perf_counter() - t0:.1f} s)\n")
    print("| first wave | p band | runs | seconds | groups extended | verdicts kept | differences "
          "| kept, correlations left out | false positives lean / fixed (simulated) |")
    print("|---|---|---|---|---|---|---|---|---|")
    notes = []
    for first_wave in args.first_waves:
        for band in bands:
            lean = dict(config.get("lean") or {}, first_wave=first_wave, p_band=list(band), delta_band=None)
            settings = replay_settings({**config, "lean": lean}, reps)
            r = replay(runs, settings, analysis, full_verdicts=full)
            s = r.summary.iloc[0]
            diff = r.replay[~r.replay["same"]]
            nocorr = r.replay[r.replay["kind"] != "correlation"]
            name = f"{first_wave}, [{band[0]:g}, {band[1]:g})"
            print(f"| {first_wave} | [{band[0]:g}, {band[1]:g}) | {s.runs_lean}/{s.runs_full} = "
                  f"{s.runs_lean / s.runs_full:.1%} | {s.seconds_lean / s.seconds_full:.1%} | "
                  f"{s.groups_extended}/{s.groups} = {s.extension_share:.1%} | "
                  f"{s.verdicts_kept}/{s.verdicts} = {s.verdicts_kept / s.verdicts:.1%} | {len(diff)} | "
                  f"{nocorr['same'].mean():.1%} | {s.false_positive_lean:.3f} / {s.false_positive_fixed:.3f} |")
            for d in diff.itertuples():
                where = " ".join(x for x in (d.subject, d.mode, d.partner) if x)
                notes.append(f"- {name}: {d.kind} {where} {d.mutant_id}: full {d.full}, lean {d.lean}")
    print(f"\nseconds: {s.seconds_kind} (sum of duration_s)\n")
    print("Differences:\n" + ("\n".join(notes) if notes else "- none"))


if __name__ == "__main__":
    main()
