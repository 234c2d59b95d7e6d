"""A test-only user-defined subject whose runs fail in chosen ways (tests/test_failures.py).

No torch work: lr >= 1000 diverges (NaN loss), weight_decay == 0.5 crashes like a CUDA OOM,
epochs >= 50 hangs past train.timeout_s, epochs == 7 reports other hyperparameters than requested (a
subject bug: the job fails); anything else finishes with accuracy 0.5.
"""

from __future__ import annotations

import time

from greenhp.subjects.base import RunContext, Subject, TrainResult


def run(hp: dict, ctx: RunContext) -> TrainResult:
    if hp["weight_decay"] == 0.5:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
    if hp["epochs"] >= 50:
        time.sleep(600)
    epochs = int(hp["epochs"])
    for epoch in range(1, epochs + 1):
        ctx.epoch_done(epoch, epochs, float("nan") if hp["lr"] >= 1000 else 1.0 / epoch)
    effective = dict(hp, epochs=6) if epochs == 7 else dict(hp)
    return TrainResult("accuracy", 0.5, effective, epochs, 0.01)


FAULTY = Subject(
    name="faulty",
    description="test subject: diverges, crashes (simulated OOM) or hangs depending on its hyperparameters",
    metric_name="accuracy",
    defaults={"epochs": 2, "lr": 0.01, "weight_decay": 0.0001},
    run=run,
)
