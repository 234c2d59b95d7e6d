"""A test-only user subject whose phase marks misbehave as ``MARKS_MODE`` (environment) says
(tests/test_marks_runs.py). Its run has ``hp["epochs"]`` epochs and trains nothing.

raw: writes raw lines to the marks descriptor: epochs 3, 2, 1 (out of order), -5, 0, -1, wrong types
and epoch 3 four more times; partial: marks epoch 1 of 3; str_metric: ``epoch_done`` with the metric
"y"; close: closes the marks descriptor before training; epochs_run: reports ``epochs_run=999``;
flood: marks every epoch of ``hp["epochs"]`` (50,000) directly, as a per-step mark would; ok: marks
every epoch through ``epoch_done``.
"""

from __future__ import annotations

import json
import os
import time

from greenhp.subjects.base import RunContext, Subject, TrainResult

RAW = [
    *({"name": "epoch", "epoch": e, "epochs": 3, "metric_name": "accuracy", "metric": 0.5, "loss": 0.1}
      for e in (3, 2, 1, -5, 0, -1)),
    {"name": "epoch", "epoch": "x", "metric": "y"},
    {"epoch": {"a": 1}},
    {"name": "epoch", "epoch": {"a": 1}},
    *({"name": "epoch", "epoch": 3, "metric": 0.9} for _ in range(4)),
]


def raw_line(obj) -> bytes:
    return (json.dumps({"t": time.time(), **obj}) + "\n").encode()


def run(hp: dict, ctx: RunContext) -> TrainResult:
    mode = os.environ.get("MARKS_MODE", "ok")
    epochs = int(hp["epochs"])
    fd = int(os.environ["GREENHP_MARKS_FD"])
    epochs_run = epochs
    if mode == "raw":
        for obj in RAW:
            os.write(fd, raw_line(obj))
    elif mode == "partial":
        ctx.epoch_done(1, epochs, 0.1, accuracy=0.5)
    elif mode == "str_metric":
        ctx.epoch_done(1, epochs, 0.1, accuracy="y")
    elif mode == "close":
        os.close(fd)
    elif mode == "flood":
        for e in range(1, epochs + 1):
            ctx.marker("epoch", epoch=e, epochs=epochs, loss=0.1)
    else:
        for e in range(1, epochs + 1):
            ctx.epoch_done(e, epochs, 0.1, accuracy=0.5)
        if mode == "epochs_run":
            epochs_run = 999
    return TrainResult("accuracy", 0.5, dict(hp), epochs_run, 0.01)


MARKS = Subject(
    name="marks",
    description="test subject: sends odd phase marks, as MARKS_MODE says",
    metric_name="accuracy",
    defaults={"epochs": 3, "lr": 0.01},
    run=run,
)
