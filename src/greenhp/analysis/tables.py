"""The runs table (``results/runs.tsv``): its contract, loading and shared helpers.

One row per training run. Only rows with ``status == "ok"`` enter statistics; the other rows are
counted and reported (``n_excluded_*`` columns, the summary page). An empty cell is NaN and stays
NaN: no energy is ever treated as 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from greenhp.record import RUN_COLUMNS, WINDOW_COLUMNS

#: ``hyperparameter`` (and ``operator``) value of an original (unmutated) configuration.
ORIGINAL = "none"
#: The status of a run that enters statistics.
OK = "ok"
MODES = ("single", "pair")

#: Columns the aggregator writes (besides one ``hp_<name>`` column per hyperparameter).
TEXT_COLUMNS = (
    "run_id", "mode", "subject", "mutant_id", "hyperparameter", "operator", "partner", "status",
    "gpu_method", "cpu_method", "dram_method", "total_domains", "metric_name",
    "device", "gpu_model", "cpu_model",
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
#: The runs-table columns the analysis needs: every column greenhp's aggregator writes
#: (greenhp.record.RUN_COLUMNS) except the free-text ``reason`` and the ``hp_*`` columns, which vary.
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c for c in RUN_COLUMNS if c != "reason" and not c.startswith("hp_")
                                          and c not in WINDOW_COLUMNS)  # training-window columns are optional
HP_PREFIX = "hp_"
METHOD_COLUMNS = ("gpu_method", "cpu_method", "dram_method")

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

#: Task metrics for which LOWER is better. Every other ``metric_name`` (accuracy, f1, mAP, ...) is
#: taken as higher-is-better. Analyses orient the task metric with :func:`metric_sign`, so that
#: "better" always means higher accuracy or lower loss.
LOWER_IS_BETTER_METRICS = frozenset({
    "loss", "test_loss", "val_loss", "nll", "cross_entropy", "error", "error_rate", "mse", "rmse",
    "mae", "perplexity", "wer", "cer",
})

_NA_STRINGS = {"", "nan", "NaN", "NA", "N/A", "null", "None", "<NA>"}
_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def metric_sign(metric_name) -> int:
    """+1 when a higher task metric is better, -1 when lower is (name in LOWER_IS_BETTER_METRICS)."""
    if isinstance(metric_name, str) and metric_name.strip().lower() in LOWER_IS_BETTER_METRICS:
        return -1
    return 1


def _to_bool(series: pd.Series, name: str) -> pd.Series:
    def conv(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return pd.NA
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        s = str(v).strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        if s in {x.lower() for x in _NA_STRINGS}:
            return pd.NA
        raise ValueError(f"runs table: column {name!r} holds non-boolean value {v!r}")
    return series.map(conv).astype("boolean")


def _to_numeric(series: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    s = series.map(lambda v: np.nan if (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                                         or str(v).strip() in _NA_STRINGS) else str(v).strip())
    try:
        return pd.to_numeric(s, errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"runs table: column {name!r} is not numeric ({exc})") from None


def _maybe_numeric(series: pd.Series) -> pd.Series:
    """Numeric when every non-empty cell parses (hyperparameter values); the text otherwise."""
    try:
        return _to_numeric(series, "")
    except ValueError:
        return series


def check_columns(columns: Iterable[str]) -> None:
    """Raise ValueError naming every REQUIRED_COLUMNS entry absent from ``columns``."""
    missing = [c for c in REQUIRED_COLUMNS if c not in set(columns)]
    if missing:
        raise ValueError("runs table is missing required column(s): " + ", ".join(missing))


def validate_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Check the contract and return a copy with the analysis dtypes.

    Text columns: ``str`` with NaN for empty cells; numbers: float (``repetition``: Int64);
    ``energy_estimated``: nullable boolean; ``original``, ``value`` and ``hp_*``: float when every
    non-empty cell is a number, else left as text.
    """
    check_columns(df.columns)
    out = df.copy()
    for c in TEXT_COLUMNS:
        out[c] = out[c].map(lambda v: np.nan if (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                                                 or str(v).strip() == "") else str(v).strip())
        out[c] = out[c].astype(object)
    for c in ("original", "value"):
        out[c] = _maybe_numeric(out[c])
    for c in NUMERIC_COLUMNS:
        if c not in ("original", "value"):
            out[c] = _to_numeric(out[c], c)
    rep = _to_numeric(out["repetition"], "repetition")
    if (rep.dropna() % 1 != 0).any():
        raise ValueError("runs table: column 'repetition' holds non-integer values")
    out["repetition"] = rep.astype("Int64")
    out["energy_estimated"] = _to_bool(out["energy_estimated"], "energy_estimated")
    for c in WINDOW_COLUMNS:  # optional (tables from before phase marks lack them)
        if c in out:
            out[c] = _to_numeric(out[c], c)
    for c in hp_columns(out):
        out[c] = _maybe_numeric(out[c])
    return out


def load_runs(path: str | Path) -> pd.DataFrame:
    """Read ``results/runs.tsv`` (tab-separated) and return it validated (see validate_runs).

    Raises ValueError naming any missing required column, or a column that should be numeric but
    is not.
    """
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return validate_runs(df)


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


def empty_table(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def import_runs(src: str | Path, dst: str | Path) -> pd.DataFrame:
    """Check an external runs table and write it as ``dst`` in the ``results/runs.tsv`` format.

    ``src`` is tab-separated (comma-separated when it ends in ``.csv``). Every REQUIRED_COLUMNS
    entry must be present (one ValueError names all that are missing) and every value must parse
    as validate_runs expects. Written: the columns of ``greenhp.record.RUN_COLUMNS`` first (absent
    optional ones, e.g. ``reason`` or unused ``hp_*``, as empty columns), then any other columns
    of ``src``; cell text is kept as given. Returns the validated table.
    """
    from greenhp.record import RUN_COLUMNS, WINDOW_COLUMNS

    src = Path(src)
    sep = "," if src.suffix.lower() == ".csv" else "\t"
    raw = pd.read_csv(src, sep=sep, dtype=str, keep_default_na=False)
    raw.columns = [str(c).strip() for c in raw.columns]
    try:
        checked = validate_runs(raw)
    except ValueError as exc:
        raise ValueError(f"{src}: {exc}") from None
    if raw.empty:
        raise ValueError(f"{src}: the runs table has no rows")
    cols = [c for c in RUN_COLUMNS if c in raw.columns or not c.startswith(HP_PREFIX)]
    cols += [c for c in raw.columns if c not in cols]
    out = raw.reindex(columns=cols, fill_value="")
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    out.to_csv(tmp, sep="\t", index=False)
    tmp.replace(dst)
    return checked
