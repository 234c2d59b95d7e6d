"""Test-only user subjects for derived epochs rows in the workflow (tests/test_lean_derive_workflow.py):
no torch; each epoch spins the CPU for a fixed CPU time and marks a task metric, so the energy
(``energy.cpu_meter: estimate``, CPU seconds x watts) and the metric of every epoch are known.

The repetition (the run's seed less ``SEED``) sets the CPU time per epoch: 0.05 s on odd, 1 s on
even repetitions, so the configurations' run-to-run spread is large against the timing noise and
the check of derived against measured passes where the subject keeps its promise.

- ``STABLE`` declares ``schedule_depends_on_epochs: False`` and keeps it: epoch k's metric is
  ``0.5 + 0.05 k`` whatever the total, so the first E epochs of a longer run are an E-epoch run.
- ``TOTAL`` declares False but breaks it: epoch k's metric is ``0.5 + 0.4 k / epochs``, so a prefix's
  metric differs from an E-epoch run's by far more than the run-to-run spread (0.01) and the check
  fails.
- ``DECLARED`` declares True, ``UNDECLARED`` declares nothing: never derived.
- ``BANDED`` declares False and keeps it, with epoch k's metric set per epoch (``BANDED_METRIC``) for
  the adaptive design together with derived rows (tests/test_lean_combo_workflow.py): with the
  original at 3 epochs and 3 repetitions and a mutant at 2, Welch's p on the metric is 0.81 at 1
  epoch (same mean), 0.20 at 2 epochs (open in a band such as [0.02, 0.3)) and 0.002 at 4 epochs
  (as in tests/lean_subject.py, whose noise pattern this is).
"""

from __future__ import annotations

import time

from greenhp.subjects.base import RunContext, Subject, TrainResult

SEED = 2000
SD = 0.01


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def _run(metric):
    def run(hp: dict, ctx: RunContext) -> TrainResult:
        epochs, rep = int(hp["epochs"]), ctx.seed - SEED
        start = time.perf_counter()
        value = None
        for k in range(1, epochs + 1):
            burn(0.05 if rep % 2 else 1.0)
            value = metric(k, epochs) + SD * (1 if rep % 2 == 0 else -1)
            ctx.epoch_done(k, epochs, 1.0 / k, accuracy=value)
        return TrainResult("accuracy", value, {"epochs": epochs, "lr": float(hp["lr"])}, epochs,
                           time.perf_counter() - start)

    return run


def _subject(name: str, metric, schedule: bool | None) -> Subject:
    return Subject(name=name, description=f"test subject {name} (derived epochs rows)", metric_name="accuracy",
                   defaults={"epochs": 3, "lr": 0.1}, run=_run(metric), schedule_depends_on_epochs=schedule)


STABLE = _subject("stable", lambda k, epochs: 0.5 + 0.05 * k, False)
TOTAL = _subject("total", lambda k, epochs: 0.5 + 0.4 * k / epochs, False)
DECLARED = _subject("declared", lambda k, epochs: 0.5 + 0.05 * k, True)
UNDECLARED = _subject("undeclared", lambda k, epochs: 0.5 + 0.05 * k, None)
BANDED_METRIC = {1: 0.50, 2: 0.52, 3: 0.50, 4: 0.80}
BANDED = _subject("banded", lambda k, epochs: BANDED_METRIC[k], False)
