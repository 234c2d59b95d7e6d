"""Greener settings that keep the task metric: recommendations and Pareto fronts."""
from __future__ import annotations

import numpy as np
import pandas as pd

from greenhp.units import DEFAULT_INTENSITY_G_PER_KWH, DEFAULT_PRICE_PER_KWH, J_PER_KWH, accounting  # noqa: F401

from .tables import (
    ORIGINAL, TASK_METRIC, direction_of, direction_sign, empty_table, estimated_methods, ok_runs,
    partner_key, sort_natural,
)

#: Default grid carbon intensity (gCO2e per kWh) and electricity price per kWh (currency-neutral):
#: the config schema's defaults (greenhp.units), placeholders; configure the machine's real values.
DEFAULT_CARBON_G_PER_KWH = DEFAULT_INTENSITY_G_PER_KWH

RECOMMENDATION_COLUMNS = [
    "subject", "mode", "partner", "rank", "mutant_id", "hyperparameter", "operator", "original",
    "value", "energy_metric", "energy_original_j", "energy_mutant_j", "saving_j", "saving_pct",
    "saving_pct_ci_low", "saving_pct_ci_high", "saving_kwh", "saving_co2e_g", "cost_saving",
    "energy_p", "cliffs_delta", "metric_name", "metric_original", "metric_mutant",
    "metric_change_pct", "metric_verdict", "metric_direction", "duration_change_pct",
    "duration_verdict", "estimated", "energy_methods", "caveats",
]
PARETO_COLUMNS = [
    "subject", "mode", "partner", "mutant_id", "hyperparameter", "value", "n", "energy_metric",
    "mean_energy_j", "metric_name", "metric_direction", "mean_metric", "pareto_optimal", "estimated",
]


def _caveats(r) -> str | float:
    notes = []
    if pd.notna(r.duration_change_pct) and r.duration_change_pct > 0:
        sig = " (significant)" if r.duration_verdict == "higher" else ""
        notes.append(f"longer duration: +{r.duration_change_pct:.1f} %{sig}")
    if r.energy_disagree is True:
        notes.append(f"energy tests disagree (t p = {r.energy_t_p:.3g}, Mann-Whitney p = {r.energy_mwu_p:.3g})")
    if r.metric_disagree is True:
        notes.append(f"{r.metric_name} tests disagree (t p = {r.metric_t_p:.3g}, Mann-Whitney "
                     f"p = {r.metric_mwu_p:.3g}): the verdict {r.metric_verdict!r} is not robust")
    return "; ".join(notes) if notes else np.nan


