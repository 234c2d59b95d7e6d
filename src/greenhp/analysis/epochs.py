"""Per-epoch statistics: mean curves, the early-stop what-if and epochs-mutant predictions.

* **Early stop what-if** (:func:`early_stop`): for each configuration (mean over its ok runs), the
  first epoch whose metric is within ``tolerance`` of the final one, oriented by the metric's
  declared direction; ``tolerance`` is a fraction of the span of the configuration's mean metric
  curve (best minus worst epoch), so one default fits an accuracy and a perplexity alike. Then the
  energy that stopping there would have saved.
* **Predictions** (:func:`epoch_predictions`): where a subject declares that its learning-rate
  schedule does not depend on the number of epochs (``schedule_depends_on_epochs: false``), the
  first ``E`` epochs of a longer run are an ``E``-epoch run; each configuration with a longer
  sibling (same hyperparameters but epochs) is predicted from the siblings' prefixes and compared
  with what was measured.

Statistics layer of greenhp.analysis (docs/architecture.md): pandas only, no matplotlib, no text
for pages. The energy windows are in greenhp.analysis.windows, the epoch-curves figure in
greenhp.analysis.plots, the summary's what-if lines in greenhp.analysis.summary.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .derived import is_derived
from .tables import (
    OK, ORIGINAL, direction_of, direction_sign, empty_table, natural_key, partner_key, resolve_direction,
)

log = logging.getLogger(__name__)

EPOCH_NUMERIC = ("repetition", "epoch", "epochs", "t_s", "gpu_energy_j", "cpu_energy_j", "dram_energy_j",
                 "total_energy_j", "metric_value", "loss")
EARLY_STOP_COLUMNS = [
    "subject", "mode", "partner", "mutant_id", "hyperparameter", "value", "n_runs", "epochs",
    "metric_name", "metric_direction", "tolerance", "tolerance_abs", "final_metric", "stop_epoch",
    "metric_at_stop", "metric_change", "train_energy_j", "energy_at_stop_j", "saving_j",
    "saving_pct_training", "run_energy_j", "saving_pct_run", "estimated", "energy_methods", "note",
]
#: Default of ``analysis.early_stop_tolerance``: a configuration may stop at the first epoch whose
#: mean metric is within 5 % of its curve's span (best minus worst epoch) of the final value, i.e.
#: once 95 % of what its training moved the metric is reached (docs/analysis.md says why).
DEFAULT_TOLERANCE = 0.05
PREDICTION_COLUMNS = [
    "subject", "mode", "partner", "mutant_id", "hyperparameter", "epochs", "predicted_from",
    "n_prefix_runs", "n_runs", "predicted_energy_j", "measured_energy_j", "energy_error_pct",
    "metric_name", "predicted_metric", "measured_metric", "metric_error", "estimated", "note",
]


# ---------------------------------------------------------------- epochs table
def load_epochs(path) -> pd.DataFrame:
    """``results/epochs.tsv`` with numeric columns as floats (empty cells NaN)."""
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return prepare_epochs(df)


def prepare_epochs(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in EPOCH_NUMERIC:
        if c in df:
            df[c] = pd.to_numeric(df[c].replace("", np.nan), errors="coerce")
    for c in ("energy_estimated", "schedule_depends_on_epochs"):
        if c in df:
            df[c] = df[c].map(lambda v: {"true": True, "false": False}.get(str(v).strip().lower(), np.nan))
    return df


def _main_marks(epochs: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The main process's epoch rows of ok runs that can be trusted, and per run how many were not.

    Kept, per run in the order the marks arrived: an epoch that is a whole number from 1 to the
    run's ``epochs`` (when given) and above every epoch marked before it. A mark repeated, out of
    order or outside the run is ignored (counted in the second value, by ``run_id``), so each run
    has at most one row per epoch and its cumulative energies grow with the epoch."""
    if epochs.empty:
        return epochs, pd.Series(dtype=int)
    e = epochs[(epochs["process"] == "main") & (epochs["status"] == OK)]
    ep = pd.to_numeric(e["epoch"], errors="coerce").astype(float)
    total = pd.to_numeric(e["epochs"], errors="coerce") if "epochs" in e else pd.Series(np.nan, index=e.index)
    valid = np.isfinite(ep) & (ep == ep.round()) & (ep >= 1) & ~(total.notna() & (ep > total))
    seen = ep.where(valid, -np.inf).groupby(e["run_id"], sort=False).cummax()
    before = seen.groupby(e["run_id"], sort=False).shift(fill_value=-np.inf)
    keep = valid & (ep > before)
    dropped = (~keep).groupby(e["run_id"], sort=False).sum()
    e = e[keep]
    return e.assign(_partner=partner_key(e["partner"])), dropped[dropped > 0].astype(int)


