"""The runs table (``results/runs.tsv``): its contract, loading and shared helpers.

One row per training run. Only rows with ``status == "ok"`` enter statistics; the other rows are
counted and reported (``n_excluded_*`` columns, the summary page). An empty cell is NaN and stays
NaN: no energy is ever treated as 0.
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

# Directions are declared (subject, record, table column, analysis.metric_directions) and resolved
# by greenhp.directions.resolve_direction once per runs table (_resolve_directions); its known names
# are the documented convenience for imports and old records. Re-exported here for the analysis.
from greenhp.directions import (  # noqa: F401
    DIRECTIONS, KNOWN_DIRECTIONS, MAXIMIZE, MINIMIZE, better_word, check_direction, direction_sign,
    known_direction, resolve_direction,
)
from greenhp.record import RUN_COLUMNS, WINDOW_COLUMNS
from greenhp.units import kwh
from .derived import DERIVED_DOCS, derived_columns

#: ``hyperparameter`` (and ``operator``) value of an original (unmutated) configuration.
ORIGINAL = "none"
#: The status of a run that enters statistics.
OK = "ok"
MODES = ("single", "pair")

#: Text columns of the runs table (besides one ``hp_<name>`` column per hyperparameter).
TEXT_COLUMNS = (
    "run_id", "mode", "subject", "mutant_id", "hyperparameter", "operator", "partner", "status",
    "gpu_method", "cpu_method", "dram_method", "total_domains", "metric_name", "metric_direction",
    "device", "gpu_model", "cpu_model", "reason", "marks_note",
)
NUMERIC_COLUMNS = (
    "original", "value", "seed", "duration_s",
    "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "total_energy_j",
    "gpu_net_energy_j", "cpu_net_energy_j", "total_net_energy_j",
    "gpu_share_j", "cpu_share_j", "total_share_j",
    "metric_value", "accuracy", "energy_kwh", "co2e_g",
)
INT_COLUMNS = ("repetition",)
BOOL_COLUMNS = ("energy_estimated",)
#: The columns a runs table must have: everything else is optional, derived or left empty
#: (COLUMN_DOCS, docs/analysis.md). Besides these, at least one column of each REQUIRED_ONE_OF group.
REQUIRED_COLUMNS: tuple[str, ...] = ("run_id", "subject", "mutant_id", "hyperparameter", "status")
REQUIRED_ONE_OF: dict[str, tuple[str, ...]] = {
    "energy": ("total_energy_j", "gpu_energy_j", "cpu_energy_j", "dram_energy_j"),
    "task metric": ("metric_value", "accuracy"),
}
HP_PREFIX = "hp_"
METHOD_COLUMNS = ("gpu_method", "cpu_method", "dram_method")
DOMAIN_COLUMNS = (("gpu", "gpu_energy_j"), ("cpu", "cpu_energy_j"), ("dram", "dram_energy_j"))

#: name -> (meaning, required or optional, default when absent or empty). docs/analysis.md shows
#: this table; tests check that the two agree.
COLUMN_DOCS: dict[str, tuple[str, str, str]] = {
    "run_id": ("unique id of one run", "required", "-"),
    "subject": ("the trained model + data set", "required", "-"),
    "mutant_id": ("the configuration (original or mutant)", "required", "-"),
    "hyperparameter": ("the mutated hyperparameter; `none` for an original", "required", "-"),
    "status": ("`ok` enters the statistics; anything else (diverged, failed, ...) is counted and listed", "required", "-"),
    "total_energy_j": ("total energy (J) of the run", "one energy column required", "sum of the non-empty domain columns"),
    "gpu_energy_j": ("GPU energy (J)", "optional", "empty (not measured)"),
    "cpu_energy_j": ("CPU package energy (J)", "optional", "empty (not measured)"),
    "dram_energy_j": ("DRAM energy (J)", "optional", "empty (not measured)"),
    "metric_value": ("the task metric of the run", "`metric_value` or `accuracy` required", "`accuracy`"),
    "accuracy": ("the task metric when it is an accuracy", "optional", "`metric_value` where `metric_name` is accuracy"),
    "metric_name": ("name of the task metric", "required with `metric_value`", "`accuracy` when only `accuracy` is given; a subject's other rows"),
    "metric_direction": ("`maximize` or `minimize`: which way the task metric is better", "optional", "setting `analysis.metric_directions`, else the documented list of known names; an unknown name is rejected"),
    "mode": ("`single` or `pair`", "optional", "`pair` where `partner` is set, else `single`"),
    "partner": ("pair mode: the partner configuration's `mutant_id`", "optional", "empty"),
    "operator": ("mutation operator; `none` for an original", "optional", "`none` for originals, else empty"),
    "original": ("the original value of the mutated hyperparameter", "optional", "`hp_<h>` of the subject's original runs"),
    "value": ("the mutant's value of the mutated hyperparameter", "optional", "`hp_<h>` of the row"),
    "hp_<h>": ("value of hyperparameter h in this run (one column per hyperparameter)", "optional", "`value` on mutants of h; on other rows the subject's original value (from `original` or the original's rows); rejected when it cannot be derived"),
    "repetition": ("repetition number", "optional", "empty"),
    "seed": ("random seed", "optional", "empty"),
    "reason": ("why a run is not ok", "optional", "empty"),
    "duration_s": ("wall time of the run (s)", "optional", "empty (no duration statistics or caveats)"),
    "gpu_method": ("how GPU energy was obtained (`nvml_counter`, `estimate_tdp`, ...)", "optional", "empty (shown as not given)"),
    "cpu_method": ("how CPU energy was obtained", "optional", "empty"),
    "dram_method": ("how DRAM energy was obtained", "optional", "empty"),
    "energy_estimated": ("true where the total contains an estimate", "optional", "true where a `*_method` starts with `estimate`, false where methods are given, else empty"),
    "total_domains": ("domains summed into the total, e.g. `gpu+cpu+dram`", "optional", "the non-empty domain columns"),
    "gpu_net_energy_j": ("GPU energy net of the idle baseline (J)", "optional", "empty"),
    "cpu_net_energy_j": ("CPU energy net of the idle baseline (J)", "optional", "empty"),
    "total_net_energy_j": ("total energy net of idle (J)", "optional", "empty"),
    "gpu_share_j": ("pair mode: this process's attributed GPU energy (J)", "optional", "empty"),
    "cpu_share_j": ("pair mode: attributed CPU energy (J)", "optional", "empty"),
    "total_share_j": ("pair mode: attributed total (J)", "optional", "empty"),
    "energy_kwh": ("total energy in kWh", "optional", "`total_energy_j` / 3.6e6"),
    "co2e_g": ("emissions (gCO2e); in a study's runs.tsv, `energy_kwh` x the current "
               "`carbon.intensity_g_per_kwh`", "optional", "empty"),
    "device": ("device the run trained on", "optional", "empty"),
    "gpu_model": ("GPU model", "optional", "empty"),
    "cpu_model": ("CPU model", "optional", "empty"),
    "train_duration_s": ("training window of the main process: seconds from the training start to the last epoch mark", "optional", "empty (no phase marks); without it `analysis.window: training` analyses the subject on the whole-process window"),
    "train_gpu_energy_j": ("GPU energy (J) in the training window", "optional", "empty"),
    "train_cpu_energy_j": ("CPU energy (J) in the training window", "optional", "empty"),
    "train_dram_energy_j": ("DRAM energy (J) in the training window", "optional", "empty"),
    "train_total_energy_j": ("total energy (J) in the training window", "optional", "empty (`analysis.window: training` uses it where every ok run of a subject has it)"),
    "train_total_net_energy_j": ("total energy net of idle (J) in the training window", "optional", "empty"),
    "epochs_marked": ("epochs the main process marked (`epoch_done`)", "optional", "empty"),
    **DERIVED_DOCS,
    "marks_note": ("what the run's phase marks leave out: no training window, epochs not covered, marks rejected (greenhp.marks)", "optional", "empty (nothing to say)"),
}

#: Energy metrics analysed (joules). The ``*_share_j`` columns are the pair-mode attribution of the
#: device energy to one process; they are empty in single mode and then skipped.
ENERGY_METRICS = (
    "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "total_energy_j", "total_net_energy_j",
    "gpu_share_j", "total_share_j",
)
#: Every metric analysed: energies, the duration, the task metric. A metric is skipped for a group
#: only when all its values there are NaN.
METRICS = (
    "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "total_energy_j", "total_net_energy_j",
    "duration_s", "metric_value", "gpu_share_j", "total_share_j",
)
TASK_METRIC = "metric_value"

#: Bounds of a plausible measurement: larger magnitudes are rejected as corrupt (1e15 J is about
#: 280 GWh for one training run; 1e9 s is 31 years).
MAX_ENERGY_J = 1e15
MAX_DURATION_S = 1e9
ENERGY_VALUE_COLUMNS = ("gpu_energy_j", "cpu_energy_j", "dram_energy_j", "total_energy_j",
                        "gpu_share_j", "cpu_share_j", "total_share_j")
NET_ENERGY_COLUMNS = ("gpu_net_energy_j", "cpu_net_energy_j", "total_net_energy_j")

_NA_STRINGS = {"", "nan", "NaN", "NA", "N/A", "null", "None", "<NA>"}
_NA_LOWER = {x.lower() for x in _NA_STRINGS}
_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def direction_of(rows: pd.DataFrame, what: str = "") -> str | None:
    """The task metric's direction for ``rows`` of a checked runs table (one subject, or any rows
    that share a task metric): validate_runs resolved it once per run into ``metric_direction``, and
    every verdict, the early stop, the Pareto front, the figures and the summary read it here.
    None when the rows carry none (no ok run with a metric); ValueError when they carry both."""
    if "metric_direction" not in rows:
        return None
    d = rows["metric_direction"].dropna().unique()
    if len(d) > 1:
        raise ValueError(f"runs table: {what or 'these runs'} carry both metric directions "
                         f"({', '.join(map(str, d))}); one direction per subject")
    return str(d[0]) if len(d) else None


def _row_ref(df: pd.DataFrame, mask) -> str:
    """Where the first row of ``mask`` is, for an error message: its run_id and row number."""
    pos = int(np.flatnonzero(np.asarray(mask))[0])
    rid = df["run_id"].iloc[pos] if "run_id" in df else None
    n = int(np.asarray(mask).sum())
    more = f" and {n - 1} more row(s)" if n > 1 else ""
    return (f"run {rid!r} (row {pos + 1})" if isinstance(rid, str) else f"row {pos + 1}") + more


def _stripped_uniques(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, stripped)``: each distinct cell stripped once, as text (an object array), and
    each row's code into it; a missing cell has code -1. Text is factorized as a plain object
    array (half the time of a ``str`` Series) and the uniques iterated as one: iterating their
    Index boxes each value through ``__getitem__`` (10x slower on 100k values)."""
    text = series.dtype == object or isinstance(series.dtype, pd.StringDtype)
    codes, uniques = pd.factorize(series.to_numpy(dtype=object) if text else series,
                                  use_na_sentinel=True)
    stripped = np.empty(len(uniques), dtype=object)
    stripped[:] = [str(u).strip() for u in np.asarray(uniques, dtype=object)]
    return codes, stripped


