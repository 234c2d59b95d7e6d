"""The two files of the cost package: ``results/estimate.tsv`` (written by ``greenhp plan
--estimate``, read back by the footprint) and ``results/footprint.tsv`` (rule footprint)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from greenhp.cost.items import ITEMS
from greenhp.cost.predict import Estimate
from greenhp.units import accounting

EST_COLUMNS = ["scope", "item", "mode", "subject", "partner", "epochs", "batch_size", "count",
               "seconds", "seconds_low", "seconds_high", "energy_j", "energy_j_low", "energy_j_high",
               "kwh", "co2e_g", "cost", "basis"]
FOOT_COLUMNS = ["item", "count", "status", "seconds", "energy_j", "energy_method", "kwh", "co2e_g", "cost",
                "estimated_seconds", "estimated_seconds_low", "estimated_seconds_high",
                "estimated_energy_j", "estimated_energy_j_low", "estimated_energy_j_high",
                "seconds_vs_estimate", "seconds_in_estimate_range", "energy_vs_estimate",
                "energy_in_estimate_range", "note"]


def cell(v) -> str:
    """One TSV cell: empty for None, true/false, floats to 6 significant digits."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _write(rows: list[dict], columns: list[str], path: str | Path) -> None:
    from greenhp.atomic import write_text

    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([cell(r.get(c)) for c in columns])
    write_text(path, buf.getvalue())


def item_rows(scope: str, items: dict, carbon) -> list[dict]:
    """One estimate.tsv row per item (ITEMS order) of one design (``scope`` study or lean)."""
    return [{"scope": scope, "item": name, "count": items[name].get("count"),
             **{k: items[name].get(k) for k in ("seconds", "seconds_low", "seconds_high", "energy_j",
                                                "energy_j_low", "energy_j_high")},
             **accounting(items[name].get("energy_j"), carbon), "basis": items[name].get("basis", "")}
            for name in ITEMS]


def estimate_rows(est: Estimate) -> list[dict]:
    """estimate.tsv's rows: one per configuration and mode (per job), then the study's items."""
    rows = []
    for r in est.configurations:
        rows.append({"scope": "configuration", "item": r["mutant_id"], **{k: r.get(k) for k in (
            "mode", "subject", "partner", "epochs", "batch_size")}, "count": r["jobs"],
            **{k: r.get(k) for k in ("seconds", "seconds_low", "seconds_high", "energy_j", "energy_j_low",
                                     "energy_j_high")}, "basis": "per job"})
    rows += item_rows("study", est.items, est.carbon)
    lo, c, hi = est.device_hours
    rows.append({"scope": "study", "item": "device_hours", "count": est.lanes, "seconds": c * 3600,
                 "seconds_low": lo * 3600, "seconds_high": hi * 3600,
                 "basis": f"{est.device_hours_unit} on {est.device}; calibrated on {est.where}"})
    return rows + lean_estimate_rows(est)


def lean_estimate_rows(est: Estimate) -> list[dict]:
    """estimate.tsv's rows of the lean design (scope ``lean``; none when the study's lean design is
    off): its items, device hours and derived rows; central = the expected extensions, low = none
    extended, high = all extended (greenhp.cost.predict.LeanEstimate)."""
    lean = est.lean
    if lean is None:
        return []
    rows = item_rows("lean", lean.items, est.carbon)
    lo, c, hi = lean.device_hours
    rows.append({"scope": "lean", "item": "device_hours", "count": est.lanes, "seconds": c * 3600,
                 "seconds_low": lo * 3600, "seconds_high": hi * 3600,
                 "basis": f"lean design: {est.device_hours_unit} on {est.device}; first wave {lean.first_wave} "
                          f"of {lean.repetitions}, {lean.expected_extension:g} of the rest expected"})
    rows.append({"scope": "lean", "item": "derived_rows", "count": lean.derived_rows[1],
                 "basis": f"{lean.derived_configurations} configuration(s) read from longer runs' epoch marks, "
                          f"not trained: {lean.derived_rows[0]:g} to {lean.derived_rows[2]:g} rows"})
    return rows


def write_estimate_tsv(est: Estimate, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(estimate_rows(est), EST_COLUMNS, path)
    return path


def read_estimate_tsv(path: str | Path, scope: str = "study") -> dict[str, dict]:
    """The study rows of an estimate.tsv (``scope`` ``lean``: its lean design's rows, {} where it has
    none), by item, numbers as floats (None where empty)."""
    out = {}
    with open(path) as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            if r.get("scope") != scope:
                continue
            out[r["item"]] = {k: (float(v) if v not in ("", None) and k not in ("scope", "item", "basis") else
                                  (v if k in ("scope", "item", "basis") else None)) for k, v in r.items()}
    return out


def write_footprint(rows: list[dict], path: str | Path) -> Path:
    """footprint.tsv: the rows of greenhp.cost.footprint.footprint, FOOT_COLUMNS."""
    _write(rows, FOOT_COLUMNS, path)
    return Path(path)
