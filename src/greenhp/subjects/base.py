"""What every subject provides, and the small helpers their training loops share.

A *subject* is a model + data set + training procedure, written like a pytorch/examples script:
``run(hp, ctx)`` trains with the hyperparameters ``hp`` and returns a :class:`TrainResult`
holding the task metric and the hyperparameters it *actually used* (read back from the optimiser,
scheduler and data loader, not copied from ``hp``), so a mismatch can be caught.
"""

from __future__ import annotations

import math
import operator
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from greenhp.directions import DIRECTIONS, resolve_direction


class Diverged(Exception):
    """The loss became NaN or infinite: the run ends with status ``diverged`` (a result)."""


class DataMissing(Exception):
    """A real data set is not on disk and downloading is switched off."""


@dataclass(frozen=True)
class HyperParameter:
    """One tunable hyperparameter of a subject: its type and the values it may take."""

    name: str
    kind: type  # int or float
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # upper bound
    low_open: bool = False  # True: value must be > low
    high_open: bool = False  # True: value must be < high

    def check(self, value: Any, where: str = "") -> int | float:
        """Return ``value`` converted to this kind, or raise ValueError naming the bad value."""
        label = f"{where}{self.name}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{label}: expected a number, got {value!r}")
        if self.kind is int:
            if float(value) != int(value):
                raise ValueError(f"{label}: expected an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{label}: expected a finite number, got {value!r}")
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise ValueError(f"{label}: {value!r} is out of range; allowed: {self.describe()}")
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            raise ValueError(f"{label}: {value!r} is out of range; allowed: {self.describe()}")
        return value

    def describe(self) -> str:
        lo = "-inf" if self.low is None else repr(self.low)
        hi = "inf" if self.high is None else repr(self.high)
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"{self.kind.__name__} in {left}{lo}, {hi}{right}"


# The hyperparameters greenhp knows, with their valid ranges. Subjects pick from these.
HYPERPARAMETERS: dict[str, HyperParameter] = {
    hp.name: hp
    for hp in (
        HyperParameter("epochs", int, low=1),
        HyperParameter("lr", float, low=0.0, low_open=True),
        HyperParameter("weight_decay", float, low=0.0),
        HyperParameter("gamma", float, low=0.0, high=1.0, low_open=True),
        HyperParameter("momentum", float, low=0.0, high=1.0, high_open=True),
        HyperParameter("batch_size", int, low=1),
        HyperParameter("dropout", float, low=0.0, high=1.0, high_open=True),
        HyperParameter("threshold", float, low=0.0, low_open=True),
    )
}


@dataclass
class RunContext:
    """What a subject's ``run`` gets besides its hyperparameters."""

    device: str = "cpu"  # "cpu" or "cuda"
    seed: int = 0
    data: dict[str, Any] = field(default_factory=dict)  # source: standin|real, root, download, scale
    log: Callable[[str], None] = print
    max_steps: int | None = None  # stop each epoch after this many steps (smoke runs)
    # phase marks (set by greenhp.train): marker(name, **fields) tells the run wrapper to read every
    # energy meter now; subjects need not know about it (epoch_done marks each epoch)
    marker: Callable[..., None] | None = None

    def epoch_done(self, epoch: int, epochs: int, loss: float, **metrics: float) -> None:
        """Log one epoch's progress (and mark its end for per-epoch energy); stop the run as
        diverged on a NaN/inf loss. ``loss`` must be a number (TypeError otherwise: the run fails
        with that reason); a metric that is not a number is logged as it is and sent unchanged, and
        the run wrapper drops that epoch's mark and says so in the record (greenhp.marks)."""
        loss_value = as_number(loss)
        if loss_value is None:
            raise TypeError(f"epoch_done(epoch {epoch!r}): loss must be a number, got {loss!r} "
                            f"({type(loss).__name__})")
        shown = " ".join(f"{k}={_shown(v)}" for k, v in metrics.items())
        self.log(f"epoch {epoch}/{epochs} loss={loss_value:.4f} {shown}".rstrip())
        if self.marker is not None:
            self.marker("epoch", epoch=as_integer(epoch), epochs=as_integer(epochs), loss=loss_value,
                        metrics=metrics)
        check_loss(loss_value, f"epoch {epoch}")

    def data_ready(self) -> None:
        """Optional: a subject may call this once its data are loaded, so that data loading counts
        as setup, not training, in the phase energies. Without it training starts at ``subject.run``."""
        if self.marker is not None:
            self.marker("data_ready")


