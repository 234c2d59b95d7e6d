"""Run one hostile_subject run through the run wrapper's Snakemake entry point, as scripts/train.py does:
``python tests/hostile_wrapper.py OUT.json LOG`` (HOSTILE_MODE / HOSTILE_PIDFILE in the environment)."""

import sys
from pathlib import Path

from greenhp.mutation import Mutant
from greenhp.procs import RunInterrupted, RunLocked
from greenhp.runner import run_from_params

HERE = Path(__file__).resolve().parent


def params(timeout_s=120):
    mutant = Mutant("hostile__original", "hostile", "none", "none", None, None, {"epochs": 1, "lr": 0.01})
    return {"mode": "single", "mutant": mutant, "repetition": 1, "seed": 1, "device": "cpu", "torch_threads": 1,
            "data": {}, "max_steps": 1, "timeout_s": timeout_s,
            "energy": {"gpu_meter": "none", "idle_seconds": 0, "settle_timeout_s": 0},
            "modules": {"hostile": f"{HERE / 'hostile_subject.py'}:HOSTILE"}}


if __name__ == "__main__":
    try:
        run_from_params(params(), sys.argv[1], {"main": sys.argv[2]}, 1)
    except RunInterrupted as err:
        sys.exit(err.exit_code)
    except RunLocked as err:
        sys.exit(f"greenhp: {err}")
