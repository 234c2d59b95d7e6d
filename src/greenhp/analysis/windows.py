"""Energy windows: which runs-table columns the statistics read for each subject.

``analysis.window`` picks the whole training process's energy (``whole``: interpreter start,
imports, data loading, training, evaluation, exit) or the training window only (``training``: from
the training start to the last epoch's end, read at the training process's phase marks; runs-table
columns ``train_*``). With ``training`` (the default), a subject whose ok runs do not all have the
training window is analysed on the whole-process window instead, and every statistics row and the
summary say so (:func:`window_plan`); ``training_strict`` stops the statistics with one line instead
(:class:`WindowError`). :func:`window_metrics` maps the analysed columns; both windows stay in
``runs.tsv``.

Bottom layer of greenhp.analysis (docs/architecture.md): imports only ``.tables``; the statistics,
the figures and the summary read their windows here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .tables import OK, empty_table

#: ``analysis.window`` values (see window_plan): ``training`` (the training window where every ok run
#: of a subject has it, else that subject on the whole-process window, named), ``training_strict``
#: (the training window for every subject, or the statistics stop: WindowError), ``whole``.
WINDOWS = ("training", "training_strict", "whole")
#: whole-run column -> its training-window column in runs.tsv (greenhp.record.WINDOW_COLUMNS is
#: another thing: the runs-table columns a table from elsewhere may lack)
WHOLE_TO_TRAINING = {
    "gpu_energy_j": "train_gpu_energy_j", "cpu_energy_j": "train_cpu_energy_j",
    "dram_energy_j": "train_dram_energy_j", "total_energy_j": "train_total_energy_j",
    "total_net_energy_j": "train_total_net_energy_j", "duration_s": "train_duration_s",
}

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
    return WHOLE_TO_TRAINING.get(metric, metric) if check_window(window) != "whole" else metric


def window_metrics(metrics, window: str) -> tuple[str, ...]:
    return tuple(window_metric(m, window) for m in metrics)


def base_metric(column: str) -> str:
    """The whole-run name of a runs-table column (``train_total_energy_j`` -> ``total_energy_j``)."""
    return _BASE.get(column, column)


_BASE = {v: k for k, v in WHOLE_TO_TRAINING.items()}


def window_plan(runs: pd.DataFrame, window: str = DEFAULT_WINDOW) -> pd.DataFrame:
    """The window each subject is analysed on: one row per subject (SUBJECT_WINDOW_COLUMNS).

    A subject is analysed on ONE window, in every mode and beside every partner: ``training`` when
    the training window was asked for (``training`` or ``training_strict``) and every ok run of the
    subject has it (``train_total_energy_j``), else ``whole``, with the ``reason``. One window per
    subject, not per configuration, so that every mutant is compared with its original, and the
    subject's single-mode changes with its pair-mode ones, on the same window. A subject without ok
    runs keeps the asked window (nothing of it is analysed)."""
    check_window(window)
    col = WHOLE_TO_TRAINING["total_energy_j"]
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
    col = WHOLE_TO_TRAINING["total_energy_j"]
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
    for whole, tcol in WHOLE_TO_TRAINING.items():
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
        t.loc[train, column] = t.loc[train, column].map(lambda m: WHOLE_TO_TRAINING.get(m, m))
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