def recommend(comparisons: pd.DataFrame, runs: pd.DataFrame, alpha: float = 0.05,
              carbon_g_per_kwh: float = DEFAULT_CARBON_G_PER_KWH,
              price_per_kwh: float = DEFAULT_PRICE_PER_KWH,
              energy_metric: str = "total_energy_j") -> pd.DataFrame:
    """Configurations that use significantly less energy and keep the task metric.

    Kept: ``energy_metric`` verdict "lower" with ``p_value <= alpha``, and a task-metric outcome of
    "better" or "same" (by the metric's declared direction; a mutant whose metric comparison is
    undetermined is not recommended). Ranked by saving (J) within subject x mode x partner.
    Savings are per training run: J, % of the original, kWh, gCO2e (``carbon_g_per_kwh``) and
    ``cost_saving`` (``price_per_kwh``, currency-neutral). ``caveats``: a longer mean duration,
    and energy or task-metric comparisons whose t-test and Mann-Whitney U disagree.
    """
    if comparisons.empty:
        return empty_table(RECOMMENDATION_COLUMNS)
    c = comparisons.assign(_partner=partner_key(comparisons["partner"]))
    keys = ["subject", "mode", "_partner", "mutant_id"]
    en = c[(c["metric"] == energy_metric) & (c["verdict"] == "lower") & (c["p_value"] <= alpha)]
    perf = c[c["metric"] == TASK_METRIC][keys + ["metric_name", "metric_direction", "mean_original",
                                                 "mean_mutant", "outcome", "tests_disagree", "t_p",
                                                 "mwu_p"]]
    perf = perf.rename(columns={"mean_original": "metric_original", "mean_mutant": "metric_mutant",
                                "outcome": "metric_verdict", "tests_disagree": "metric_disagree",
                                "t_p": "metric_t_p", "mwu_p": "metric_mwu_p"})
    dur = c[c["metric"] == "duration_s"][keys + ["rel_change", "verdict"]].rename(
        columns={"rel_change": "duration_rel", "verdict": "duration_verdict"})
    m = en.drop(columns=["metric_name", "metric_direction"]).merge(perf, on=keys, how="inner")
    m = m.merge(dur, on=keys, how="left")
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
        "metric_direction": m["metric_direction"],
        "duration_change_pct": 100.0 * m["duration_rel"], "duration_verdict": m["duration_verdict"],
        "_energy_disagree": m["tests_disagree"], "_energy_t_p": m["t_p"], "_energy_mwu_p": m["mwu_p"],
        "_metric_disagree": m["metric_disagree"], "_metric_t_p": m["metric_t_p"],
        "_metric_mwu_p": m["metric_mwu_p"],
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        out["metric_change_pct"] = 100.0 * (out["metric_mutant"] / out["metric_original"] - 1.0)
    saving = accounting(out["saving_j"], {"intensity_g_per_kwh": carbon_g_per_kwh, "price_per_kwh": price_per_kwh})
    out["saving_kwh"], out["saving_co2e_g"], out["cost_saving"] = saving["kwh"], saving["co2e_g"], saving["cost"]
    flags = out.rename(columns=lambda k: k.lstrip("_"))
    flags["energy_disagree"] = flags["energy_disagree"].map(lambda v: v is True or v == "True" or v == 1)
    flags["metric_disagree"] = flags["metric_disagree"].map(lambda v: v is True or v == "True" or v == 1)
    out["caveats"] = [_caveats(r) for r in flags.itertuples()]
    est, methods = [], []
    ok = ok_runs(runs)
    okp = partner_key(ok["partner"]).where(ok["mode"] == "pair", "")
    for r in out.itertuples():
        sel = (ok["subject"] == r.subject) & (ok["mode"] == r.mode) & (
            (ok["mutant_id"] == r.mutant_id) | (ok["hyperparameter"] == ORIGINAL))
        if r.mode == "pair":
            sel &= okp == (r.partner if isinstance(r.partner, str) else "")
        ms = estimated_methods(ok[sel])
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
    """Per subject x mode x partner, each configuration's mean energy and mean task metric over ok
    runs, flagged ``pareto_optimal`` when no configuration has lower (or equal) energy and a better
    (or equal) metric with one strictly better. "Better" follows the metric's declared direction
    (``metric_direction``)."""
    ok = ok_runs(runs)
    if ok.empty:
        return empty_table(PARETO_COLUMNS)
    ok = ok.assign(_partner=partner_key(ok["partner"]).where(ok["mode"] == "pair", ""))
    rows = []
    for (subject, mode, partner), grp in ok.groupby(["subject", "mode", "_partner"], sort=True):
        names = grp["metric_name"].dropna()
        metric_name = names.iloc[0] if not names.empty else np.nan
        direction = direction_of(grp, f"subject {subject!r}")
        direction = direction if direction is not None else np.nan
        agg = (grp.groupby("mutant_id", sort=True)
               .agg(hyperparameter=("hyperparameter", "first"), value=("value", "first"),
                    n=("run_id", "size"), mean_energy_j=(energy_metric, "mean"),
                    mean_metric=(TASK_METRIC, "mean"))
               .reset_index())
        # a configuration is estimated when any of its runs is (estimated_methods is non-empty)
        flagged = (grp["energy_estimated"].fillna(False).astype(bool) if "energy_estimated" in grp
                   else pd.Series(False, index=grp.index))
        est = flagged.groupby(grp["mutant_id"], sort=True).any()
        agg["estimated"] = agg["mutant_id"].map(est).astype(bool)
        if isinstance(direction, str):
            agg["pareto_optimal"] = pareto_mask(agg["mean_energy_j"],
                                                direction_sign(direction) * agg["mean_metric"])
        else:
            agg["pareto_optimal"] = False
        agg["subject"], agg["mode"], agg["partner"] = subject, mode, partner or np.nan
        agg["energy_metric"], agg["metric_name"] = energy_metric, metric_name
        agg["metric_direction"] = direction
        rows.append(sort_natural(agg, ["mutant_id"]))
    return pd.concat(rows, ignore_index=True).reindex(columns=PARETO_COLUMNS)
