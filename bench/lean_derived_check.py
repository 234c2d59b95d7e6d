"""Derived against measured on a finished full study (bench/RESULTS.md, "Lean design").

Every check configuration of the config's derive plan (lean.derive_epochs; every derived member when
--all) is read from its source's epoch marks, repetition by repetition, and set beside its own
trained runs: the same numbers the checkpoint's derive_check.tsv shows in a lean study.

    PYTHONPATH=src python bench/lean_derived_check.py STUDY_DIR [--configfile FILE ...] [--all]

STUDY_DIR holds results/runs.tsv and results/runs/ of a study that trained every configuration.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    import pandas as pd

    from greenhp.analysis.tables import load_runs
    from greenhp.lean.derive import check_from_records, derive_plan
    from greenhp.lean.settings import lean_settings
    from greenhp.study import load_config_files, load_study, validate_config

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study_dir", type=Path)
    p.add_argument("--configfile", nargs="+", default=None)
    p.add_argument("--all", action="store_true", help="check every derived member, not only lean.derive_check of them")
    args = p.parse_args(argv)
    config = load_config_files(args.configfile or [str(args.study_dir / "config.yaml")])
    validate_config(config)
    config["lean"] = dict(config.get("lean") or {}, enabled=True, derive_epochs=True)
    if args.all:
        config["lean"]["derive_check"] = 10**6
    study = load_study(config, base_dir=args.study_dir)
    plan = derive_plan(study, lean_settings(config))
    if not plan.families:
        print("no epochs family to derive (no subject declares schedule_depends_on_epochs: false, or no shorter epochs mutant)")
        return 0
    runs = load_runs(args.study_dir / "results" / "runs.tsv")
    check = check_from_records(plan, study, runs, args.study_dir / "results" / "runs")
    cols = ["configuration", "source", "energy_column", "n_pairs", "derived_mean", "measured_mean",
            "energy_error", "energy_error_pct", "spread", "metric_error", "metric_spread", "ok"]
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(check[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
