"""The best that any choice of groups to extend could keep, on a complete runs table (bench/lean_oracle.py).

The lean design of issue 24 is two-stage: originals get every repetition, each mutant group its first
``first_wave``, and a decision rule extends some groups to every repetition. Whatever the rule (a p
band, a delta band, anything computed from the first wave), what it trains is one *subset* of groups
extended. Given the full table, :func:`best_extensions` tries every subset whose runs fit a budget
(a share of the full table's runs) and returns the one that keeps the most verdicts
(greenhp.lean.replay.verdicts, the replay's own comparison). That is an upper bound for every rule of
this design on this table: when it is below a target, no setting of the lean design reaches the target
there. It knows the answer, so it is never a design to run, only a bound to read.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from greenhp.lean.decide import study_tables
from greenhp.lean.replay import compare_verdicts, group_key, repetition_order, verdicts


@dataclass(frozen=True)
class Bound:
    first_wave: int
    budget_runs: int          # the most runs the budget allows (floor of budget x runs_full)
    runs_full: int
    runs_first_wave: int      # originals in full + every mutant group's first wave
    subsets: int              # subsets of groups tried (every one that fits the budget)
    best_kept: int            # verdicts kept by the best of them
    verdicts: int
    best_runs: int            # the runs of the best subset
    best_groups: tuple[str, ...]  # its groups, "mode mutant_id [partner]"
    complete: bool            # False when the subsets were more than ``limit`` and none was tried

    @property
    def kept_share(self) -> float:
        return self.best_kept / self.verdicts if self.verdicts else math.nan


def _label(runs: pd.DataFrame) -> str:
    r = runs.iloc[0]
    partner = r["partner"] if isinstance(r["partner"], str) and r["partner"] else ""
    return " ".join(x for x in (r["mode"], r["mutant_id"], partner) if x)


def best_extensions(runs: pd.DataFrame, first_wave: int, budget: float, analysis: Mapping,
                    full_verdicts: pd.DataFrame | None = None, limit: int = 5000) -> Bound:
    """The subset of mutant groups extended (after a first wave of ``first_wave``) that keeps the most
    verdicts of ``runs`` (checked runs with repetition numbers) within ``budget`` x its runs; ties go
    to the fewer runs, then the first found. More than ``limit`` subsets: none is tried."""
    alpha = float(analysis.get("alpha", 0.05))
    if full_verdicts is None:
        full_verdicts = verdicts(study_tables(runs, analysis), alpha)
    order = repetition_order(runs)
    original = runs["hyperparameter"] == "none"
    key = group_key(runs)
    base = original | (order <= first_wave)
    later = runs[~base]  # the runs an extension adds, by group
    extra = later.groupby(key[~base]).size()
    labels = {k: _label(later[key[~base] == k]) for k in extra.index}
    budget_runs = math.floor(budget * len(runs) + 1e-9)
    room = budget_runs - int(base.sum())
    cheapest = sorted(int(x) for x in extra)
    sizes = [k for k in range(len(extra) + 1) if room >= 0 and sum(cheapest[:k]) <= room]
    candidates = sum(math.comb(len(extra), k) for k in sizes)  # what enumerating would look at
    common = dict(first_wave=first_wave, budget_runs=budget_runs, runs_full=len(runs),
                  runs_first_wave=int(base.sum()), verdicts=len(full_verdicts))
    if not sizes or candidates > limit:
        return Bound(**common, subsets=0, best_kept=0, best_runs=0, best_groups=(), complete=False)
    fits = [c for k in sizes for c in itertools.combinations(extra.index, k) if int(extra[list(c)].sum()) <= room]
    common["subsets"] = len(fits)
    best = None
    for subset in fits:
        lean = runs[base | key.isin(subset)]
        kept = int(compare_verdicts(full_verdicts, verdicts(study_tables(lean, analysis), alpha))["same"].sum())
        score = (kept, -len(lean))
        if best is None or score > best[0]:
            best = (score, subset, len(lean))
    (kept, _), subset, n = best
    return Bound(**common, best_kept=kept, best_runs=n, best_groups=tuple(sorted(labels[k] for k in subset)),
                 complete=True)
