"""Greener settings that keep the task metric: recommendations and Pareto fronts."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .tables import (
    ORIGINAL, TASK_METRIC, empty_table, estimated_methods, metric_sign, ok_runs, partner_key,
)

#: Default grid carbon intensity (gCO2e per kWh): the world-average electricity intensity reported
#: by the IEA (about 475 g/kWh). Configure the real value for the machine's grid.
DEFAULT_CARBON_G_PER_KWH = 475.0
#: Default electricity price per kWh, currency-neutral (a placeholder; configure it).
DEFAULT_PRICE_PER_KWH = 0.30
J_PER_KWH = 3.6e6

RECOMMENDATION_COLUMNS = [
    "subject", "mode", "partner", "rank", "mutant_id", "hyperparameter", "operator", "original",
    "value", "energy_metric", "energy_original_j", "energy_mutant_j", "saving_j", "saving_pct",
    "saving_pct_ci_low", "saving_pct_ci_high", "saving_kwh", "saving_co2e_g", "cost_saving",
    "energy_p", "cliffs_delta", "metric_name", "metric_original", "metric_mutant",
    "metric_change_pct", "metric_verdict", "estimated", "energy_methods",
]
PARETO_COLUMNS = [
    "subject", "mode", "mutant_id", "hyperparameter", "value", "n", "energy_metric",
    "mean_energy_j", "metric_name", "mean_metric", "pareto_optimal", "estimated",
]


def recommend(comparisons: pd.DataFrame, runs: pd.DataFrame, alpha: float = 0.05,
              carbon_g_per_kwh: float = DEFAULT_CARBON_G_PER_KWH,
              price_per_kwh: float = DEFAULT_PRICE_PER_KWH,
              energy_metric: str = "total_energy_j") -> pd.DataFrame:
    """Configurations that use significantly less energy and keep the task metric.

    Kept: ``energy_metric`` verdict "lower" with ``p_value <= alpha``, and a task-metric outcome of
    "better" or "same" (a mutant whose metric comparison is undetermined is not recommended).
    Ranked by saving (J) within subject x mode (x partner in pair mode). Savings are per training
    run: J, % of the original, kWh, gCO2e (``carbon_g_per_kwh``) and ``cost_saving``
    (``price_per_kwh``, currency-neutral).
    """
    if comparisons.empty:
        return empty_table(RECOMMENDATION_COLUMNS)
    c = comparisons.assign(_partner=partner_key(comparisons["partner"]))
    keys = ["subject", "mode", "_partner", "mutant_id"]
    en = c[(c["metric"] == energy_metric) & (c["verdict"] == "lower") & (c["p_value"] <= alpha)]
    perf = c[c["metric"] == TASK_METRIC][keys + ["metric_name", "mean_original", "mean_mutant", "outcome"]]
    perf = perf.rename(columns={"mean_original": "metric_original", "mean_mutant": "metric_mutant",
                                "outcome": "metric_verdict"})
    m = en.drop(columns=["metric_name"]).merge(perf, on=keys, how="inner")
    m = m[m["metric_verdict"].isin(["better", "same"])]
    if m.empty:
        return empty_table(RECOMMENDATION_COLUMNS)
    out = pd.DataFrame({
        "subject": m["subject"], "mode": m["mode"], "partner": m["partner"],
        "mutant_id": m["mutant_id"], "hyperparameter": m["hyperparameter"],
        "operator": m["operator"], "original": m["original"], "value": m["value"],
        "energy_metric": energy_metric, "energy_original_j": m["mean_original"],
        "energy_mutant_j": m["mean_mutant"],
        "saving_j": m["mean_original"] - m["mean_mutant"],
        "saving_pct": -100.0 * m["rel_change"],
        # a saving CI is the negated relative-change CI, so the bounds swap
        "saving_pct_ci_low": -100.0 * m["rel_change_ci_high"],
        "saving_pct_ci_high": -100.0 * m["rel_change_ci_low"],
        "energy_p": m["p_value"], "cliffs_delta": m["cliffs_delta"],
        "metric_name": m["metric_name"], "metric_original": m["metric_original"],
        "metric_mutant": m["metric_mutant"], "metric_verdict": m["metric_verdict"],
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        out["metric_change_pct"] = 100.0 * (out["metric_mutant"] / out["metric_original"] - 1.0)
    out["saving_kwh"] = out["saving_j"] / J_PER_KWH
    out["saving_co2e_g"] = out["saving_kwh"] * float(carbon_g_per_kwh)
    out["cost_saving"] = out["saving_kwh"] * float(price_per_kwh)
    est, methods = [], []
    ok = ok_runs(runs)
    for r in out.itertuples():
        rows = ok[(ok["subject"] == r.subject) & (ok["mode"] == r.mode)
                  & ((ok["mutant_id"] == r.mutant_id) | (ok["hyperparameter"] == ORIGINAL))]
        ms = estimated_methods(rows)
        est.append(bool(ms))
        methods.append(", ".join(ms) if ms else np.nan)
    out["estimated"] = est
    out["energy_methods"] = methods
    out = out.sort_values(["subject", "mode", "partner", "saving_j"],
                          ascending=[True, True, True, False], na_position="first")
    out["rank"] = out.groupby(["subject", "mode", partner_key(out["partner"])]).cumcount() + 1
    return out.reindex(columns=RECOMMENDATION_COLUMNS).reset_index(drop=True)


def pareto_mask(energy, performance) -> np.ndarray:
    """True where no other point has energy <= and performance >= with one strictly better.
    NaN points are never optimal and dominate nothing. Duplicated optimal points are all kept."""
    e = np.asarray(energy, dtype=float)
    p = np.asarray(performance, dtype=float)
    ok = np.isfinite(e) & np.isfinite(p)
    mask = np.zeros(e.size, dtype=bool)
    for i in np.flatnonzero(ok):
        dom = ok & (e <= e[i]) & (p >= p[i]) & ((e < e[i]) | (p > p[i]))
        mask[i] = not dom.any()
    return mask


def pareto_front(runs: pd.DataFrame, energy_metric: str = "total_energy_j") -> pd.DataFrame:
    """Per subject x mode, each configuration's mean energy and mean task metric over ok runs
    (pair mode: partners pooled), flagged ``pareto_optimal`` when no configuration has lower
    (or equal) energy and a better (or equal) metric with one strictly better. "Better" follows
    the metric's direction (LOWER_IS_BETTER_METRICS)."""
    ok = ok_runs(runs)
    if ok.empty:
        return empty_table(PARETO_COLUMNS)
    rows = []
    for (subject, mode), grp in ok.groupby(["subject", "mode"], sort=True):
        names = grp["metric_name"].dropna()
        metric_name = names.mode().iloc[0] if not names.empty else np.nan
        sign = metric_sign(metric_name)
        agg = (grp.groupby("mutant_id", sort=True)
               .agg(hyperparameter=("hyperparameter", "first"), value=("value", "first"),
                    n=("run_id", "size"), mean_energy_j=(energy_metric, "mean"),
                    mean_metric=(TASK_METRIC, "mean"))
               .reset_index())
        agg["estimated"] = [bool(estimated_methods(grp[grp["mutant_id"] == mid]))
                            for mid in agg["mutant_id"]]
        agg["pareto_optimal"] = pareto_mask(agg["mean_energy_j"], sign * agg["mean_metric"])
        agg["subject"], agg["mode"] = subject, mode
        agg["energy_metric"], agg["metric_name"] = energy_metric, metric_name
        rows.append(agg)
    return pd.concat(rows, ignore_index=True).reindex(columns=PARETO_COLUMNS)
