"""Energy windows, per-epoch curves, the early-stop what-if and epochs-mutant predictions.

* **Window** (``analysis.window``): the statistics use either the whole training process's energy
  (``whole``: interpreter start, imports, data loading, training, evaluation, exit) or the training
  window only (``training``: from the training start to the last epoch's end, read at the training
  process's phase marks; runs-table columns ``train_*``). With ``training`` (the default), a
  subject whose ok runs do not all have the training window is analysed on the whole-process
  window instead, and every statistics row and the summary say so (:func:`window_plan`);
  ``training_strict`` stops the statistics with one line instead (:class:`WindowError`).
  :func:`window_metrics` maps the analysed columns; both windows stay in ``runs.tsv``.
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
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .tables import (
    OK, ORIGINAL, better_word, direction_of, direction_sign, empty_table, estimate_note, natural_key,
    partner_key, resolve_direction,
)

log = logging.getLogger(__name__)

#: ``analysis.window`` values (see window_plan): ``training`` (the training window where every ok run
#: of a subject has it, else that subject on the whole-process window, named), ``training_strict``
#: (the training window for every subject, or the statistics stop: WindowError), ``whole``.
WINDOWS = ("training", "training_strict", "whole")
#: whole-run column -> its training-window column in runs.tsv
WINDOW_COLUMNS = {
    "gpu_energy_j": "train_gpu_energy_j", "cpu_energy_j": "train_cpu_energy_j",
    "dram_energy_j": "train_dram_energy_j", "total_energy_j": "train_total_energy_j",
    "total_net_energy_j": "train_total_net_energy_j", "duration_s": "train_duration_s",
}
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


# ---------------------------------------------------------------- window
#: ``analysis.window``'s default everywhere: both config schemas, the rules and every function here.
DEFAULT_WINDOW = "training"
#: The window a subject is analysed on (``window`` column of the statistics tables).
RESOLVED_WINDOWS = ("training", "whole")
#: ``window`` of a row that pools subjects analysed on different windows (the overall
#: single-vs-pair tests).
MIXED = "mixed"
SUBJECT_WINDOW_COLUMNS = ["subject", "requested", "window", "n_runs", "n_ok", "n_ok_training", "reason"]


class WindowError(ValueError):
    """``analysis.window: training_strict`` and a subject whose ok runs lack the training window."""


def check_window(window: str) -> str:
    if window not in WINDOWS:
        raise ValueError(f"analysis.window: {window!r} is not one of {', '.join(WINDOWS)}")
    return window


def window_metric(metric: str, window: str) -> str:
    """The runs-table column that holds ``metric`` in ``window`` (``training_strict`` reads as
    ``training``)."""
    return WINDOW_COLUMNS.get(metric, metric) if check_window(window) != "whole" else metric


def window_metrics(metrics, window: str) -> tuple[str, ...]:
    return tuple(window_metric(m, window) for m in metrics)


def base_metric(column: str) -> str:
    """The whole-run name of a runs-table column (``train_total_energy_j`` -> ``total_energy_j``)."""
    return _BASE.get(column, column)


_BASE = {v: k for k, v in WINDOW_COLUMNS.items()}


def window_plan(runs: pd.DataFrame, window: str = DEFAULT_WINDOW) -> pd.DataFrame:
    """The window each subject is analysed on: one row per subject (SUBJECT_WINDOW_COLUMNS).

    A subject is analysed on ONE window, in every mode and beside every partner: ``training`` when
    the training window was asked for (``training`` or ``training_strict``) and every ok run of the
    subject has it (``train_total_energy_j``), else ``whole``, with the ``reason``. One window per
    subject, not per configuration, so that every mutant is compared with its original, and the
    subject's single-mode changes with its pair-mode ones, on the same window. A subject without ok
    runs keeps the asked window (nothing of it is analysed)."""
    check_window(window)
    col = WINDOW_COLUMNS["total_energy_j"]
    has_col = col in runs.columns
    ok = (runs["status"] == OK).to_numpy() if "status" in runs else np.ones(len(runs), bool)
    marked = (pd.to_numeric(runs[col], errors="coerce").notna().to_numpy() if has_col
              else np.zeros(len(runs), bool))
    counts = pd.DataFrame({"subject": runs["subject"].to_numpy(), "ok": ok, "marked": ok & marked})
    agg = counts.groupby("subject", sort=True).agg(n_runs=("ok", "size"), n_ok=("ok", "sum"),
                                                   n_ok_training=("marked", "sum"))
    rows = []
    asked = "whole" if window == "whole" else "training"
    for subject, r in agg.iterrows():
        n_ok, n_tr = int(r["n_ok"]), int(r["n_ok_training"])
        if window == "whole":
            w, reason = "whole", "analysis.window: whole"
        elif n_ok == 0:
            w, reason = asked, "no ok run"
        elif n_tr == n_ok:
            w, reason = "training", "every ok run has the training window's energy"
        elif not has_col:
            w, reason = "whole", f"the runs table has no training-window columns ({col} and the other train_*)"
        elif n_tr == 0:
            w, reason = "whole", f"its runs sent no training-window marks ({col} empty in all {n_ok} ok runs)"
        else:
            w, reason = "whole", (f"{n_ok - n_tr} of its {n_ok} ok runs have no training-window energy "
                                  f"({col} empty: no phase marks); a subject is analysed on one window")
        rows.append(dict(subject=subject, requested=window, window=w, n_runs=int(r["n_runs"]), n_ok=n_ok,
                         n_ok_training=n_tr, reason=reason))
    if not rows:
        return empty_table(SUBJECT_WINDOW_COLUMNS)
    return pd.DataFrame(rows).reindex(columns=SUBJECT_WINDOW_COLUMNS)


def subject_windows(plan: pd.DataFrame) -> dict:
    """{subject: window} of a window_plan."""
    return dict(zip(plan["subject"], plan["window"]))


def require_window(runs: pd.DataFrame, window: str = DEFAULT_WINDOW) -> pd.DataFrame:
    """The window_plan of ``runs``; with ``training_strict``, a WindowError (one line naming each
    subject, how many of its ok runs lack the training window and one of them) where a subject
    with ok runs would fall back to the whole-process window."""
    plan = window_plan(runs, window)
    if window != "training_strict":
        return plan
    short = plan[(plan["window"] == "whole") & (plan["n_ok"] > 0)]
    if short.empty:
        return plan
    col = WINDOW_COLUMNS["total_energy_j"]
    ok = runs[runs["status"] == OK] if "status" in runs else runs
    missing = ok[pd.to_numeric(ok[col], errors="coerce").isna()] if col in ok else ok
    parts = []
    for r in short.itertuples():
        first = missing.loc[missing["subject"] == r.subject, "run_id"] if "run_id" in missing else pd.Series(dtype=object)
        eg = f", e.g. run {first.iloc[0]}" if not first.empty else ""
        parts.append(f"{r.subject} ({r.n_ok - r.n_ok_training} of {r.n_ok} ok runs{eg})")
    raise WindowError(f"analysis.window: training_strict, but subject(s) {'; '.join(parts)} have no "
                      f"training-window energy (runs-table column {col}: the runs sent no phase marks); "
                      "set analysis.window: training to analyse such a subject on the whole-process "
                      "window (named on every row and in the summary), or whole")


def window_view(runs: pd.DataFrame, windows: dict) -> pd.DataFrame:
    """``runs`` with, for every subject analysed on the training window (``windows``: subject ->
    window), the training window's values in the whole-run columns (``total_energy_j`` holds
    ``train_total_energy_j``, ...): the statistics then run once over every subject on its own
    window, and label_windows renames what they report. ``runs`` itself is not changed."""
    train = [s for s, w in windows.items() if w == "training"]
    if not train:
        return runs
    view = runs.copy(deep=False)
    sel = runs["subject"].isin(train).to_numpy()
    for whole, tcol in WINDOW_COLUMNS.items():
        if whole not in runs and tcol not in runs:
            continue
        t = pd.to_numeric(runs[tcol], errors="coerce").to_numpy(float) if tcol in runs else np.full(len(runs), np.nan)
        w = pd.to_numeric(runs[whole], errors="coerce").to_numpy(float) if whole in runs else np.full(len(runs), np.nan)
        view[whole] = np.where(sel, t, w)
    return view


def label_windows(table: pd.DataFrame, windows: dict, column: str, pooled=None) -> pd.DataFrame:
    """``table`` (computed on a window_view) with its metric ``column`` renamed, row by row, to the
    runs-table column the number came from (``train_total_energy_j`` for a subject on the training
    window) and a ``window`` column inserted before it. ``pooled``: ``[(mask, subjects), ...]`` for
    rows without a subject that pool several (the overall single-vs-pair tests): such a row takes
    the one window of those subjects, or MIXED with every column named (``train_total_energy_j,
    total_energy_j``)."""
    t = table.copy()
    w = t["subject"].map(windows) if "subject" in t else pd.Series(np.nan, index=t.index, dtype=object)
    w = w.astype(object)
    if pooled is not None:
        nos = t["subject"].isna() if "subject" in t else pd.Series(True, index=t.index)
        for mask, subjects in pooled:
            ws = sorted({windows[s] for s in subjects if s in windows})
            m = nos & mask
            if not ws or not m.any():
                continue
            if len(ws) == 1:
                w[m] = ws[0]
            else:
                w[m] = MIXED
                t.loc[m, column] = [", ".join(window_metric(v, x) for x in ws) for v in t.loc[m, column]]
                if "note" in t:
                    by = "; ".join(f"{x}: " + ", ".join(sorted(str(s) for s in subjects if windows.get(s) == x))
                                   for x in ws)
                    note = (f"pools subjects analysed on different windows ({by}); each change is "
                            "within one subject on its own window")
                    t["note"] = t["note"].astype(object)
                    t.loc[m, "note"] = [note if not isinstance(v, str) else f"{v}; {note}" for v in t.loc[m, "note"]]
    train = (w == "training").to_numpy()
    if train.any() and column in t:
        t.loc[train, column] = t.loc[train, column].map(lambda m: WINDOW_COLUMNS.get(m, m))
    t.insert(t.columns.get_loc(column) if column in t else len(t.columns), "window", w)
    return t


def energy_rows(table: pd.DataFrame, column: str = "metric", metric: str = "total_energy_j",
                window: str | None = None) -> pd.DataFrame:
    """The rows of a statistics table about ``metric`` (a whole-run name) on each row's own window
    (its ``window`` column: ``train_total_energy_j`` on a training-window row, ``total_energy_j`` on
    a whole-window one); a table without that column is read as all on ``window`` (default: as
    ``metric`` is named)."""
    if table.empty or column not in table:
        return table
    base = base_metric(metric)
    if "window" in table:
        want = [window_metric(base, w) if w in RESOLVED_WINDOWS else None for w in table["window"]]
        return table[table[column].to_numpy(object) == np.asarray(want, dtype=object)]
    return table[table[column] == (window_metric(base, window) if window else metric)]


def describe_window(window: str) -> str:
    if check_window(window) == "training_strict":
        return ("training only, strictly: every subject on the training window, or the statistics "
                "stop with one line naming the subjects without it; " + describe_window("training"))
    if window == "training":
        return ("training only: energy from the training start (data loaded) to the last epoch's end, "
                "read at the training process's phase marks (runs.tsv columns train_*); the "
                "whole-process energy (interpreter start, imports, data loading, exit) is in the "
                "runs table beside it")
    return ("whole run: the training process from start to exit (interpreter start, imports, data "
            "loading, training, evaluation); the training-only energy is in runs.tsv (train_*)")


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
    ok = runs[runs["status"] == OK]
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
        reached = g.groupby("run_id")["epoch"].max().reindex(run_ids)
        short = reached < last
        final_m = metric[last] if last in metric.columns else pd.Series(np.nan, index=run_ids)
        final_e = energy[last] if last in energy.columns else pd.Series(np.nan, index=run_ids)
        reason = why  # a reason not to answer: a row that says so instead of a what-if
        if not reason and short.any():
            reason = (f"{int(short.sum())} of {len(run_ids)} run(s) marked only up to epoch "
                      f"{int(reached.min())} of {last}")
        elif not reason and not np.isfinite(final_m.to_numpy(float)).all():
            bad = int((~np.isfinite(final_m.to_numpy(float))).sum())
            reason = (f"the {metric_name} after the last epoch ({last}) is missing or not finite "
                      f"(inf/NaN) in {bad} of {len(run_ids)} run(s)")
        elif not reason and not np.isfinite(final_e.to_numpy(float)).all():
            reason = f"no energy at the last epoch ({last}) in some runs"
        if reason:
            row["note"] = "; ".join(notes + [reason]) + ": no what-if"
            rows.append(row)
            continue
        # epochs every run marked, with a finite metric and energy in each: the candidates
        both = np.isfinite(metric.to_numpy(float)) & np.isfinite(energy.to_numpy(float))
        cols = [c for c, ok in zip(metric.columns, both.all(axis=0)) if ok and c <= last]
        m_mean, e_mean = metric[cols].mean(), energy[cols].mean()
        sign = direction_sign(direction)
        final, final_energy = m_mean[last], e_mean[last]
        tol_abs = tolerance * float(m_mean.max() - m_mean.min())
        within = [c for c in cols if sign * (m_mean[c] - final) >= -tol_abs - 1e-12]
        stop = within[0]
        saving = final_energy - e_mean[stop]
        row.update(tolerance_abs=tol_abs, final_metric=final, train_energy_j=final_energy)
        if saving < 0:
            notes.append(f"the cumulative energy falls between epoch {stop} and {last}: no what-if")
            row["note"] = "; ".join(notes)
            rows.append(row)
            continue
        row.update(
            stop_epoch=int(stop), metric_at_stop=m_mean[stop], metric_change=m_mean[stop] - final,
            energy_at_stop_j=e_mean[stop], saving_j=saving,
            saving_pct_training=100.0 * saving / final_energy if final_energy else np.nan,
            saving_pct_run=100.0 * saving / run_e if np.isfinite(run_e) and run_e else np.nan,
            note="; ".join(notes) if notes else np.nan)
        rows.append(row)
    if not rows:
        return empty_table(EARLY_STOP_COLUMNS)
    out = pd.DataFrame(rows).reindex(columns=EARLY_STOP_COLUMNS)
    order = sorted(range(len(out)), key=lambda i: (
        str(out["subject"].iat[i]), str(out["mode"].iat[i]),
        out["partner"].iat[i] if isinstance(out["partner"].iat[i], str) else "",
        configuration_key(out["mutant_id"].iat[i], out["hyperparameter"].iat[i], out["value"].iat[i])))
    return out.iloc[order].reset_index(drop=True)


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


# ---------------------------------------------------------------- figure
def epoch_curves_figure(epochs: pd.DataFrame, runs: pd.DataFrame, out, metric_directions=None) -> list[Path]:
    """Cumulative training energy (x) against the task metric (y) epoch by epoch, one line per
    configuration (mean over ok runs), one panel per subject x mode (pair: per partner); legends
    in configuration order (configuration_key: the original first, then by hyperparameter and value,
    as in the early-stop table)."""
    from . import plots  # matplotlib only when drawing

    fig = draw_epoch_curves(epochs, runs, metric_directions)
    if fig is None:
        return plots._no_data(out, EPOCH_CURVES_TITLE, "no per-epoch data: runs without phase marks")
    return plots._save(fig, out)


EPOCH_CURVES_TITLE = "Epoch curves: cumulative training energy vs task metric"


def draw_epoch_curves(epochs: pd.DataFrame, runs: pd.DataFrame, metric_directions=None):
    """The figure of epoch_curves_figure (not saved), or None when there is no per-epoch data.
    The axis names the direction early_stop uses (epoch_metric_direction; ``metric_directions``
    serves a per-epoch metric other than the task metric)."""
    from . import plots  # matplotlib only when drawing

    c = curves(epochs) if epochs is not None else pd.DataFrame()
    if c.empty:
        return None
    info = (runs[runs["status"] == OK].drop_duplicates("mutant_id").set_index("mutant_id")
            if not runs.empty else pd.DataFrame())
    panels = list(c.groupby(["subject", "mode", "_partner"], sort=True))
    fig, axes = plots._grid(len(panels), 4.6, 3.6)
    for ax, ((subject, mode, partner), g) in zip(axes, panels):
        ids = list(g["mutant_id"].unique())
        ids.sort(key=lambda m: configuration_key(
            m, info["hyperparameter"].get(m) if "hyperparameter" in info else None,
            info["value"].get(m) if "value" in info else None))
        for mutant_id in ids:
            gm = g[g["mutant_id"] == mutant_id].sort_values("epoch")
            label = mutant_id.split("__", 1)[-1]
            style = dict(lw=2.2, c="k") if label == "original" else dict(lw=1)
            ax.plot(gm["total_energy_j"], gm["metric_value"], marker="o", ms=2.5, label=label, **style)
        rows = runs[(runs["subject"] == subject) & (runs["mode"] == mode)] if not runs.empty else runs
        note = estimate_note(rows[rows["status"] == OK]) if not rows.empty else ""
        ax.set_xlabel(f"cumulative training energy (J) {note}".strip(), fontsize=8)
        name = g["metric_name"].dropna()
        ok = rows[rows["status"] == OK] if not rows.empty else rows
        task = ok["metric_name"].dropna() if "metric_name" in ok else pd.Series(dtype=object)
        direction, _ = epoch_metric_direction(name.iloc[0] if not name.empty else None,
                                              task.iloc[0] if not task.empty else None,
                                              direction_of(ok, f"subject {subject!r}"),
                                              metric_directions)
        better = better_word(direction)
        ax.set_ylabel((name.iloc[0] if not name.empty else "metric") + (f" ({better})" if better else ""),
                      fontsize=8)
        ax.set_title(f"{subject} ({mode}{', with ' + partner if partner else ''})", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(EPOCH_CURVES_TITLE, fontsize=10)
    return fig


# ---------------------------------------------------------------- summary
def _true(v) -> bool:
    return v is True or str(v).strip().lower() == "true"


def summary_lines(early: pd.DataFrame, predictions: pd.DataFrame, tolerance: float) -> list[str]:
    """The summary page's "Early stopping (what-if)" section; every data string escaped (rst_escape)."""
    from .summary import rst_escape as _e

    out = []
    tolerance = DEFAULT_TOLERANCE if tolerance is None else tolerance
    if early is None or early.empty:
        return ["No per-epoch energy in this study (the runs sent no phase marks), so no what-if.", ""]
    e = early[early["hyperparameter"].astype(str) == ORIGINAL] if "hyperparameter" in early else early
    e = e if not e.empty else early
    out += [f"Stopping each configuration at the first epoch whose mean metric is within "
            f"{100 * float(tolerance):g} % of its curve's span (best minus worst epoch) of its final "
            "value, by the direction its subject declares (means over its ok runs; table "
            "``stats/early_stop.tsv`` has every configuration):", ""]
    for r in e.sort_values(["subject", "mode"], kind="mergesort").itertuples():
        est = " (energy estimated)" if _true(r.estimated) else ""
        where = _e(r.subject) + f" ({_e(r.mode)}" + (f", with {_e(r.partner)}" if isinstance(r.partner, str) else "") + ")"
        better = better_word(getattr(r, "metric_direction", None))
        if not np.isfinite(float(r.stop_epoch)):
            note = getattr(r, "note", None)
            out.append(f"- {where}, {_e(r.mutant_id)}: no what-if"
                       + (f" ({_e(note)})." if isinstance(note, str) else "."))
        elif r.stop_epoch < r.epochs:
            out.append(f"- {where}, {_e(r.mutant_id)}: epoch {int(r.stop_epoch)} of {int(r.epochs)} "
                       f"({_e(r.metric_name)} {r.metric_at_stop:.4g} vs {r.final_metric:.4g}, tolerance "
                       f"{getattr(r, 'tolerance_abs', np.nan):.3g}" + (f", {better}" if better else "")
                       + ") would save "
                       f"{r.saving_j:.3g} J per run, {r.saving_pct_training:.1f} % of the training energy, "
                       f"{r.saving_pct_run:.1f} % of the whole run{est}.")
        else:
            out.append(f"- {where}, {_e(r.mutant_id)}: only the last epoch ({int(r.epochs)}) reaches that; "
                       "no early-stop saving.")
    stop = pd.to_numeric(early["stop_epoch"], errors="coerce")
    n_save = int((stop < pd.to_numeric(early["epochs"], errors="coerce")).sum())
    n_none = int(stop.isna().sum())
    out += ["", f"{n_save} of {len(early)} configurations could stop early within the tolerance"
            + (f"; {n_none} have no what-if (the table's note says why)" if n_none else "") + ".", ""]
    if predictions is not None and not predictions.empty:
        p = predictions.dropna(subset=["energy_error_pct"]) if "energy_error_pct" in predictions else predictions
        if not p.empty:
            metric = "; ".join(  # each subject's metric in its own units
                f"{_e(subject)} ({_e(g['metric_name'].iloc[0])}) {g['metric_error'].abs().median():.3g}"
                for subject, g in p.groupby("subject", sort=True))
            out += [f"Epochs mutants predicted from the prefixes of longer runs "
                    f"(``stats/epoch_predictions.tsv``, {len(p)} configurations): energy error median "
                    f"{p['energy_error_pct'].abs().median():.1f} % (max {p['energy_error_pct'].abs().max():.1f} %); "
                    f"metric error median: {metric}.", ""]
        else:
            notes = sorted(set(predictions["note"].dropna().astype(str)))
            out += ["No epochs mutant could be predicted from prefixes: " + "; ".join(_e(n) for n in notes) + ".", ""]
    return out
