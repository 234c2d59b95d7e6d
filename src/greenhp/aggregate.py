"""Run records -> the tidy runs table (``results/runs.tsv``).

One bad record never stops the study: a record that cannot be read, is not JSON (truncated), breaks
the schema or fails the run-record check (greenhp.record.check: totals, phases, times, metric
ranges) is listed as a row with status ``invalid`` and a reason naming the file and the field; a
warning line says so.
The statistics use only ``ok`` rows, and every other reader skips the record through the same check.
The record stays where it is during this run of the workflow (later rules declare the records as
inputs); its path goes to the invalid list (``results/runs_invalid.txt``), and the next start of the
workflow moves it aside to ``<record>.invalid`` and trains that run again
(greenhp.record.quarantine_listed, called from common.smk).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Iterable

from greenhp.atomic import write_text
from greenhp.lean.derive import derived_row
from greenhp.record import RUN_COLUMNS, read_record, to_row, write_invalid_list
from greenhp.units import accounting

INVALID = "invalid"


def cell(value) -> str:
    if value is None:
        return ""  # not measured / not applicable: an empty cell, never 0
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def aggregate(paths: Iterable[str | Path], out_path: str | Path, log: str | Path | None = None,
              carbon_g_per_kwh: float | None = None, invalid_list: str | Path | None = None,
              derived: Iterable = ()) -> int:
    """Check each record and write one row per run, in the order given. Returns the row count.

    ``carbon_g_per_kwh`` (the study's current intensity): ``energy_kwh`` and ``co2e_g`` are computed
    from each run's ``total_energy_j`` with it (greenhp.units), so a changed intensity updates the
    table without retraining anything; without it they are the record's training-time values.
    ``invalid_list``: where to write the paths of the unusable records (one a line; the workflow's
    next start sets them aside and trains them again).
    ``derived``: the lean design's derived runs (greenhp.lean.derive.DerivedJob: configuration,
    repetition, source record), one row each after the records' rows, built from the source record's
    measured phases (greenhp.lean.derive.derived_row; status ``not_derived`` with the reason where the
    source gives nothing). A source record that is unusable is listed once, by its own path.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(RUN_COLUMNS)
    n = 0
    counts: dict[str, int] = {}
    warnings = []
    invalid = []
    sources: dict[str, tuple] = {}  # a source record is read once for all the rows derived from it
    for path, job in [(p, None) for p in paths] + [(j.source_path, j) for j in derived]:
        if job is not None:
            if str(path) not in sources:
                sources[str(path)] = read_record(path)
            row = derived_row(*sources[str(path)], job)
        elif (rec_problem := read_record(path))[1] is None:
            row = to_row(rec_problem[0])
        else:
            invalid.append(str(path))
            row = invalid_row(path, f"run record {path} {rec_problem[1]}; not used: the next run of the workflow "
                                    f"moves it aside to {Path(path).name}.invalid and trains the run again")
            warnings.append(f"greenhp: {row['reason']}")
            print(warnings[-1], file=sys.stderr, flush=True)
        if carbon_g_per_kwh is not None:  # from the joules, at the current intensity (greenhp.units)
            acc = accounting(row.get("total_energy_j"), {"intensity_g_per_kwh": carbon_g_per_kwh})
            row["energy_kwh"], row["co2e_g"] = acc["kwh"], acc["co2e_g"]
        writer.writerow([cell(row.get(c)) for c in RUN_COLUMNS])
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        n += 1
    write_text(out_path, buf.getvalue())
    if invalid_list:
        write_invalid_list(invalid, invalid_list)
    if log:
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        write_text(log, "".join(w + "\n" for w in warnings) + f"aggregated {n} run records into {out_path} ({summary})\n")
    return n


def invalid_row(path: str | Path, reason: str) -> dict:
    """A runs-table row for an unusable record: status ``invalid``, the identity its path gives
    (results/runs/single/<mutant_id>/rep<N>.json, results/runs/pair/<mutant_id>/<partner>/rep<N>.json)."""
    p = Path(path)
    row = {"status": INVALID, "reason": reason}
    rep = p.stem[3:] if p.stem.startswith("rep") else ""
    if p.parent.parent.name == "single":
        row.update(mode="single", mutant_id=p.parent.name, run_id=f"single__{p.parent.name}__rep{rep}")
    elif p.parent.parent.parent.name == "pair":
        m, partner = p.parent.parent.name, p.parent.name
        row.update(mode="pair", mutant_id=m, partner=partner, run_id=f"pair__{m}__with__{partner}__rep{rep}")
    else:
        row["run_id"] = str(p)
    if rep.isdigit():
        row["repetition"] = int(rep)
    if row.get("mutant_id"):  # <subject>__<hyperparameter>__<value> or <subject>__original (greenhp.mutation)
        parts = row["mutant_id"].split("__")
        row["subject"] = parts[0]
        if len(parts) > 1:
            row["hyperparameter"] = "none" if parts[1] == "original" else parts[1]
    return row


def aggregate_epochs(paths: Iterable[str | Path], out_path: str | Path, log: str | Path | None = None) -> int:
    """Write ``results/epochs.tsv``: one row per run, process and epoch mark (record.EPOCH_COLUMNS),
    energies cumulative from the training start; runs without marks add no rows. Returns the row
    count."""
    from greenhp.record import EPOCH_COLUMNS, epoch_rows

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(EPOCH_COLUMNS)
    n = runs = 0
    skipped = []
    for path in paths:
        rec, problem = read_record(path) if Path(path).exists() else (None, "is missing (moved aside as invalid)")
        if problem is not None:  # rule aggregate lists it as an invalid run (the next run retrains it)
            skipped.append(f"run record {path} {problem}: no epoch rows")
            continue
        rows = epoch_rows(rec)
        runs += bool(rows)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in EPOCH_COLUMNS])
            n += 1
    write_text(out_path, buf.getvalue())
    if log:
        write_text(log, "".join(f"{line}\n" for line in skipped)
                   + f"wrote {n} epoch rows of {runs} runs with epoch marks into {out_path}\n")
    return n
