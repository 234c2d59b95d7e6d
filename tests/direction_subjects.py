"""Test-only user subjects whose task metrics are not in greenhp's list of known names, or go the
other way than their name suggests (tests/test_directions_study.py). No torch: each epoch spins
the CPU briefly (so it costs energy) and reports a deterministic curve with a little seeded noise.

PPL: ``val_ppl``, declared minimize: 2 + 11 exp(-15 lr (k - 1)), 13 falling to about 2.
PSNR: ``psnr``, declared maximize: 30 - 20 exp(-15 lr (k - 1)), 10 rising to about 30.
SCORE: ``loss`` declared *maximize* (a score its author calls loss): 1 - 0.5^k, reported per
epoch as ``test_loss``.
"""

from __future__ import annotations

import math
import random
import time

from greenhp.subjects.base import RunContext, Subject, TrainResult


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1


def _subject(name: str, metric: str, direction: str, curve, epoch_key: str) -> Subject:
    def run(hp: dict, ctx: RunContext) -> TrainResult:
        rng = random.Random(ctx.seed)
        epochs, lr = int(hp["epochs"]), float(hp["lr"])
        start, value = time.perf_counter(), math.nan
        for k in range(1, epochs + 1):
            _spin(0.02)
            value = curve(k, lr) * (1 + 0.001 * rng.uniform(-1, 1))
            ctx.epoch_done(k, epochs, 1.0 / k, **{epoch_key: value})
        return TrainResult(metric, value, {"epochs": epochs, "lr": lr}, epochs, time.perf_counter() - start)

    return Subject(name=name, description=f"test subject: a {metric} curve ({direction})", metric_name=metric,
                   metric_direction=direction, defaults={"epochs": 5, "lr": 0.1}, run=run,
                   schedule_depends_on_epochs=False)


PPL = _subject("ppl", "val_ppl", "minimize", lambda k, lr: 2 + 11 * math.exp(-15 * lr * (k - 1)), "val_ppl")
PSNR = _subject("psnr", "psnr", "maximize", lambda k, lr: 30 - 20 * math.exp(-15 * lr * (k - 1)), "psnr")
SCORE = _subject("score", "loss", "maximize", lambda k, lr: 1 - 0.5 ** k, "test_loss")
