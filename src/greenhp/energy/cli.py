"""``greenhp measure --out run.json [--config energy.yaml] [--gpu-index N] -- <command ...>``.

Exit code = the command's; 2 for usage/config errors (message on stderr naming the bad value).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from .command import measure_command, out_path_problem
from .config import EnergyConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="greenhp measure",
        description="Run a command as a child and record its GPU/CPU/DRAM energy as JSON.")
    p.add_argument("--out", required=True, help="run record path (JSON, written atomically)")
    p.add_argument("--config", help="YAML: the energy mapping itself, or a study config with an 'energy:' key")
    p.add_argument("--gpu-index", type=int, default=None, help="NVML index of the GPU to measure")
    p.add_argument("--kill-grace-s", type=float, default=10.0,
                   help="after forwarding SIGINT/SIGTERM, SIGKILL the command if it still runs this long (default 10)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    return p


def load_config(path: str | None) -> EnergyConfig:
    if path is None:
        return EnergyConfig()
    import yaml
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise ValueError(f"--config {path}: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise ValueError(f"--config {path}: not valid YAML: {e}") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected a mapping, got {type(data).__name__}")
    if "energy" in data:
        data = data["energy"] or {}
    try:
        return EnergyConfig.from_dict(data)
    except ValueError as e:
        raise ValueError(f"--config {path}: {e}") from e


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "measure":
        argv = argv[1:]
    p = _parser()
    # split at the first "--" ourselves so the command's own options never reach argparse
    if "--" in argv:
        i = argv.index("--")
        opts, cmd = argv[:i], argv[i + 1:]
    else:
        opts, cmd = argv, []
    a = p.parse_args(opts)
    if a.command:
        p.error(f"unexpected arguments before '--': {' '.join(a.command)} (put the command after --)")
    if not cmd:
        p.error("no command given: greenhp measure --out run.json -- <command ...>")
    if a.gpu_index is not None and a.gpu_index < 0:
        p.error(f"--gpu-index: {a.gpu_index} must be >= 0")
    if not a.kill_grace_s >= 0 or a.kill_grace_s == float("inf"):
        p.error(f"--kill-grace-s: {a.kill_grace_s} must be a finite number >= 0")
    try:
        cfg = load_config(a.config)
    except ValueError as e:
        p.error(str(e))
    problem = out_path_problem(a.out)
    if problem:  # before the command runs: a long job must not end without a place for its record
        p.error(f"--out {a.out}: {problem}")
    rc = measure_command(cmd, a.out, cfg, gpu_index=a.gpu_index, kill_grace_s=a.kill_grace_s)
    try:
        with open(a.out) as fh:
            print(f"greenhp measure: {summary(json.load(fh))} -> {a.out}", file=sys.stderr)
    except (OSError, ValueError) as e:
        print(f"greenhp measure: no record at {a.out}: {e}", file=sys.stderr)
    return rc


def _domain(name: str, d: dict) -> str:
    if d.get("energy_j") is None:
        return f"{name} not measured ({d.get('reason') or 'no reason given'})"
    return f"{name} {d['energy_j']:.1f} J ({d['method']})"


def summary(record: dict) -> str:
    """One line for the terminal: exit code, duration, each domain's joules and method (or why not)."""
    head = f"exit code {record.get('returncode')}" + (f" (killed by {record['signal']})" if record.get("signal") else "")
    if record.get("error"):
        return f"{head}: {record['error']}"
    e = record.get("energy") or {}
    parts = [head, f"{(e.get('window') or {}).get('duration_s', float('nan')):.2f} s"]
    parts += [_domain(k, e.get(k) or {}) for k in ("gpu", "cpu", "dram")]
    total = e.get("total") or {}
    if total.get("energy_j") is not None:
        parts.append(f"total {total['energy_j']:.1f} J" + (" (includes an estimate)" if total.get("estimated") else ""))
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
