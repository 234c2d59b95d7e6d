"""Which comparisons are still open after the first wave (the lean design's one decision).

After every mutant has ``lean.first_wave`` repetitions (originals have all of theirs), each mutant is
compared with its original exactly as the study's statistics compare them (greenhp.analysis.analyse,
same test, window and directions). A (subject, mode, partner, mutant) group is *open*, and gets the
remaining repetitions, when the comparison of its energy (the window's total energy, the energy the
recommendations use) or of its task metric has a p-value inside ``lean.p_band`` ([low, high)), or an
|effect size| (Cliff's delta) inside ``lean.delta_band`` when one is set. Everything else is decided:
p below the band is a clear difference, p at or above it a clear absence of one at this spread.
A comparison without a p-value (fewer than 2 ok runs a side, an energy not measured) cannot be
decided by more runs of the same kind and is not open, whatever its delta (a Cliff's delta of one run
against the original's is computed but tests nothing); the row says why.

``decide`` is used by the workflow's checkpoint (scripts/lean_decide.py) and by ``greenhp replay``,
so a replay predicts exactly what a lean study does.
"""

from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from greenhp.lean.settings import LeanSettings

DECISION_COLUMNS = ["subject", "mode", "partner", "mutant_id", "n_mutant", "energy_metric", "energy_p",
                    "energy_delta", "metric_p", "metric_delta", "extend", "reason"]
ENERGY = "total_energy_j"  # the recommendations' energy, on each subject's window
TASK = "metric_value"


def _in(value, band) -> bool:
    return band is not None and isinstance(value, (int, float)) and math.isfinite(value) and band[0] <= value < band[1]


def _open_because(kind: str, p, delta, settings: LeanSettings) -> str | None:
    if not _in(p, (0.0, math.inf)):  # no test (fewer than 2 ok runs a side): a delta alone opens nothing
        return None
    if _in(p, settings.p_band):
        return f"{kind} p={p:.3g} in [{settings.p_band[0]:g}, {settings.p_band[1]:g})"
    if settings.delta_band is not None and _in(abs(delta) if isinstance(delta, float) else delta, settings.delta_band):
        return f"{kind} |delta|={abs(delta):.3g} in [{settings.delta_band[0]:g}, {settings.delta_band[1]:g})"
    return None


def study_tables(runs: pd.DataFrame, analysis: Mapping) -> dict[str, pd.DataFrame]:
    """Every statistics table of the study (greenhp.analysis.analyse) on ``runs`` (checked runs, or a
    runs.tsv path), computed with the study's ``analysis`` settings. Only alpha, delta_threshold,
    test, window and metric_directions enter a verdict, a recommendation or a correlation's
    significance; the bootstrap is cut to 100 resamples, as no interval enters any of them."""
    from greenhp.analysis import analyse

    return analyse(runs, alpha=analysis.get("alpha", 0.05),
                   delta_threshold=analysis.get("delta_threshold", 0.147), n_boot=100,
                   seed=analysis.get("seed", 0), test=analysis.get("test", "welch"),
                   metric_directions=analysis.get("metric_directions") or {},
                   window=analysis.get("window", "training"))


def first_wave_comparisons(runs: pd.DataFrame, analysis: Mapping) -> pd.DataFrame:
    """The study's comparisons table on ``runs`` (see study_tables)."""
    return study_tables(runs, analysis)["comparisons"]


def decide_from_comparisons(comparisons: pd.DataFrame, settings: LeanSettings) -> pd.DataFrame:
    """One row per mutant comparison group (DECISION_COLUMNS): ``extend`` true where a comparison is
    still open, with the reason; sorted as the comparisons table."""
    comp = comparisons.copy()
    keys = ["subject", "mode", "partner", "mutant_id"]
    comp["partner"] = comp["partner"].astype(object).where(comp["partner"].notna(), "")
    metric = comp["metric"].astype(str)
    energy_rows = comp[metric.str.endswith(ENERGY) & ~metric.str.contains("net|share")]
    task_rows = comp[metric == TASK]
    rows = []
    for key, grp in comp.groupby(keys, sort=False, dropna=False):
        e = energy_rows.loc[energy_rows.index.intersection(grp.index)]
        t = task_rows.loc[task_rows.index.intersection(grp.index)]
        e = e.iloc[0] if len(e) else None
        t = t.iloc[0] if len(t) else None
        e_p, e_d = (float(e["p_value"]), float(e["cliffs_delta"])) if e is not None else (math.nan, math.nan)
        t_p, t_d = (float(t["p_value"]), float(t["cliffs_delta"])) if t is not None else (math.nan, math.nan)
        reasons = [r for r in (_open_because("energy", e_p, e_d, settings),
                               _open_because("metric", t_p, t_d, settings)) if r]
        if reasons:
            reason = "open: " + "; ".join(reasons)
        elif math.isnan(e_p) and math.isnan(t_p):
            reason = "not open: no p-value on either side (too few ok runs, or nothing measured)"
        else:
            reason = "decided: " + ", ".join(f"{k} p={p:.3g}" for k, p in (("energy", e_p), ("metric", t_p))
                                             if not math.isnan(p))
        rows.append(dict(zip(keys, key), n_mutant=int(grp["n_mutant"].max()),
                         energy_metric=e["metric"] if e is not None else "", energy_p=e_p, energy_delta=e_d,
                         metric_p=t_p, metric_delta=t_d, extend=bool(reasons), reason=reason))
    return pd.DataFrame(rows, columns=DECISION_COLUMNS)


def decide(runs: pd.DataFrame, settings: LeanSettings, analysis: Mapping) -> pd.DataFrame:
    """The decision table of a first wave's runs (see the module doc)."""
    return decide_from_comparisons(first_wave_comparisons(runs, analysis), settings)
