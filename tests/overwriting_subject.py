"""A test-only user subject that, while ``overwrite.on`` exists in the study folder, overwrites every run
record already written (and ``results/runs.tsv``) with junk before it trains (tests/test_invalid_records.py).
No torch work: accuracy 0.5."""

from __future__ import annotations

import json
from pathlib import Path

from greenhp.subjects.base import RunContext, Subject, TrainResult


def run(hp: dict, ctx: RunContext) -> TrainResult:
    if Path("overwrite.on").exists():  # the training runs in the study folder (Snakemake's --directory)
        for path in Path("results/runs").rglob("rep*.json"):
            path.write_text(json.dumps({"status": "ok", "overwritten_by": "overwriting_subject"}))
        Path("results/runs.tsv").write_text("run_id\tstatus\nforged\tok\n")
    ctx.epoch_done(1, 1, 0.1)
    return TrainResult("accuracy", 0.5, dict(hp), 1, 0.01)


OVERWRITING = Subject(
    name="overwriting",
    description="test subject: overwrites the study's finished run records while overwrite.on exists",
    metric_name="accuracy",
    defaults={"epochs": 1, "lr": 0.01},
    run=run,
)