def _main_ok(epochs: pd.DataFrame) -> pd.DataFrame:
    return _main_marks(epochs)[0]


def curves(epochs: pd.DataFrame) -> pd.DataFrame:
    """Mean curve per configuration (subject, mode, partner, mutant_id): per epoch the mean
    cumulative seconds, energy per domain and metric over the ok runs that reached it."""
    e = _main_ok(epochs)
    if e.empty:
        return pd.DataFrame()
    keys = ["subject", "mode", "_partner", "mutant_id", "epoch"]
    agg = (e.groupby(keys, sort=True)
           .agg(n=("run_id", "nunique"), t_s=("t_s", "mean"), total_energy_j=("total_energy_j", "mean"),
                gpu_energy_j=("gpu_energy_j", "mean"), cpu_energy_j=("cpu_energy_j", "mean"),
                metric_value=("metric_value", "mean"), metric_name=("metric_name", "first"),
                energy_estimated=("energy_estimated", "max"))
           .reset_index())
    return agg


def _run_info(runs: pd.DataFrame) -> pd.DataFrame:
    """The ok runs that were trained: a derived row (greenhp.analysis.derived) is read from a longer
    run's marks, so it is neither a measurement to compare a prediction with nor a run of its own."""
    ok = runs[(runs["status"] == OK) & ~is_derived(runs)]
    return ok.assign(_partner=partner_key(ok["partner"]))


# ---------------------------------------------------------------- early stop
def check_tolerance(tolerance) -> float:
    """``analysis.early_stop_tolerance`` as a float: a fraction in [0, 1); ValueError otherwise."""
    try:
        t = float(tolerance)
    except (TypeError, ValueError):
        t = float("nan")
    if isinstance(tolerance, bool) or not (0.0 <= t < 1.0):
        raise ValueError(f"analysis.early_stop_tolerance: {tolerance!r} is not allowed; allowed: a "
                         f"fraction >= 0 and < 1 of the span of each configuration's metric curve "
                         f"(default {DEFAULT_TOLERANCE:g}; it is no longer an absolute metric value)")
    return t


def configuration_key(mutant_id, hyperparameter, value) -> tuple:
    """Order of configurations within a subject in the early-stop table and the figures' legends
    and labels: the original first, then by hyperparameter and value (numbers by value), then by
    mutant id in natural order."""
    orig = hyperparameter == ORIGINAL
    try:
        v = float(value)
        vkey = (0, v, ()) if np.isfinite(v) else (1, 0.0, ())
    except (TypeError, ValueError):
        vkey = (1, 0.0, natural_key(value))
    return (not orig, "" if orig or not isinstance(hyperparameter, str) else hyperparameter, vkey,
            natural_key(mutant_id))


def epoch_metric_direction(epoch_metric, task_metric, task_direction,
                           settings=None) -> tuple[str | None, str]:
    """The direction of the per-epoch metric ``epoch_metric`` and, when there is none, why.

    The epoch rows carry the task metric (``<name>`` or ``test_<name>``, as
    ``subjects.base.pick_epoch_metric`` picks it): then the task metric's declared direction
    (``task_direction``, from the runs table). Another metric (a subject reporting only others)
    gets its own: ``analysis.metric_directions`` or the known names (greenhp.directions)."""
    if not isinstance(epoch_metric, str):
        return None, ("the runs report no per-epoch metric (pass the task metric to ctx.epoch_done "
                      "as <metric_name>= or test_<metric_name>=)")
    if isinstance(task_metric, str) and epoch_metric in (task_metric, f"test_{task_metric}"):
        if task_direction is None:
            return None, f"the runs table declares no direction for {task_metric!r}"
        return task_direction, ""
    d = resolve_direction(epoch_metric, None, settings)
    if d is None:
        return None, (f"the per-epoch metric {epoch_metric!r} is not the task metric "
                      f"{task_metric!r} and its direction is not declared: set "
                      f"analysis.metric_directions: {{{epoch_metric}: maximize}} (or minimize)")
    return d, ""


