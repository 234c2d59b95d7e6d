"""A test-only user subject that closes the phase-marks descriptor as soon as it runs (issue 22,
item 7): its runs finish ok with no training window (empty ``train_*`` columns). No torch work: it
keeps the CPU busy for ``epochs`` x 0.05 s and reports accuracy 0.5."""

from __future__ import annotations

import os
import time

from greenhp.marks import ENV_FD
from greenhp.subjects.base import RunContext, Subject, TrainResult


def run(hp: dict, ctx: RunContext) -> TrainResult:
    fd = os.environ.get(ENV_FD, "")
    if fd.isdigit():
        os.close(int(fd))
    epochs = int(hp["epochs"])
    end = time.process_time() + 0.05 * epochs
    while time.process_time() < end:
        pass
    for epoch in range(1, epochs + 1):
        ctx.epoch_done(epoch, epochs, 0.5)  # lost: the channel is closed
    return TrainResult("accuracy", 0.5, dict(hp), epochs, 0.05 * epochs)


SILENT = Subject(
    name="silent",
    description="test subject: closes the phase-marks channel, so its runs have no training window",
    metric_name="accuracy",
    defaults={"epochs": 2, "lr": 0.01},
    run=run,
)
