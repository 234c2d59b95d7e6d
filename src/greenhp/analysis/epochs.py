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
  first epoch whose task metric is within ``tolerance`` (absolute, in the metric's units, oriented
  by the metric's direction) of the final one, and the energy that stopping there would have saved.
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

from .tables import OK, ORIGINAL, better_word, empty_table, estimate_note, metric_sign, partner_key

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
    "metric_name", "tolerance", "final_metric", "stop_epoch", "metric_at_stop", "metric_change",
    "train_energy_j", "energy_at_stop_j", "saving_j", "saving_pct_training", "run_energy_j",
    "saving_pct_run", "estimated", "energy_methods",
]
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


def _main_ok(epochs: pd.DataFrame) -> pd.DataFrame:
    if epochs.empty:
        return epochs
    e = epochs[(epochs["process"] == "main") & (epochs["status"] == OK)]
    return e.assign(_partner=partner_key(e["partner"]))


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
def early_stop(epochs: pd.DataFrame, runs: pd.DataFrame, tolerance: float = 0.01) -> pd.DataFrame:
    """One row per configuration with epoch marks: the first epoch whose mean metric is within
    ``tolerance`` of the final mean metric (``final - tolerance`` or better), and the training
    energy saved by stopping there (J, % of the training energy, % of the whole run's energy)."""
    if tolerance < 0:
        raise ValueError(f"analysis.early_stop_tolerance: {tolerance!r} must be >= 0")
    c = curves(epochs)
    if c.empty:
        return empty_table(EARLY_STOP_COLUMNS)
    info = _run_info(runs)
    rows = []
    for (subject, mode, partner, mutant_id), g in c.groupby(["subject", "mode", "_partner", "mutant_id"], sort=True):
        g = g[g["n"] == g["n"].max()].sort_values("epoch")  # epochs every run of it reached
        g = g.dropna(subset=["metric_value", "total_energy_j"])
        if g.empty:
            continue
        r = info[(info["subject"] == subject) & (info["mode"] == mode) & (info["_partner"] == partner)
                 & (info["mutant_id"] == mutant_id)]
        names = r["metric_name"].dropna()
        metric_name = names.iloc[0] if not names.empty else g["metric_name"].iloc[0]
        sign = metric_sign(metric_name)
        final = g.iloc[-1]
        within = g[sign * (g["metric_value"] - final["metric_value"]) >= -tolerance - 1e-12]
        stop = within.iloc[0]
        run_e = r["total_energy_j"].mean() if "total_energy_j" in r and not r.empty else np.nan
        saving = final["total_energy_j"] - stop["total_energy_j"]
        methods = sorted({m for col in ("gpu_method", "cpu_method", "dram_method") if col in r
                          for m in r[col].dropna().astype(str) if m.startswith("estimate")})
        rows.append(dict(
            subject=subject, mode=mode, partner=partner or np.nan, mutant_id=mutant_id,
            hyperparameter=r["hyperparameter"].iloc[0] if not r.empty else np.nan,
            value=r["value"].iloc[0] if not r.empty else np.nan, n_runs=int(g["n"].max()),
            epochs=int(final["epoch"]), metric_name=metric_name, tolerance=tolerance,
            final_metric=final["metric_value"], stop_epoch=int(stop["epoch"]),
            metric_at_stop=stop["metric_value"], metric_change=stop["metric_value"] - final["metric_value"],
            train_energy_j=final["total_energy_j"], energy_at_stop_j=stop["total_energy_j"],
            saving_j=saving,
            saving_pct_training=100.0 * saving / final["total_energy_j"] if final["total_energy_j"] else np.nan,
            run_energy_j=run_e,
            saving_pct_run=100.0 * saving / run_e if np.isfinite(run_e) and run_e else np.nan,
            estimated=bool(methods) or bool(g["energy_estimated"].fillna(False).astype(bool).any()),
            energy_methods=", ".join(methods) if methods else np.nan,
        ))
    if not rows:
        return empty_table(EARLY_STOP_COLUMNS)
    return pd.DataFrame(rows).reindex(columns=EARLY_STOP_COLUMNS)


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
def epoch_curves_figure(epochs: pd.DataFrame, runs: pd.DataFrame, out) -> list[Path]:
    """Cumulative training energy (x) against the task metric (y) epoch by epoch, one line per
    configuration (mean over ok runs), one panel per subject x mode (pair: per partner)."""
    from . import plots  # matplotlib only when drawing

    title = "Epoch curves: cumulative training energy vs task metric"
    c = curves(epochs) if epochs is not None else pd.DataFrame()
    if c.empty:
        return plots._no_data(out, title, "no per-epoch data: runs without phase marks")
    panels = list(c.groupby(["subject", "mode", "_partner"], sort=True))
    fig, axes = plots._grid(len(panels), 4.6, 3.6)
    for ax, ((subject, mode, partner), g) in zip(axes, panels):
        for mutant_id, gm in g.groupby("mutant_id", sort=True):
            gm = gm.sort_values("epoch")
            label = mutant_id.split("__", 1)[-1]
            style = dict(lw=2.2, c="k") if label == "original" else dict(lw=1)
            ax.plot(gm["total_energy_j"], gm["metric_value"], marker="o", ms=2.5, label=label, **style)
        rows = runs[(runs["subject"] == subject) & (runs["mode"] == mode)] if not runs.empty else runs
        note = estimate_note(rows[rows["status"] == OK]) if not rows.empty else ""
        ax.set_xlabel(f"cumulative training energy (J) {note}".strip(), fontsize=8)
        name = g["metric_name"].dropna()
        ok = rows[rows["status"] == OK] if not rows.empty else rows
        dirs = ok["metric_direction"].dropna() if "metric_direction" in ok else pd.Series(dtype=object)
        better = better_word(dirs.iloc[0]) if not dirs.empty else ""
        ax.set_ylabel((name.iloc[0] if not name.empty else "metric") + (f" ({better})" if better else ""),
                      fontsize=8)
        ax.set_title(f"{subject} ({mode}{', with ' + partner if partner else ''})", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    return plots._save(fig, out)


# ---------------------------------------------------------------- summary
def summary_lines(early: pd.DataFrame, predictions: pd.DataFrame, tolerance: float) -> list[str]:
    """The summary page's "Early stopping (what-if)" section; every data string escaped (rst_escape)."""
    from .summary import rst_escape as _e

    out = []
    if early is None or early.empty:
        return ["No per-epoch energy in this study (the runs sent no phase marks), so no what-if.", ""]
    e = early[early["hyperparameter"].astype(str) == ORIGINAL] if "hyperparameter" in early else early
    e = e if not e.empty else early
    out += [f"Stopping each configuration at the first epoch whose {_e(early['metric_name'].iloc[0])} is "
            f"within {tolerance:g} of its final value (means over its ok runs; table "
            "``stats/early_stop.tsv`` has every configuration):", ""]
    for r in e.sort_values(["subject", "mode"]).itertuples():
        est = " (energy estimated)" if r.estimated else ""
        where = _e(r.subject) + f" ({_e(r.mode)}" + (f", with {_e(r.partner)}" if isinstance(r.partner, str) else "") + ")"
        if r.stop_epoch < r.epochs:
            out.append(f"- {where}, {_e(r.mutant_id)}: epoch {r.stop_epoch} of {r.epochs} "
                       f"({_e(r.metric_name)} {r.metric_at_stop:.4g} vs {r.final_metric:.4g}) would save "
                       f"{r.saving_j:.3g} J per run, {r.saving_pct_training:.1f} % of the training energy, "
                       f"{r.saving_pct_run:.1f} % of the whole run{est}.")
        else:
            out.append(f"- {where}, {_e(r.mutant_id)}: only the last epoch ({r.epochs}) reaches that; "
                       "no early-stop saving.")
    n_save = int((early["stop_epoch"] < early["epochs"]).sum())
    out += ["", f"{n_save} of {len(early)} configurations could stop early within the tolerance.", ""]
    if predictions is not None and not predictions.empty:
        p = predictions.dropna(subset=["energy_error_pct"]) if "energy_error_pct" in predictions else predictions
        if not p.empty:
            out += [f"Epochs mutants predicted from the prefixes of longer runs "
                    f"(``stats/epoch_predictions.tsv``, {len(p)} configurations): energy error median "
                    f"{p['energy_error_pct'].abs().median():.1f} % (max {p['energy_error_pct'].abs().max():.1f} %), "
                    f"{_e(p['metric_name'].iloc[0])} error median {p['metric_error'].abs().median():.3g}.", ""]
        else:
            notes = sorted(set(predictions["note"].dropna().astype(str)))
            out += ["No epochs mutant could be predicted from prefixes: " + "; ".join(_e(n) for n in notes) + ".", ""]
    return out
