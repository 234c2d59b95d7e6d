"""How the statistics group runs: every statistic is computed per subject x mode x partner (single
mode: partner empty); runs beside different partners are never pooled."""
from __future__ import annotations

import pandas as pd

from .tables import partner_key


def run_groups(runs: pd.DataFrame):
    """(subject, mode, partner, rows) per subject x mode x partner; partner "" in single mode."""
    r = runs.assign(_partner=partner_key(runs["partner"]).where(runs["mode"] == "pair", ""))
    for (subject, mode, partner), grp in r.groupby(["subject", "mode", "_partner"], sort=True,
                                                    dropna=False):
        yield subject, mode, partner, grp


def metrics_present(df: pd.DataFrame, metrics) -> list[str]:
    """The ``metrics`` that are columns of ``df``, in their order."""
    return [m for m in metrics if m in df.columns]
