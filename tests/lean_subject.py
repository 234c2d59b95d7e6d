"""A test-only user subject for the lean design (tests/test_lean_workflow.py, tests/test_slurm.py):
no torch, no energy meters needed; each run spins the CPU briefly and reports an accuracy set per
configuration, with a fixed noise per repetition, so that the first wave's p-values are known:

    accuracy = MEAN[lr] + SD * (-1, +1, -1, +1, ...)[repetition - 1]

The repetition is the run's seed less ``SEED`` (greenhp.study.run_spec: seed = config seed + rep), so
a study using it sets ``seed: SEED``. With the original (lr 0.1) at 3 repetitions and a mutant at 2,
Welch's t-test gives p 0.81 (lr 0.2, the same mean: decided), 0.002 (lr 0.4: decided) and 0.20
(lr 0.05: open in a band such as [0.02, 0.3)).
"""

from __future__ import annotations

import time

from greenhp.subjects.base import RunContext, Subject, TrainResult

SEED = 1000
SD = 0.01
MEAN = {0.1: 0.50, 0.2: 0.50, 0.4: 0.80, 0.05: 0.52}


def accuracy(lr: float, repetition: int) -> float:
    mean = next(v for k, v in MEAN.items() if abs(k - lr) < 1e-9)
    return mean + SD * (1 if repetition % 2 == 0 else -1)


def run(hp: dict, ctx: RunContext) -> TrainResult:
    epochs, lr = int(hp["epochs"]), float(hp["lr"])
    value = accuracy(lr, ctx.seed - SEED)
    start = time.perf_counter()
    for k in range(1, epochs + 1):
        end = time.process_time() + 0.02
        while time.process_time() < end:
            pass
        ctx.epoch_done(k, epochs, 1.0 / k, accuracy=value)
    return TrainResult("accuracy", value, {"epochs": epochs, "lr": lr}, epochs, time.perf_counter() - start)


LEAN = Subject(name="lean", description="test subject: accuracy set per configuration (lean design tests)",
               metric_name="accuracy", defaults={"epochs": 2, "lr": 0.1}, run=run)
