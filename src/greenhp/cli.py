"""The ``greenhp`` command.

    greenhp measure --out run.json [--config energy.yaml] [--gpu-index N] -- <command ...>
        measure any command's GPU/CPU/DRAM energy the way the workflow does (see greenhp.energy)
    greenhp plan [--configfile FILE ...]
        check a study configuration and print its configurations and job counts
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
    print(f"greenhp: unknown command {command!r}; commands: measure, plan", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
