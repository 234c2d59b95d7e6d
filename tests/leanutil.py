"""Runs tables with every run's energy and task metric set by hand, for the lean design's tests.

A table is built from groups: one (subject, mode, partner, configuration) each, with one energy and
one accuracy per repetition (the minimal import format of docs/analysis.md, plus mode, partner,
repetition and duration_s). Originals get the ORIGINAL_* values; a mutant's values are given as
offsets from them, so its p-value against the original is known by construction.
"""
from __future__ import annotations

import math

import pandas as pd

ORIGINAL_ENERGY = [100.0, 102.0, 98.0, 101.0, 99.0]
ORIGINAL_ACCURACY = [0.90, 0.91, 0.89, 0.905, 0.895]


def group(mutant_id: str, energy=None, accuracy=None, *, subject="s", mode="single", partner="",
          value=None, statuses=None, reps=None) -> list[dict]:
    """Rows of one group: ``energy``/``accuracy`` per repetition (default: the original's);
    ``value``: the mutant's lr (None: an original); ``statuses``: {repetition: status};
    ``reps``: the repetition numbers (default 1..len(energy))."""
    energy = list(ORIGINAL_ENERGY if energy is None else energy)
    accuracy = list(ORIGINAL_ACCURACY[:len(energy)] if accuracy is None else accuracy)
    reps = list(range(1, len(energy) + 1) if reps is None else reps)
    rows = []
    for rep, e, a in zip(reps, energy, accuracy):
        status = (statuses or {}).get(rep, "ok")
        rows.append(dict(
            run_id=f"{mode}-{mutant_id}-{partner or 'alone'}-{rep}", subject=subject, mode=mode,
            partner=partner, mutant_id=mutant_id, hyperparameter="none" if value is None else "lr",
            original="" if value is None else 1.0, value="" if value is None else value,
            hp_lr=1.0 if value is None else value, status=status, repetition=rep,
            total_energy_j=e if status == "ok" else math.nan,
            metric_name="accuracy", metric_value=a if status == "ok" else math.nan,
            duration_s=e / 10.0, device="cuda:0"))
    return rows


def shifted(values, shift, tail=None) -> list[float]:
    """``values`` + ``shift`` (the first len(values) - len(tail) of them when ``tail`` replaces the last)."""
    out = [v + shift for v in values]
    if tail:
        out[-len(tail):] = tail
    return out


def table(*groups) -> pd.DataFrame:
    """The groups' rows as a runs table of text cells, as read from a file ("" = empty)."""
    df = pd.DataFrame([row for g in groups for row in g])
    return df.map(lambda v: "" if isinstance(v, float) and math.isnan(v) else str(v))
