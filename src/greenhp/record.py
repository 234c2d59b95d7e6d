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
    """One line naming the first field of ``record`` that breaks the schema, or None when it is valid."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(record))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{where}: {error.message[:300]}"


def load(path: str | Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def record_problem(path: str | Path) -> str | None:
    """Why the run record at ``path`` cannot be used (unreadable, not JSON, breaks the schema), or None."""
    try:
        with open(path, "rb") as fh:
            rec = json.loads(fh.read().decode("utf-8"))
    except OSError as err:
        return f"cannot be read: {err.strerror or err}"
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    except json.JSONDecodeError as err:
        return f"is not valid JSON (truncated?): {err.msg} at line {err.lineno} column {err.colno}"
    problem = schema_problem(rec)
    return f"breaks the run-record schema at {problem}" if problem else None


def quarantine(path: str | Path) -> Path:
    """Move an unusable run record aside to ``<path>.invalid`` (kept for inspection, replacing an older
    one) so that the next run of the workflow sees the record missing and trains the run again."""
    path = Path(path)
    aside = path.with_name(path.name + ".invalid")
    path.replace(aside)
    return aside


def quarantine_invalid(paths) -> list[str]:
    """For the workflow's parse step (a one-line hook in common.smk): move every existing record in
    ``paths`` that :func:`record_problem` rejects aside, so Snakemake retrains it in this very run.
    Returns one line per record moved. Costs one JSON parse and schema check per existing record."""
    lines = []
    for p in paths:
        if Path(p).exists():
            problem = record_problem(p)
            if problem:
                lines.append(f"greenhp: run record {p} {problem}; moved aside to {quarantine(p)}, the run is trained again")
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
