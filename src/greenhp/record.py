"""Run records: schema validation, and flattening into rows of the runs table."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from greenhp.subjects import HYPERPARAMETERS

DOMAINS = ("gpu", "cpu", "dram")
RUN_COLUMNS = [
    "run_id", "mode", "subject", "mutant_id", "hyperparameter", "operator", "original", "value",
    "repetition", "seed", "partner", "status", "reason", "duration_s",
    "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "total_energy_j",
    "gpu_method", "cpu_method", "dram_method", "energy_estimated", "total_domains",
    "gpu_net_energy_j", "cpu_net_energy_j", "total_net_energy_j",
    "gpu_share_j", "cpu_share_j", "total_share_j",
    "metric_name", "metric_value", "metric_direction", "accuracy", "energy_kwh", "co2e_g",
    "device", "gpu_model", "cpu_model",
] + [
    # the training window (greenhp.energy.phases: training start -> last epoch mark) of the main
    # process; empty where the run sent no marks (older records, a crash before training ended)
    "train_duration_s", "train_gpu_energy_j", "train_cpu_energy_j", "train_dram_energy_j",
    "train_total_energy_j", "train_total_net_energy_j", "epochs_marked",
    # what the training processes' marks leave out (greenhp.marks.settle); empty when nothing
    "marks_note",
    # the lean design's rows read from a longer run's epoch marks (greenhp.lean.derive): false and
    # empty for every trained run
    "derived", "derived_from",
] + [f"hp_{name}" for name in HYPERPARAMETERS]
#: Runs-table columns a table from elsewhere (or from before phase marks) may lack.
WINDOW_COLUMNS = ("train_duration_s", "train_gpu_energy_j", "train_cpu_energy_j", "train_dram_energy_j",
                  "train_total_energy_j", "train_total_net_energy_j", "epochs_marked")
#: Columns of results/epochs.tsv (one row per run and epoch; energies cumulative from training start).
EPOCH_COLUMNS = [
    "run_id", "mode", "subject", "mutant_id", "partner", "repetition", "status", "process",
    "epoch", "epochs", "t_s", "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "total_energy_j",
    "gpu_method", "cpu_method", "dram_method", "energy_estimated", "metric_name", "metric_value",
    "loss", "schedule_depends_on_epochs",
]


@lru_cache(maxsize=None)
def schema(name: str = "run_record") -> dict:
    text = resources.files("greenhp").joinpath("schemas", f"{name}.schema.yaml").read_text()
    return yaml.safe_load(text)


def validate(record: dict) -> None:
    """Raise ``jsonschema.ValidationError`` naming the offending field when ``record`` breaks the schema."""
    import jsonschema

    jsonschema.validate(record, schema())


@lru_cache(maxsize=None)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(schema())


def schema_problem(record: Any) -> str | None:
    """One line naming the first field of ``record`` that breaks the schema, or None when it is valid.
    Missing required keys of one object are named together ("missing required keys: mode, timing")."""
    import jsonschema

    errors = list(_validator().iter_errors(record))
    error = jsonschema.exceptions.best_match(errors)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "required":
        missing = [e.message.split("'")[1] for e in errors
                   if e.validator == "required" and list(e.absolute_path) == list(error.absolute_path)
                   and e.message.count("'") >= 2]
        missing = list(dict.fromkeys(missing))
        if len(missing) > 1:
            shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
            return f"{where}: missing required keys: {shown}"
    return f"{where}: {error.message[:300]}"


def check(record: Any) -> str | None:
    """Why a run record (already parsed) cannot be used, one line naming the field, or None: the
    schema first (its shape and types), then :func:`greenhp.record_check.problems` (its arithmetic:
    totals, domains, phases, times, metric ranges). Every reader of run records goes through this
    (via :func:`read_record`)."""
    from greenhp.record_check import problem as consistency_problem

    problem = schema_problem(record)
    if problem:
        return f"breaks the run-record schema at {problem}"
    problem = consistency_problem(record)
    return f"fails the run-record check at {problem}" if problem else None


def load(path: str | Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def read_record(path: str | Path) -> tuple[dict | None, str | None]:
    """``(record, None)`` for a usable run record at ``path``, else ``(None, why)``: unreadable, not
    JSON, breaks the schema or fails :func:`check`. ``why`` starts with a verb ("is not valid JSON
    ...", "fails the run-record check at energy/total/energy_j: ..."); callers put the path before it."""
    try:
        with open(path, "rb") as fh:
            rec = json.loads(fh.read().decode("utf-8"))
    except OSError as err:
        return None, f"cannot be read: {err.strerror or err}"
    except UnicodeDecodeError:
        return None, "is not UTF-8 text"
    except json.JSONDecodeError as err:
        return None, f"is not valid JSON (truncated?): {err.msg} at line {err.lineno} column {err.colno}"
    problem = check(rec)
    return (None, problem) if problem else (rec, None)


def record_problem(path: str | Path) -> str | None:
    """Why the run record at ``path`` cannot be used (see :func:`read_record`), or None."""
    return read_record(path)[1]


def quarantine(path: str | Path) -> Path:
    """Move an unusable run record aside to ``<path>.invalid`` (kept for inspection, replacing an older
    one) so that the next run of the workflow sees the record missing and trains the run again."""
    path = Path(path)
    aside = path.with_name(path.name + ".invalid")
    path.replace(aside)
    return aside


def quarantine_invalid(paths) -> list[str]:
    """Move every existing record in ``paths`` that :func:`record_problem` rejects aside, so Snakemake
    retrains it. Returns one line per record moved. Costs one JSON parse and check per record."""
    lines = []
    for p in paths:
        if Path(p).exists():
            problem = record_problem(p)
            if problem:
                lines.append(f"greenhp: run record {p} {problem}; moved aside to {quarantine(p)}, the run is trained again")
    return lines


def write_invalid_list(paths, out_path: str | Path) -> None:
    """The records rule aggregate found unusable, one path a line (``results/runs_invalid.txt``), for
    :func:`quarantine_listed` at the next start of the workflow."""
    from greenhp.atomic import write_text

    write_text(out_path, "".join(f"{p}\n" for p in paths))


def quarantine_listed(list_path: str | Path, planned) -> list[str]:
    """The workflow's parse-time hook (common.smk): move aside the records that rule aggregate listed
    in ``list_path`` as unusable and that still are (:func:`quarantine_invalid`), and then remove the
    list, so that this run of the workflow trains them again. (Snakemake does not rerun a job for a
    missing intermediate file while the outputs after it are up to date; the missing list, an output
    of rule aggregate that rule all asks for, makes it rerun aggregate and so train the records
    aggregate needs.) Only paths among
    ``planned`` (the study's record paths) are touched, whatever the list says; a missing list is no
    error. Costs one read of a short file and a check of each listed record, so it keeps the parse
    step cheap (docs/architecture.md)."""
    try:
        listed = Path(list_path).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    planned = {str(p) for p in planned}
    lines = quarantine_invalid([p for p in dict.fromkeys(x.strip() for x in listed) if p in planned])
    if lines:
        Path(list_path).unlink(missing_ok=True)
    return lines


def to_row(rec: dict) -> dict[str, Any]:
    """One row of ``results/runs.tsv``. Unmeasured energies stay None (an empty cell), never 0."""
    energy = rec["energy"]
    row: dict[str, Any] = {
        "run_id": rec["run_id"], "mode": rec["mode"], "subject": rec["subject"], "mutant_id": rec["mutant_id"],
        "hyperparameter": rec["hyperparameter"], "operator": rec["operator"],
        "original": rec.get("original"), "value": rec.get("value"),
        "repetition": rec["repetition"], "seed": rec["seed"],
        "partner": (rec.get("partner") or {}).get("mutant_id"),
        "status": rec["status"], "reason": rec.get("reason"),
        "duration_s": rec["timing"]["duration_s"],
    }
    for d in DOMAINS:
        row[f"{d}_energy_j"] = energy[d]["energy_j"]
        row[f"{d}_method"] = energy[d]["method"]
    row["total_energy_j"] = energy["total"]["energy_j"]
    row["energy_estimated"] = bool(energy["total"]["estimated"])
    row["total_domains"] = "+".join(energy["total"]["domains"])
    net = energy.get("net") or {}
    for d in ("gpu", "cpu", "total"):
        row[f"{d}_net_energy_j"] = net.get(f"{d}_j")
    share = (energy.get("attribution") or {}).get("main") or {}
    for d in ("gpu", "cpu", "total"):
        row[f"{d}_share_j"] = share.get(f"{d}_j")
    metric = rec["metric"]
    row["metric_name"], row["metric_value"] = metric["name"], metric["value"]
    row["metric_direction"] = metric.get("direction")  # absent in records written before it existed
    row["accuracy"] = metric["value"] if metric["name"] == "accuracy" else None
    row["energy_kwh"], row["co2e_g"] = rec["carbon"]["energy_kwh"], rec["carbon"]["co2e_g"]
    env = rec.get("environment") or {}
    row["device"] = rec["device"]
    row["gpu_model"] = env.get("gpu_model")
    row["cpu_model"] = env.get("cpu_model")
    for name in HYPERPARAMETERS:
        row[f"hp_{name}"] = rec["requested"].get(name)
    main = (energy.get("phases") or {}).get("main") or {}
    train = main.get("training") or {}
    row["train_duration_s"] = train.get("duration_s")
    for d in ("gpu", "cpu", "dram", "total"):
        row[f"train_{d}_energy_j"] = train.get(f"{d}_j")
    row["train_total_net_energy_j"] = train.get("total_net_j")
    row["epochs_marked"] = len(main.get("epochs") or []) if main else None
    row["marks_note"] = marks_note(energy)
    row["derived"], row["derived_from"] = False, None  # a record is a trained run
    return row


def marks_note(energy: dict) -> str | None:
    """The runs table's ``marks_note``: the main process's note on its marks (greenhp.marks.settle),
    then the partner's, prefixed ``partner:``; None when neither has one (or the record predates notes)."""
    phases = energy.get("phases") or {}
    notes = [(phases.get("main") or {}).get("note"), (phases.get("partner") or {}).get("note")]
    text = [n if i == 0 else f"partner: {n}" for i, n in enumerate(notes) if isinstance(n, str) and n]
    return "; ".join(text) or None


def epoch_rows(rec: dict) -> list[dict[str, Any]]:
    """Rows of ``results/epochs.tsv`` for one run record: one per process (``main``, and ``partner``
    in pair mode) and epoch mark, energies cumulative from that process's training start (the
    device's whole energy, and the CPU-time estimate of every process of the run, between marks)."""
    energy = rec["energy"]
    out = []
    for process, ph in sorted((energy.get("phases") or {}).items()):
        for e in ph.get("epochs") or []:
            row = {
                "run_id": rec["run_id"], "mode": rec["mode"], "subject": rec["subject"],
                "mutant_id": rec["mutant_id"], "partner": (rec.get("partner") or {}).get("mutant_id"),
                "repetition": rec["repetition"], "status": rec["status"], "process": process,
                "epoch": e.get("epoch"), "epochs": e.get("epochs"), "t_s": e.get("t_s"),
                "energy_estimated": bool(energy["total"]["estimated"]),
                "metric_name": e.get("metric_name"), "metric_value": e.get("metric"), "loss": e.get("loss"),
                "schedule_depends_on_epochs": rec.get("schedule_depends_on_epochs"),
            }
            if process == "partner":
                p = rec.get("partner") or {}
                row.update(subject=p.get("subject"), mutant_id=p.get("mutant_id"), partner=rec["mutant_id"],
                           status=(rec.get("partner_result") or {}).get("status"),
                           schedule_depends_on_epochs=None)
            for d in ("gpu", "cpu", "dram", "total"):
                row[f"{d}_energy_j"] = e.get(f"{d}_j")
            for d in ("gpu", "cpu", "dram"):
                row[f"{d}_method"] = energy[d]["method"]
            out.append(row)
    return out
