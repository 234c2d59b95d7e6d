"""Run records -> the tidy runs table (``results/runs.tsv``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable

from greenhp.atomic import write_text
from greenhp.record import RUN_COLUMNS, load, to_row, validate


def cell(value) -> str:
    if value is None:
        return ""  # not measured / not applicable: an empty cell, never 0
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def aggregate(paths: Iterable[str | Path], out_path: str | Path, log: str | Path | None = None) -> int:
    """Validate each record and write one row per run, in the order given. Returns the row count."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(RUN_COLUMNS)
    n = 0
    counts: dict[str, int] = {}
    for path in paths:
        rec = load(path)
        try:
            validate(rec)
        except Exception as err:
            raise ValueError(f"run record {path} breaks the schema: {err}") from None
        row = to_row(rec)
        writer.writerow([cell(row.get(c)) for c in RUN_COLUMNS])
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
        n += 1
    write_text(out_path, buf.getvalue())
    if log:
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        write_text(log, f"aggregated {n} run records into {out_path} ({summary})\n")
    return n


def aggregate_epochs(paths: Iterable[str | Path], out_path: str | Path, log: str | Path | None = None) -> int:
    """Write ``results/epochs.tsv``: one row per run, process and epoch mark (record.EPOCH_COLUMNS),
    energies cumulative from the training start; runs without marks add no rows. Returns the row
    count."""
    from greenhp.record import EPOCH_COLUMNS, epoch_rows

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(EPOCH_COLUMNS)
    n = runs = 0
    for path in paths:
        rec = load(path)
        try:
            validate(rec)
        except Exception as err:
            raise ValueError(f"run record {path} breaks the schema: {err}") from None
        rows = epoch_rows(rec)
        runs += bool(rows)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in EPOCH_COLUMNS])
            n += 1
    write_text(out_path, buf.getvalue())
    if log:
        write_text(log, f"wrote {n} epoch rows of {runs} runs with epoch marks into {out_path}\n")
    return n
