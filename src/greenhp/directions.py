"""Which way a task metric is better: the one resolver and the one list of known names.

A direction is *declared*: by the subject (``Subject(..., metric_direction=...)``, written into every
run record and ``runs.tsv``), by an imported table's ``metric_direction`` column, or by the setting
``analysis.metric_directions``. :func:`resolve_direction` is the only place that turns these into a
direction; ``greenhp.analysis.tables.validate_runs`` calls it once per metric name of a runs table
and writes the answer into the table's ``metric_direction`` column, which every verdict, the
early-stop what-if, the Pareto front, every figure and the summary read
(``greenhp.analysis.tables.direction_of``).

:data:`KNOWN_DIRECTIONS` is a convenience only, for imported tables and records written before the
field existed (and subjects that leave the direction out of a well-known name): a declared
direction always wins over it, and any name not in it must be declared. Nothing is guessed.
"""
from __future__ import annotations

from typing import Mapping

MAXIMIZE, MINIMIZE = "maximize", "minimize"
DIRECTIONS = (MAXIMIZE, MINIMIZE)

#: Exact metric names (case-insensitive) whose direction is well known. docs/analysis.md and
#: docs/subjects.md list them; nothing else in greenhp holds a list of metric names.
KNOWN_DIRECTIONS: dict[str, str] = {
    **{n: MAXIMIZE for n in ("accuracy", "test_accuracy", "val_accuracy", "top1", "top5", "rank1",
                             "map", "f1", "auc", "roc_auc", "precision", "recall",
                             "balanced_accuracy", "r2", "bleu")},
    **{n: MINIMIZE for n in ("loss", "test_loss", "val_loss", "nll", "cross_entropy", "error",
                             "error_rate", "mse", "rmse", "mae", "perplexity", "wer", "cer")},
}


def known_direction(metric_name) -> str | None:
    """The direction of a metric name in KNOWN_DIRECTIONS, else None."""
    if not isinstance(metric_name, str):
        return None
    return KNOWN_DIRECTIONS.get(metric_name.strip().lower())


def check_direction(direction, where: str = "metric direction") -> str:
    """``direction`` when it is ``maximize`` or ``minimize``; ValueError naming ``where`` otherwise."""
    if direction not in DIRECTIONS:
        raise ValueError(f"{where}: {direction!r} is not one of {', '.join(DIRECTIONS)}")
    return direction


def resolve_direction(metric_name, declared=None, settings: Mapping[str, str] | None = None) -> str | None:
    """The direction of task metric ``metric_name``: ``declared`` (the subject's ``metric_direction``,
    a record's or a table's column) when given, else ``settings[metric_name]``
    (``analysis.metric_directions``), else KNOWN_DIRECTIONS; None when none of them says.
    A declared value that is not a direction, or one that contradicts the setting, is a ValueError."""
    setting = (settings or {}).get(metric_name) if isinstance(metric_name, str) else None
    if setting is not None:
        check_direction(setting, f"analysis.metric_directions: {metric_name}")
    if declared is not None:
        check_direction(declared, f"metric_direction of {metric_name!r}")
        if setting is not None and setting != declared:
            raise ValueError(f"metric {metric_name!r} is declared {declared!r} but "
                             f"analysis.metric_directions says {setting!r}")
        return declared
    return setting or known_direction(metric_name)


def direction_sign(direction) -> int:
    """+1 for ``maximize``, -1 for ``minimize``; ValueError for anything else."""
    return 1 if check_direction(direction) == MAXIMIZE else -1


def better_word(direction) -> str:
    """"higher is better" / "lower is better" for labels; "" for no direction."""
    return "higher is better" if direction == MAXIMIZE else "lower is better" if direction == MINIMIZE else ""