def early_stop(epochs: pd.DataFrame, runs: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE,
               metric_directions=None) -> pd.DataFrame:
    """One row per configuration with epoch marks: the first epoch whose mean metric is within
    ``tolerance`` x the span of the configuration's mean metric curve (best minus worst epoch;
    ``tolerance_abs`` in the metric's units) of the final mean metric, by the metric's declared
    direction, and the training energy saved by stopping there (J, % of the training energy, % of
    the whole run's energy).

    ``runs`` is a checked runs table (load_runs / validate_runs): its ``metric_direction`` is the
    direction (greenhp.directions); ``metric_directions`` (``analysis.metric_directions``) serves
    only a per-epoch metric other than the task metric. Marks out of order, repeated or outside
    the run are ignored (see _main_marks; the note counts them). No what-if, only a row with a
    ``note``, where the direction is unknown, a run's marks stop before its last epoch, the metric
    or energy after the last epoch is missing or not finite, or the energy falls between epochs:
    the stop epoch is always within 1..epochs and the saving never negative."""
    tolerance = check_tolerance(tolerance)
    e, dropped = _main_marks(epochs)
    if e.empty:
        return empty_table(EARLY_STOP_COLUMNS)
    info = _run_info(runs)
    keys = ["subject", "mode", "_partner", "mutant_id"]
    rows = []
    e = e.assign(epoch=e["epoch"].astype(int))  # whole numbers (_main_marks)
    for (subject, mode, partner, mutant_id), g in e.groupby(keys, sort=True):
        r = info[(info["subject"] == subject) & (info["mode"] == mode) & (info["_partner"] == partner)
                 & (info["mutant_id"] == mutant_id)]
        rows.append(_early_stop_row(g, r, (subject, mode, partner, mutant_id), dropped, tolerance,
                                    metric_directions))
    if not rows:
        return empty_table(EARLY_STOP_COLUMNS)
    out = pd.DataFrame(rows).reindex(columns=EARLY_STOP_COLUMNS)
    order = sorted(range(len(out)), key=lambda i: (
        str(out["subject"].iat[i]), str(out["mode"].iat[i]),
        out["partner"].iat[i] if isinstance(out["partner"].iat[i], str) else "",
        configuration_key(out["mutant_id"].iat[i], out["hyperparameter"].iat[i], out["value"].iat[i])))
    return out.iloc[order].reset_index(drop=True)