def pick_epoch_metric(metrics: dict[str, Any], metric_name: str) -> tuple[str | None, Any]:
    """The per-epoch value to pair with the subject's task metric ``metric_name``: the metric of that
    name, else ``test_<name>``, else the first one reported; (None, None) when there is none. A number
    comes back as a float; anything else unchanged (the run wrapper rejects it: greenhp.marks)."""
    for key in (metric_name, f"test_{metric_name}"):
        if key in metrics:
            return key, _number_or_raw(metrics[key])
    for key, value in metrics.items():
        return key, _number_or_raw(value)
    return None, None


def as_number(value: Any) -> float | None:
    """``value`` as a float when it is a real number (int, float, a NumPy scalar, a one-element
    tensor), else None; text ("0.9") and booleans are not numbers."""
    if isinstance(value, (str, bytes, bool)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def as_integer(value: Any) -> Any:
    """``value`` as an int when it is an integral number (3, 3.0, a NumPy integer), else unchanged."""
    if isinstance(value, bool):
        return value
    try:
        return operator.index(value)
    except TypeError:
        pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _number_or_raw(value: Any) -> Any:
    number = as_number(value)
    return value if number is None else number


def _shown(value: Any) -> str:
    number = as_number(value)
    return f"{number:.4f}" if number is not None else repr(value)[:60]


def check_loss(loss: float, where: str) -> None:
    if not math.isfinite(loss):
        raise Diverged(f"loss became {loss} at {where}")


@dataclass
class TrainResult:
    metric_name: str
    metric_value: float
    effective: dict[str, int | float]  # hyperparameters the training actually used
    epochs_run: int
    train_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


#: Which way a subject's task metric is better (greenhp.directions: the one resolver and the one
#: list of known metric names, KNOWN_DIRECTIONS).
METRIC_DIRECTIONS = DIRECTIONS


@dataclass(frozen=True)
class Subject:
    """A registered subject: name, task metric and its direction, default hyperparameters, ``run``.

    ``metric_direction`` is ``"maximize"`` (accuracy, rank-1, ...) or ``"minimize"`` (a loss, an
    error, MSE): every verdict, recommendation, early stop, Pareto front and figure follows it. It
    may be left out only for a metric name in greenhp.directions.KNOWN_DIRECTIONS; any other name
    without it is rejected.
    """

    name: str
    description: str
    metric_name: str
    defaults: dict[str, int | float]
    run: Callable[[dict[str, int | float], RunContext], TrainResult]
    metric_direction: str | None = None
    # Does the learning-rate schedule depend on the total number of epochs (a milestone at 50 % of
    # them, layer-by-layer training)? False: the first k epochs of a longer run are a k-epoch run, so
    # epochs mutants can be predicted from longer runs' prefixes. None: not declared (no prediction).
    schedule_depends_on_epochs: bool | None = None

    def __post_init__(self):
        if self.metric_direction is not None and self.metric_direction not in DIRECTIONS:
            raise ValueError(f"subject {self.name!r}: metric_direction {self.metric_direction!r} is not "
                             f"one of {', '.join(DIRECTIONS)}")
        direction = resolve_direction(self.metric_name, declared=self.metric_direction)
        if direction is None:
            raise ValueError(
                f"subject {self.name!r}: metric {self.metric_name!r} has no declared direction; "
                f"pass metric_direction=\"minimize\" (lower is better) or \"maximize\" to Subject(...)")
        object.__setattr__(self, "metric_direction", direction)

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        return tuple(self.defaults)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch, and ask PyTorch for deterministic kernels where it has them."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def optimizer_effective(optimizer, scheduler=None) -> dict[str, float]:
    """Read the hyperparameters an optimiser (and StepLR-like scheduler) really holds."""
    group = optimizer.param_groups[0]
    out: dict[str, float] = {}
    lr = group.get("initial_lr", group["lr"])  # schedulers store the starting lr as initial_lr
    out["lr"] = float(lr)
    if "weight_decay" in group:
        out["weight_decay"] = float(group["weight_decay"])
    if "momentum" in group:
        out["momentum"] = float(group["momentum"])
    if scheduler is not None and hasattr(scheduler, "gamma"):
        out["gamma"] = float(scheduler.gamma)
    return out


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False
