"""The ``greenhp`` command.

    greenhp measure --out run.json [--config energy.yaml] [--gpu-index N] -- <command ...>
        measure any command's GPU/CPU/DRAM energy the way the workflow does (see greenhp.energy)
    greenhp plan [--configfile FILE ...] [--estimate [--cores N] [--gpus N] [--tsv PATH] ...]
        check a study configuration, print its job counts and its mutant table; with --estimate,
        calibrate on this machine and predict the study's time, energy, CO2e and cost
    greenhp replay --runs-table FILE [--configfile FILE ...] --out DIR
        replay the config's lean design (docs/lean.md) on a complete runs table, without training:
        the runs it would have used, their share of runs and seconds, every verdict that would differ
"""

from __future__ import annotations

import sys
from typing import Sequence


def plan(argv: Sequence[str]) -> int:
    """Validate a study configuration the way the Snakefile does and print what it would run."""
    import argparse
    import os

    from greenhp.study import StudyError, describe, load_config_files, load_study, validate_config

    parser = argparse.ArgumentParser(prog="greenhp plan", description="Check a study config and count its jobs.")
    parser.add_argument("--configfile", nargs="+", default=None, metavar="FILE",
                        help="the study, as for snakemake: these files merged in order (default: config.yaml)")
    add_estimate_arguments(parser)
    args = parser.parse_args(argv)
    paths = args.configfile or ["config.yaml"]
    try:
        for path in paths:
            if not os.path.isfile(path):
                raise StudyError(f"config file {path}: not found")
        config = load_config_files(paths)
    except StudyError as err:
        print(f"greenhp plan: cannot read {err}", file=sys.stderr)
        return 2
    try:
        validate_config(config)
        study = load_study(config)
    except (OSError, StudyError) as err:
        print(f"greenhp plan: configuration rejected: {err}", file=sys.stderr)
        return 2
    for key, value in describe(study).items():
        print(f"{key}\t{value}")
    return show_plan(args, config, study)


def add_estimate_arguments(parser) -> None:
    """plan's options for the mutant table and the estimate (greenhp.cost)."""
    parser.add_argument("--no-table", action="store_true", help="do not print the mutant table")
    parser.add_argument("--estimate", action="store_true",
                        help="calibrate on this machine (short runs of each original, or earlier records) and "
                             "predict the study's time, energy, CO2e and cost")
    parser.add_argument("--cores", type=int, default=2, help="cores given to snakemake (default 2, as make study)")
    parser.add_argument("--gpus", type=int, default=None, help="GPUs given to snakemake (default: those NVML sees)")
    parser.add_argument("--tsv", default="results/estimate.tsv",
                        help="write the estimate here ('' = do not write; default results/estimate.tsv, which "
                             "the workflow's footprint table compares against)")
    parser.add_argument("--calibration", default=None,
                        help="a calibration file (YAML: each original's seconds and joules) instead of measuring")
    parser.add_argument("--repeats", type=int, default=1, help="calibration runs per point (default 1; 2 measures their spread)")
    parser.add_argument("--recalibrate", action="store_true", help="measure again; ignore earlier records")


def show_plan(args, config: dict, study) -> int:
    """Print the mutant table and, with --estimate, the study's estimate."""
    from greenhp.cost import (CalibrationError, estimate_study, format_calibration, format_estimate,
                              write_estimate_tsv)
    from greenhp.mutation import format_mutants

    if not args.no_table:
        print()
        print(format_mutants(study.mutants))
    if not args.estimate:
        return 0
    try:
        est, cal = estimate_study(config, study, cores=args.cores, gpus=args.gpus, calibration=args.calibration,
                                  repeats=args.repeats, reuse=not args.recalibrate,
                                  log=lambda line: print(line, file=sys.stderr, flush=True))
    except CalibrationError as err:  # one line naming the file, the subject and the field
        print(f"greenhp plan: calibration rejected: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except (OSError, ValueError, RuntimeError) as err:
        print(f"greenhp plan: estimate failed: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    print()
    print(format_calibration(cal))
    print(format_estimate(est))
    if args.tsv:
        print(f"estimate written to {write_estimate_tsv(est, args.tsv)}")
    return 0


def replay(argv: Sequence[str]) -> int:
    """The lean design replayed on a finished runs table (greenhp.lean.replay); bad input: exit 2."""
    import argparse

    from greenhp.lean.replay import ReplayError, load_config, replay_file

    parser = argparse.ArgumentParser(prog="greenhp replay",
                                     description="Replay the lean design of a study config on a complete runs table.")
    parser.add_argument("--runs-table", required=True, metavar="FILE",
                        help="a finished study's results/runs.tsv, or a table in the import format of docs/analysis.md")
    parser.add_argument("--configfile", nargs="+", default=["config.yaml"], metavar="FILE",
                        help="the study config whose lean: and analysis: settings are replayed, merged in order "
                             "(default: config.yaml)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="writes DIR/replay.tsv, DIR/replay_summary.tsv and DIR/decisions.tsv")
    args = parser.parse_args(argv)
    try:
        _, text = replay_file(args.runs_table, load_config(args.configfile), args.out)
    except ReplayError as err:
        print(f"greenhp replay: {err}", file=sys.stderr)
        return 2
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "measure":
        from greenhp.energy.cli import main as measure_main

        return measure_main(rest)
    if command == "plan":
        return plan(rest)
    if command == "replay":
        return replay(rest)
    print(f"greenhp: unknown command {command!r}; commands: measure, plan, replay", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