def _early_stop_row(g: pd.DataFrame, r: pd.DataFrame, key: tuple, dropped: pd.Series, tolerance: float,
                    metric_directions) -> dict:
    """The early_stop row of one configuration: its epoch marks ``g``, its ok runs ``r`` (runs
    table), ``key`` (subject, mode, partner, mutant_id)."""
    subject, mode, partner, mutant_id = key
    task_names = r["metric_name"].dropna()
    epoch_names = g["metric_name"].dropna()
    metric_name = epoch_names.iloc[0] if not epoch_names.empty else (
        task_names.iloc[0] if not task_names.empty else np.nan)
    direction, why = epoch_metric_direction(
        epoch_names.iloc[0] if not epoch_names.empty else None,
        task_names.iloc[0] if not task_names.empty else None,
        direction_of(r, f"the runs of {mutant_id!r}"), metric_directions)
    run_ids = list(dict.fromkeys(g["run_id"]))
    declared = pd.to_numeric(g["epochs"], errors="coerce").max() if "epochs" in g else np.nan
    if not np.isfinite(declared) and "hp_epochs" in r:
        declared = pd.to_numeric(r["hp_epochs"], errors="coerce").max()
    last = int(declared) if np.isfinite(declared) else int(g["epoch"].max())
    methods = sorted({m for col in ("gpu_method", "cpu_method", "dram_method") if col in r
                      for m in r[col].dropna().astype(str) if m.startswith("estimate")})
    run_e = r["total_energy_j"].mean() if "total_energy_j" in r and not r.empty else np.nan
    row = dict(
        subject=subject, mode=mode, partner=partner or np.nan, mutant_id=mutant_id,
        hyperparameter=r["hyperparameter"].iloc[0] if not r.empty else np.nan,
        value=r["value"].iloc[0] if not r.empty else np.nan, n_runs=len(run_ids), epochs=last,
        metric_name=metric_name, metric_direction=direction if direction else np.nan,
        tolerance=tolerance, run_energy_j=run_e,
        estimated=bool(methods) or bool(g["energy_estimated"].fillna(False).astype(bool).any()),
        energy_methods=", ".join(methods) if methods else np.nan)
    notes = []
    n_dropped = int(dropped.reindex(run_ids).fillna(0).sum())
    if n_dropped:
        notes.append(f"{n_dropped} epoch mark(s) repeated, out of order or outside epochs 1..{last} "
                     "ignored")
    metric = g.pivot(index="run_id", columns="epoch", values="metric_value").reindex(run_ids)
    energy = g.pivot(index="run_id", columns="epoch", values="total_energy_j").reindex(run_ids)
    # a reason not to answer: a row that says so instead of a what-if
    reason = why or _no_what_if(g, run_ids, last, metric, energy, metric_name)
    if reason:
        row["note"] = "; ".join(notes + [reason]) + ": no what-if"
        return row
    return _what_if(row, metric, energy, last, direction, tolerance, notes)


def _no_what_if(g: pd.DataFrame, run_ids: list, last: int, metric: pd.DataFrame, energy: pd.DataFrame,
                metric_name) -> str:
    """Why the marks of one configuration (``metric``, ``energy``: run x epoch) answer no what-if:
    a run's marks stop before epoch ``last``, or the metric or energy after it is missing; "" when
    they answer."""
    reached = g.groupby("run_id")["epoch"].max().reindex(run_ids)
    short = reached < last
    final_m = metric[last] if last in metric.columns else pd.Series(np.nan, index=run_ids)
    final_e = energy[last] if last in energy.columns else pd.Series(np.nan, index=run_ids)
    if short.any():
        return (f"{int(short.sum())} of {len(run_ids)} run(s) marked only up to epoch "
                f"{int(reached.min())} of {last}")
    if not np.isfinite(final_m.to_numpy(float)).all():
        bad = int((~np.isfinite(final_m.to_numpy(float))).sum())
        return (f"the {metric_name} after the last epoch ({last}) is missing or not finite "
                f"(inf/NaN) in {bad} of {len(run_ids)} run(s)")
    if not np.isfinite(final_e.to_numpy(float)).all():
        return f"no energy at the last epoch ({last}) in some runs"
    return ""


def _what_if(row: dict, metric: pd.DataFrame, energy: pd.DataFrame, last: int, direction: str,
             tolerance: float, notes: list[str]) -> dict:
    """``row`` completed with the first epoch within tolerance and the saving of stopping there,
    from the epochs every run marked with a finite metric and energy (the candidates)."""
    both = np.isfinite(metric.to_numpy(float)) & np.isfinite(energy.to_numpy(float))
    cols = [c for c, ok in zip(metric.columns, both.all(axis=0)) if ok and c <= last]
    m_mean, e_mean = metric[cols].mean(), energy[cols].mean()
    sign = direction_sign(direction)
    final, final_energy = m_mean[last], e_mean[last]
    tol_abs = tolerance * float(m_mean.max() - m_mean.min())
    within = [c for c in cols if sign * (m_mean[c] - final) >= -tol_abs - 1e-12]
    stop = within[0]
    saving = final_energy - e_mean[stop]
    run_e = row["run_energy_j"]
    row.update(tolerance_abs=tol_abs, final_metric=final, train_energy_j=final_energy)
    if saving < 0:
        notes.append(f"the cumulative energy falls between epoch {stop} and {last}: no what-if")
        row["note"] = "; ".join(notes)
        return row
    row.update(
        stop_epoch=int(stop), metric_at_stop=m_mean[stop], metric_change=m_mean[stop] - final,
        energy_at_stop_j=e_mean[stop], saving_j=saving,
        saving_pct_training=100.0 * saving / final_energy if final_energy else np.nan,
        saving_pct_run=100.0 * saving / run_e if np.isfinite(run_e) and run_e else np.nan,
        note="; ".join(notes) if notes else np.nan)
    return row


