"""The runs table's ``derived`` and ``derived_from`` columns (the lean design's epochs mutants read
from a longer run's epoch marks: greenhp.lean.derive, docs/lean.md).

A table without them (an import, a study from before, a study that derives nothing) has nothing
derived. :func:`derived_columns` (called by tables.validate_runs) checks them:

- ``derived``: true/false (empty: false); ``derived_from``: the source run's ``run_id``, filled
  exactly where ``derived`` is true;
- a derived row is a single-mode mutant, never an original, and (where it is ``ok``: a row that
  enters the statistics) its source is a row of the same table, of the same subject, single mode, not derived itself and **not an original**: every
  mutant-vs-original comparison is then two independent samples (the original's runs are never
  read into a mutant's rows);
- no two derived rows of one configuration come from the same source run (its repetitions stay
  independent of each other).

Rows derived from one source run are not independent of that run, nor of each other across
configurations: :func:`trained` gives the rows every test that pools configurations (the correlations)
uses instead. This module imports nothing from the rest of greenhp.analysis (tables.py imports it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

DERIVED_DOCS = {
    "derived": ("true where the row is read from a longer run's epoch marks instead of trained (lean design, docs/lean.md)", "optional", "false (trained)"),
    "derived_from": ("the `run_id` of the run a derived row comes from", "optional", "empty (trained)"),
}
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}


def _where(rows: pd.Series) -> str:
    idx = np.flatnonzero(rows.to_numpy())
    return "row(s) " + ", ".join(str(i + 1) for i in idx[:5]) + (" ..." if idx.size > 5 else "")


def _flags(values: pd.Series) -> pd.Series:
    text = values.map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v).strip().lower())
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        raise ValueError(f"runs table: derived = {values[bad].iloc[0]!r} in {_where(bad)}: allowed: true, false "
                         "or empty")
    return text.isin(_TRUE)


def derived_columns(out: pd.DataFrame, src: pd.DataFrame) -> None:
    """``derived`` (bool) and ``derived_from`` (text) of ``out`` (the checked runs table, in place)
    from ``src``; absent columns: nothing derived. ValueError naming the row for what breaks the
    rules of the module doc."""
    if "derived" not in src and "derived_from" not in src:
        return
    flag = _flags(src["derived"]) if "derived" in src else pd.Series(False, index=src.index)
    source = (src["derived_from"] if "derived_from" in src else pd.Series("", index=src.index))
    source = source.map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v).strip())
    for bad, what in ((flag & (source == ""), "a derived row names no derived_from run"),
                      (~flag & (source != ""), "derived_from is set on a row that is not derived"),
                      (flag & (out["mode"] != "single"), "a derived row is not single mode (pair mode is never derived)"),
                      (flag & (out["hyperparameter"] == "none"), "an original is never derived")):
        if bad.any():
            raise ValueError(f"runs table: {what}, in {_where(bad)}")
    ids = pd.Series(out.index, index=out["run_id"])
    for i in np.flatnonzero((flag & (out["status"] == "ok")).to_numpy()):  # rows that enter statistics
        rid, src_id = out["run_id"].iat[i], source.iat[i]
        if src_id not in ids.index:
            raise ValueError(f"runs table: derived row {rid!r} comes from {src_id!r}, which is not in the table")
        j = out.index.get_loc(ids[src_id])
        if (flag.iat[j] or out["hyperparameter"].iat[j] == "none" or out["mode"].iat[j] != "single"
                or out["subject"].iat[j] != out["subject"].iat[i]):
            raise ValueError(f"runs table: derived row {rid!r} comes from {src_id!r}, which is not a trained "
                             "single-mode mutant of the same subject (an original is never a source: its "
                             "comparisons must stay two independent samples)")
    twice = flag & pd.Series(list(zip(out["mutant_id"], source)), index=out.index).duplicated(keep=False)
    if twice.any():
        raise ValueError(f"runs table: two derived rows of one configuration come from the same run, in {_where(twice)}")
    out["derived"] = flag.astype(bool)
    out["derived_from"] = source.where(flag, np.nan).astype(object)


def is_derived(runs: pd.DataFrame) -> pd.Series:
    """True for derived rows (a table without the column: none)."""
    if "derived" not in runs:
        return pd.Series(False, index=runs.index)
    col = runs["derived"]
    return col.astype(bool) if col.dtype == bool else _flags(col)


def trained(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows that were trained (every row of a table without ``derived``)."""
    return runs[~is_derived(runs)]


def failed_families(check) -> dict[str, str]:
    """The families a check of derived against measured (greenhp.lean.derive.derive_check; the table
    or its rows as dicts, ``ok`` false or "false") sends to full training, each with why (its first
    failing row). Here so that the summary and the lean checkpoint read the check the same way."""
    out: dict[str, str] = {}
    if check is None:
        return out
    rows = check.to_dict("records") if hasattr(check, "to_dict") else list(check)
    for r in rows:
        if r["ok"] is False or str(r["ok"]).strip().lower() == "false":
            out.setdefault(r["family"], f"{r['configuration']} ({r['energy_column']}): {r['note']}")
    return out