def _take(values: np.ndarray, codes: np.ndarray, index, dtype=object) -> pd.Series:
    """``values[codes]`` as a Series on ``index``, NaN where the code is -1 (a missing cell).
    The per-cell work of _text and _to_numeric is done once per distinct value, then spread."""
    if (codes < 0).any():
        values = np.append(values, np.array([np.nan], dtype=values.dtype))  # codes -1 -> the NaN
    return pd.Series(values[codes], index=index, dtype=dtype)


def _stripped(series: pd.Series) -> pd.Series:
    """Cells as stripped text (NaN stays NaN), stripping each distinct value once."""
    codes, stripped = _stripped_uniques(series)
    return _take(stripped, codes, series.index)


def _text(series: pd.Series) -> pd.Series:
    """Stripped text; NaN for missing or empty cells (vectorised)."""
    codes, stripped = _stripped_uniques(series)
    return _take(np.where(stripped == "", np.nan, stripped).astype(object), codes, series.index)


def _to_bool(series: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean")
    s = series.astype(object)
    missing = s.isna()
    low = s.astype(str).str.strip().str.lower()
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    is_true, is_false = low.isin(_TRUE) & ~missing, low.isin(_FALSE) & ~missing
    bad = ~(missing | is_true | is_false | low.isin(_NA_LOWER))
    if bad.any():
        v = s[bad].iloc[0]
        raise ValueError(f"runs table: column {name!r} holds non-boolean value {v!r}")
    out[is_true] = True
    out[is_false] = False
    return out


def _to_numeric_slow(series: pd.Series, name: str) -> pd.Series:
    """_to_numeric cell by cell: the reference the distinct-value path must agree with, and where
    its errors (with their row positions) come from."""
    s = _stripped(series)
    s = s.where(~(s.isna() | s.isin(_NA_STRINGS)), np.nan)
    try:
        return pd.to_numeric(s, errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"runs table: column {name!r} is not numeric ({exc})") from None


def _to_numeric(series: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    # Parse each distinct stripped cell once (a NaN added where any cell is missing, so that
    # pd.to_numeric sees the same set of values and picks the same dtype), then spread by code.
    # Anything unusual, an error included, goes cell by cell (the same result or message).
    codes, stripped = _stripped_uniques(series)
    na = np.fromiter((u in _NA_STRINGS for u in stripped), dtype=bool, count=len(stripped))
    vals = np.where(na, np.nan, stripped).astype(object)
    if (codes < 0).any():
        vals = np.append(vals, np.array([np.nan], dtype=object))
    try:
        num = pd.to_numeric(pd.Series(vals, dtype=object), errors="raise")
    except (ValueError, TypeError):
        return _to_numeric_slow(series, name)
    if num.dtype not in (np.float64, np.int64):
        return _to_numeric_slow(series, name)
    return pd.Series(num.to_numpy(dtype=float)[codes], index=series.index, dtype=float)


def _maybe_numeric(series: pd.Series) -> pd.Series:
    """Numeric when every non-empty cell parses (hyperparameter values); the text otherwise."""
    try:
        return _to_numeric(series, "")
    except ValueError:
        return series


def check_columns(columns: Iterable[str]) -> None:
    """Raise ValueError naming every required column absent from ``columns`` (REQUIRED_COLUMNS,
    and one of each REQUIRED_ONE_OF group)."""
    cols = set(columns)
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    groups = [f"one of {', '.join(g)} ({what})" for what, g in REQUIRED_ONE_OF.items()
              if not cols & set(g)]
    if missing or groups:
        raise ValueError("runs table is missing required column(s): " + "; ".join(
            ([", ".join(missing)] if missing else []) + groups))


def _check_range(out: pd.DataFrame, col: str, lo: float | None, hi: float, what: str,
                 rows=None) -> None:
    v = out[col]
    sel = v.notna() if rows is None else v.notna() & rows
    bad = sel & ~np.isfinite(v.fillna(0.0))
    if bad.any():
        raise ValueError(f"runs table: {col} = {float(v[bad].iloc[0])} in {_row_ref(out, bad)}: {what}")
    bad = sel & ((v.abs() > hi) | ((v < lo) if lo is not None else False))
    if bad.any():
        raise ValueError(f"runs table: {col} = {float(v[bad].iloc[0])} in {_row_ref(out, bad)}: {what}")


def _same(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=1e-9, atol=0.0))


def _distinct(values) -> list[float]:
    """The distinct values, those within a relative 1e-9 of their neighbour merged."""
    u = np.unique(np.asarray(list(values), dtype=float))
    if u.size <= 1:
        return [float(v) for v in u]
    keep = np.r_[True, ~np.isclose(u[1:], u[:-1], rtol=1e-9, atol=0.0)]
    return [float(v) for v in u[keep]]


def _fill_hyperparameters(out: pd.DataFrame) -> None:
    """Derive ``value``, ``original`` and the ``hp_<h>`` columns of every mutated hyperparameter
    (in place); reject what contradicts itself or cannot be derived."""
    hp_of = out["hyperparameter"]
    is_orig = hp_of == ORIGINAL
    value = _maybe_numeric(out["value"])
    original = _maybe_numeric(out["original"])
    numeric_vo = pd.api.types.is_float_dtype(value) and pd.api.types.is_float_dtype(original)
    mutated = sorted(h for h in hp_of.dropna().unique() if h != ORIGINAL)
    is_ok = out["status"] == OK
    subject_rows = {}  # subject -> its rows: one comparison per subject, not per subject and h
    for h in mutated:
        col = HP_PREFIX + h
        hv = _to_numeric(out[col], col) if col in out else pd.Series(np.nan, index=out.index)
        rows_h = hp_of == h
        if numeric_vo:
            both = rows_h & hv.notna() & value.notna()
            diff = both & ~np.isclose(hv.fillna(0.0), value.fillna(0.0), rtol=1e-9, atol=0.0)
            if diff.any():
                i = np.flatnonzero(diff.to_numpy())[0]
                raise ValueError(f"runs table: {_row_ref(out, diff)} is a mutant of {h} with value "
                                 f"{float(value.iloc[i]):g} but {col} = {float(hv.iloc[i]):g}")
            hv = hv.where(~(rows_h & hv.isna()), value)
            value = value.where(~(rows_h & value.isna()), hv)
        lack = rows_h & hv.isna() & is_ok
        if lack.any():
            raise ValueError(f"runs table: {col} and value are both empty for {_row_ref(out, lack)}, "
                             f"a mutant of {h}; fill one of them")
        for subject in out.loc[rows_h, "subject"].dropna().unique():
            if subject not in subject_rows:
                subject_rows[subject] = out["subject"] == subject
            subj = subject_rows[subject]
            # the original value of h: the originals' hp_<h>, the mutants of other hyperparameters'
            # hp_<h> (they keep h at its original value) and the 'original' of the mutants of h
            cands = list(hv[subj & ~rows_h].dropna())
            if numeric_vo:
                cands += list(original[subj & rows_h].dropna())
            distinct = _distinct(cands)
            need = subj & ~rows_h & hv.isna()
            if len(distinct) > 1:
                raise ValueError(
                    f"runs table: subject {subject!r} has several original values of {h} "
                    f"({', '.join(f'{v:g}' for v in distinct)}) in {col} of its originals and "
                    f"mutants of other hyperparameters / the 'original' column of its mutants of {h}")
            if not distinct:
                if (need & is_orig).any():
                    raise ValueError(
                        f"runs table: {col} is empty for the original runs of subject {subject!r} "
                        f"and no mutant of {h} gives its 'original' value; fill {col} for "
                        f"{_row_ref(out, need & is_orig)} (or the 'original' column of its mutants)")
                continue
            hv = hv.where(~need, distinct[0])
            if numeric_vo:
                o_rows = subj & rows_h
                bad = o_rows & original.notna() & ~np.isclose(original.fillna(0.0), distinct[0],
                                                             rtol=1e-9, atol=0.0)
                if bad.any():
                    raise ValueError(f"runs table: 'original' of {_row_ref(out, bad)} differs from the "
                                     f"original value of {h} ({distinct[0]:g}) in subject {subject!r}")
                original = original.where(~(o_rows & original.isna()), distinct[0])
        out[col] = hv
    out["value"], out["original"] = value, original


def _resolve_directions(out: pd.DataFrame, settings: Mapping[str, str] | None) -> None:
    """Fill ``metric_direction`` per run (in place), by greenhp.directions.resolve_direction: the
    column, else ``settings[metric_name]``, else the known names; one direction per subject;
    unknown -> ValueError."""
    settings = dict(settings or {})
    for name, d in settings.items():
        check_direction(d, f"analysis.metric_directions: {name}")
    col = out["metric_direction"].str.lower()
    bad = col.notna() & ~col.isin(DIRECTIONS)
    if bad.any():
        raise ValueError(f"runs table: metric_direction {out['metric_direction'][bad].iloc[0]!r} in "
                         f"{_row_ref(out, bad)}: allowed: {', '.join(DIRECTIONS)}")
    names = out["metric_name"]
    for name in names.dropna().unique():
        rows = names == name
        given = col[rows].dropna().unique()
        if name in settings and len(given) and any(g != settings[name] for g in given):
            raise ValueError(f"runs table: metric {name!r} has metric_direction {given[0]!r} in the "
                             f"table but analysis.metric_directions says {settings[name]!r}")
        empty = rows & col.isna()
        if empty.any():
            d = resolve_direction(name, given[0] if len(given) == 1 else None, settings)
            if d is None:
                raise ValueError(
                    f"runs table: the direction of task metric {name!r} is not declared (it is not "
                    f"a known metric name); add a metric_direction column (maximize or minimize) "
                    f"or set analysis.metric_directions: {{{name}: minimize}} (or maximize)")
            col = col.where(~empty, d)
    for subject, d in col.groupby(out["subject"]):
        u = d.dropna().unique()
        if len(u) > 1:
            raise ValueError(f"runs table: subject {subject!r} has both metric directions ({', '.join(u)})")
    out["metric_direction"] = col.astype(object)


def _identity_columns(src: pd.DataFrame) -> pd.DataFrame:
    """The text columns; identity checked (run_id, subject, mutant_id, hyperparameter and status
    filled, each run_id once); ``mode`` derived and checked; ``operator`` derived."""
    out = pd.DataFrame(index=src.index)
    for c in TEXT_COLUMNS:
        out[c] = _text(src[c]) if c in src else pd.Series(np.nan, index=src.index, dtype=object)
    for c in ("run_id", "subject", "mutant_id", "hyperparameter", "status"):
        empty = out[c].isna()
        if empty.any():
            raise ValueError(f"runs table: column {c!r} is empty in {_row_ref(out, empty)}"
                             + ("; originals have hyperparameter 'none'" if c == "hyperparameter" else ""))
    counts = out["run_id"].value_counts() if not out["run_id"].is_unique else None
    if counts is not None and (counts > 1).any():
        rid = counts.index[counts > 1][0]
        rows = np.flatnonzero((out["run_id"] == rid).to_numpy()) + 1
        raise ValueError(f"runs table: run_id {rid!r} appears {int(counts[rid])} times (rows "
                         f"{', '.join(map(str, rows[:5]))}); each run must be listed once")
    derived_mode = pd.Series(np.where(out["partner"].notna(), "pair", "single"), index=out.index)
    out["mode"] = out["mode"].where(out["mode"].notna(), derived_mode)
    bad = ~out["mode"].isin(MODES)
    if bad.any():
        raise ValueError(f"runs table: mode {out['mode'][bad].iloc[0]!r} in {_row_ref(out, bad)}: "
                         f"allowed: {', '.join(MODES)}")
    if "operator" not in src:
        out["operator"] = pd.Series(ORIGINAL, index=out.index, dtype=object).where(
            out["hyperparameter"] == ORIGINAL, np.nan)
    return out


def _energy_columns(out: pd.DataFrame, src: pd.DataFrame) -> None:
    """The numeric columns (in place), the total energy, its domains and kWh derived where absent,
    every energy and the duration checked for range."""
    for c in ("original", "value"):
        out[c] = _maybe_numeric(src[c]) if c in src else pd.Series(np.nan, index=src.index)
    for c in NUMERIC_COLUMNS:
        if c not in ("original", "value"):
            out[c] = _to_numeric(src[c], c) if c in src else pd.Series(np.nan, index=src.index)
    if "total_energy_j" not in src:
        present = [c for _, c in DOMAIN_COLUMNS if c in src]
        out["total_energy_j"] = out[present].sum(axis=1, min_count=1)
    if "total_domains" not in src:
        present = [(d, c) for d, c in DOMAIN_COLUMNS if c in src]
        if present:
            parts = [np.where(out[c].notna(), d, "") for d, c in present]
            joined = pd.Series(["+".join(p for p in row if p) for row in zip(*parts)], index=out.index)
            out["total_domains"] = joined.where(joined != "", np.nan).astype(object)
    if "energy_kwh" not in src:
        out["energy_kwh"] = kwh(out["total_energy_j"])
    for c in ENERGY_VALUE_COLUMNS + ("energy_kwh", "co2e_g"):
        _check_range(out, c, 0.0, MAX_ENERGY_J,
                     f"energies must be finite, non-negative joules below {MAX_ENERGY_J:g}")
    for c in NET_ENERGY_COLUMNS:
        _check_range(out, c, None, MAX_ENERGY_J, f"net energies must be finite, below {MAX_ENERGY_J:g} J")
    _check_range(out, "duration_s", 0.0, MAX_DURATION_S,
                 f"durations must be finite, non-negative seconds below {MAX_DURATION_S:g}")


def _task_metric_columns(out: pd.DataFrame, src: pd.DataFrame) -> None:
    """``metric_value``, ``metric_name`` and ``accuracy`` (in place): each derived from the others
    where absent; one task metric per subject; an ok run's metric finite."""
    if "metric_value" not in src:
        out["metric_value"] = out["accuracy"]
        if "metric_name" not in src:
            out["metric_name"] = "accuracy"
    elif "metric_name" not in src:
        if "accuracy" in src and (out["metric_value"].fillna(-1.0) == out["accuracy"].fillna(-1.0)).all():
            out["metric_name"] = "accuracy"
        else:
            raise ValueError("runs table: column metric_value needs a metric_name column "
                             "(or give the metric as an 'accuracy' column)")
    names = out.groupby("subject")["metric_name"].agg(lambda s: list(s.dropna().unique()))
    for subject, u in names.items():
        if len(u) > 1:
            raise ValueError(f"runs table: subject {subject!r} reports several task metrics "
                             f"({', '.join(u)}); one metric per subject")
    fill = out["subject"].map({s: u[0] for s, u in names.items() if u})
    out["metric_name"] = out["metric_name"].where(out["metric_name"].notna(), fill).astype(object)
    no_name = out["metric_value"].notna() & out["metric_name"].isna()
    if no_name.any():
        raise ValueError(f"runs table: metric_name is empty for {_row_ref(out, no_name)}")
    if "accuracy" not in src:
        out["accuracy"] = out["metric_value"].where(out["metric_name"] == "accuracy")
    ok = out["status"] == OK
    for c in ("metric_value", "accuracy"):
        _check_range(out, c, None, np.inf, "the task metric of an ok run must be finite", rows=ok)


def _repetition_and_estimates(out: pd.DataFrame, src: pd.DataFrame) -> None:
    """``repetition`` (whole numbers), ``energy_estimated`` (else from the ``*_method`` columns)."""
    rep = _to_numeric(src["repetition"], "repetition") if "repetition" in src else pd.Series(np.nan, index=src.index)
    if (rep.dropna() % 1 != 0).any():
        raise ValueError("runs table: column 'repetition' holds non-integer values")
    out["repetition"] = rep.astype("Int64")
    if "energy_estimated" in src:
        out["energy_estimated"] = _to_bool(src["energy_estimated"], "energy_estimated")
    else:
        methods = [out[c] for c in METHOD_COLUMNS if c in src]
        est = pd.Series(pd.NA, index=out.index, dtype="boolean")
        if methods:
            any_m = pd.concat(methods, axis=1).notna().any(axis=1)
            is_est = pd.concat([m.fillna("").str.startswith("estimate") for m in methods], axis=1).any(axis=1)
            est[any_m] = is_est[any_m]
        out["energy_estimated"] = est


def _hyperparameter_and_window_columns(out: pd.DataFrame, src: pd.DataFrame) -> None:
    """The ``hp_<h>`` columns (derived by _fill_hyperparameters, finite where numeric) and the
    training window's optional columns, in place."""
    for c in src.columns:
        if c.startswith(HP_PREFIX):
            out[c] = _maybe_numeric(src[c])
    _fill_hyperparameters(out)
    for c in hp_columns(out):
        if pd.api.types.is_float_dtype(out[c]):
            _check_range(out, c, None, np.inf, "hyperparameter values must be finite numbers")
    for c in WINDOW_COLUMNS:  # the training window's columns: optional (tables from before phase marks lack them)
        if c in src:
            out[c] = _to_numeric(src[c], c)
            if c.endswith("_energy_j") and "_net_" not in c:
                _check_range(out, c, 0.0, MAX_ENERGY_J,
                             f"energies must be finite, non-negative joules below {MAX_ENERGY_J:g}")


def validate_runs(df: pd.DataFrame, metric_directions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Check a runs table, derive what can be derived, and return a copy with the analysis dtypes.

    Required: REQUIRED_COLUMNS and one column of each REQUIRED_ONE_OF group; the rest is derived
    or left empty as COLUMN_DOCS says. Rejected with one ValueError naming the problem: a missing
    column, an empty identity cell, a mode other than single/pair, a duplicated run_id, a
    non-numeric number, an infinite, negative or absurd (> MAX_ENERGY_J) energy or duration, a
    non-finite task metric of an ok run, a mutant whose value contradicts its ``hp_<h>``, an
    ``hp_<h>`` that cannot be derived, an undeclared metric direction.

    Text columns: ``str`` with NaN for empty cells; numbers: float (``repetition``: Int64);
    ``energy_estimated``: nullable boolean; ``original``, ``value`` and ``hp_*``: float when every
    non-empty cell is a number, else left as text.
    """
    cols = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise ValueError(f"runs table: column(s) {', '.join(dup)} appear more than once")
    check_columns(cols)
    src = df.set_axis(cols, axis=1).reset_index(drop=True)
    out = _identity_columns(src)
    _energy_columns(out, src)
    _task_metric_columns(out, src)
    _resolve_directions(out, metric_directions)
    _repetition_and_estimates(out, src)
    _hyperparameter_and_window_columns(out, src)
    derived_columns(out, src)  # `derived`, `derived_from` (greenhp.analysis.derived)
    out = out.join(src[[c for c in src.columns if c not in out.columns]])  # the table's other columns
    order = [c for c in RUN_COLUMNS if c in out.columns] + [c for c in out.columns if c not in RUN_COLUMNS]
    return out[order]


def load_runs(path: str | Path, metric_directions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read ``results/runs.tsv`` (tab-separated) and return it validated (see validate_runs).

    Raises ValueError naming any missing required column, or a column that should be numeric but
    is not.
    """
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return validate_runs(df, metric_directions)


def save_checked(runs: pd.DataFrame, path: str | Path) -> None:
    """Keep a table returned by load_runs / validate_runs as a pickle: the statistics job hands it
    to the figures job of the same run (a Snakemake temp() file, deleted once drawn), which then
    skips parsing and checking runs.tsv again (1.5 s at 100,000 rows). Not a results file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    runs.to_pickle(tmp)
    tmp.replace(path)


def load_checked(path: str | Path) -> pd.DataFrame:
    """The table save_checked kept (written by this workflow in this run: trusted)."""
    return pd.read_pickle(path)


def hp_columns(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs.columns if c.startswith(HP_PREFIX)]


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == OK]


def partner_key(series: pd.Series) -> pd.Series:
    """Partner as a groupable string: "" in single mode or where empty."""
    return series.astype(object).where(series.notna(), "").astype(str)


def estimated_methods(rows: pd.DataFrame) -> list[str]:
    """Sorted energy methods that are estimates, among rows flagged ``energy_estimated``."""
    if rows.empty or "energy_estimated" not in rows:
        return []
    est = rows[rows["energy_estimated"].fillna(False).astype(bool)]
    methods: set[str] = set()
    for c in METHOD_COLUMNS:
        if c in est:
            methods.update(m for m in est[c].dropna().astype(str) if m.startswith("estimate"))
    if not est.empty and not methods:
        methods.add("unspecified estimate")
    return sorted(methods)


def estimate_note(rows: pd.DataFrame) -> str:
    """``"(estimated: m1, m2)"`` when any row's energy is an estimate, else ``""``."""
    methods = estimated_methods(rows)
    return f"(estimated: {', '.join(methods)})" if methods else ""


_DIGITS = re.compile(r"(\d+)")


def natural_key(value) -> tuple:
    """Sort key that orders the numbers inside text by value: x823 before x1070."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ((0, ""),)
    return tuple((1, int(p)) if p.isdigit() else (2, p) for p in _DIGITS.split(str(value)) if p)


def sort_natural(df: pd.DataFrame, by: list[str], natural: Iterable[str] = ("mutant_id",),
                 order: Mapping[str, Iterable] | None = None) -> pd.DataFrame:
    """``df`` sorted by the columns ``by``; those in ``natural`` by natural_key, those in ``order``
    by their position in the given sequence (unknown values last)."""
    if df.empty:
        return df.reset_index(drop=True)
    keys = {}
    for c in by:
        if c in (order or {}):
            pos = {v: i for i, v in enumerate(order[c])}
            keys[c] = df[c].map(lambda v: pos.get(v, len(pos)))
        elif c in natural:
            uniq = sorted(df[c].dropna().unique(), key=natural_key)
            rank = {v: i for i, v in enumerate(uniq)}
            keys[c] = df[c].map(rank).fillna(-1)
        else:
            keys[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    tmp = pd.DataFrame(keys, index=df.index)
    idx = tmp.sort_values(list(by), kind="mergesort").index
    return df.loc[idx].reset_index(drop=True)


def empty_table(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def import_runs(src: str | Path, dst: str | Path,
                metric_directions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Check an external runs table and write it as ``dst`` in the ``results/runs.tsv`` format.

    ``src`` is tab-separated (comma-separated when it ends in ``.csv``). Only REQUIRED_COLUMNS and
    one column of each REQUIRED_ONE_OF group are needed (one ValueError names all that are
    missing); validate_runs derives the rest (COLUMN_DOCS) or rejects the table with one line.
    Written: the columns of ``greenhp.record.RUN_COLUMNS`` first (absent optional ones, e.g.
    ``reason`` or unused ``hp_*``, as empty columns), derived values filled in, then any other
    columns of ``src``. Returns the validated table.
    """
    src = Path(src)
    sep = "," if src.suffix.lower() == ".csv" else "\t"
    raw = pd.read_csv(src, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    try:
        checked = validate_runs(raw, metric_directions)
    except ValueError as exc:
        raise ValueError(f"{src}: {exc}") from None
    if raw.empty:
        raise ValueError(f"{src}: the runs table has no rows")
    cols = [c for c in RUN_COLUMNS if c in checked.columns or not c.startswith(HP_PREFIX)]
    cols += [c for c in checked.columns if c not in cols]
    out = checked.reindex(columns=cols)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    write_tsv(out, tmp)
    tmp.replace(dst)
    return checked


def _cells(series: pd.Series) -> list[str]:
    """A column's cells as to_csv writes them: numbers in Python's shortest round-trip form
    (repr, which is what pandas' float formatting gives too), missing values empty."""
    if series.dtype.kind == "f":
        return ["" if v != v else repr(v) for v in series.to_numpy().tolist()]
    missing = series.isna().to_numpy()
    values = series.to_numpy(dtype=object)
    return ["" if m else str(v) for v, m in zip(values.tolist(), missing.tolist())]


def write_tsv(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as ``df.to_csv(path, sep="\t", index=False)`` does, byte for byte (tested),
    about twice as fast on a large runs table: each column is formatted once as a list of
    strings and the rows go through the same C csv writer (minimal quoting)."""
    header = [str(c) for c in df.columns]
    cols = [_cells(df[c]) for c in df.columns]
    plain = len(cols) > 1 and not any(  # nothing to quote: rows are the cells joined by tabs
        ch in text for text in ["\x00".join(header)] + ["\x00".join(c) for c in cols]
        for ch in '\t"\r\n')
    with open(path, "w", newline="", encoding="utf-8") as f:
        if plain:
            f.write("\t".join(header) + os.linesep)
            if cols[0]:
                f.write(os.linesep.join(map("\t".join, zip(*cols))) + os.linesep)
            return
        w = csv.writer(f, delimiter="\t", quotechar='"', quoting=csv.QUOTE_MINIMAL,
                       lineterminator=os.linesep)
        w.writerow(header)
        w.writerows(zip(*cols))