# ---------------------------------------------------------------- predictions
def epoch_predictions(epochs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Predict each configuration of an epochs family (the original and its epochs mutants: same
    other hyperparameters) from the prefixes of the family's longer runs, and compare with what was
    measured: training energy up to its last epoch and the task metric after it. Only for subjects
    whose schedule does not depend on the number of epochs; others get a row with a note."""
    info = _run_info(runs)
    e = _main_ok(epochs)
    if e.empty or info.empty or "hp_epochs" not in info:
        return empty_table(PREDICTION_COLUMNS)
    rows = []
    for (subject, mode, partner), g in info.groupby(["subject", "mode", "_partner"], sort=True):
        fam = g[g["hyperparameter"].isin([ORIGINAL, "epochs"])]
        if fam["hyperparameter"].eq("epochs").sum() == 0:
            continue  # no epochs mutants here
        ge = e[(e["subject"] == subject) & (e["mode"] == mode) & (e["_partner"] == partner)]
        decl = ge["schedule_depends_on_epochs"].dropna().unique() if "schedule_depends_on_epochs" in ge else []
        depends = None if len(decl) != 1 else bool(decl[0])
        lengths = fam.groupby("mutant_id")["hp_epochs"].first().dropna().astype(int)
        names = fam["metric_name"].dropna()
        metric_name = names.iloc[0] if not names.empty else np.nan
        for mutant_id, n_ep in lengths.sort_values().items():
            mine = fam[fam["mutant_id"] == mutant_id]
            longer = [m for m, n in lengths.items() if n > n_ep]
            base = dict(subject=subject, mode=mode, partner=partner or np.nan, mutant_id=mutant_id,
                        hyperparameter=mine["hyperparameter"].iloc[0], epochs=int(n_ep),
                        metric_name=metric_name, n_runs=len(mine),
                        estimated=bool(ge["energy_estimated"].fillna(False).astype(bool).any()))
            if depends is not False:
                rows.append(dict(base, note="schedule depends on the number of epochs: no prefix prediction"
                                 if depends else "subject does not declare whether its schedule depends "
                                 "on the number of epochs: no prefix prediction"))
                continue
            if not longer:
                rows.append(dict(base, note="no longer run to take a prefix from"))
                continue
            prefix = ge[ge["mutant_id"].isin(longer) & (ge["epoch"] == n_ep)]
            measured_e = ge[(ge["mutant_id"] == mutant_id) & (ge["epoch"] == n_ep)]["total_energy_j"]
            pe, me = prefix["total_energy_j"].mean(), measured_e.mean()
            pm, mm = prefix["metric_value"].mean(), mine["metric_value"].mean()
            rows.append(dict(
                base, predicted_from=", ".join(sorted(longer)), n_prefix_runs=int(prefix["run_id"].nunique()),
                predicted_energy_j=pe, measured_energy_j=me,
                energy_error_pct=100.0 * (pe - me) / me if np.isfinite(me) and me else np.nan,
                predicted_metric=pm, measured_metric=mm, metric_error=pm - mm,
                note=np.nan if len(prefix) else f"no epoch-{n_ep} marks in the longer runs"))
    if not rows:
        return empty_table(PREDICTION_COLUMNS)
    return pd.DataFrame(rows).reindex(columns=PREDICTION_COLUMNS)
