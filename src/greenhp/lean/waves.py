"""The lean design's two waves of training runs as the workflow sees them: record paths.

The workflow (workflow/rules/common.smk, lean.smk) trains the first wave (Study.first_wave_*_jobs:
originals at every repetition, mutants at ``lean.first_wave``), then the checkpoint ``lean_decide``
(scripts/lean_decide.py -> :func:`decide_first_wave`) writes ``results/lean/decisions.tsv``
(greenhp.lean.decide.DECISION_COLUMNS), and every reader of the study's records takes the first wave
plus the extension records of the groups with ``extend`` true (:func:`extension_records`).

A rerun with another band (or other decision settings) decides again from the same first wave: the
study then uses exactly the records its current decisions name, so the same config gives the same
runs table whatever ran before. Extension records of groups that are no longer open stay on disk
(never retrained if they reopen) and the checkpoint's log names them as not used.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from greenhp.lean.settings import LeanError, LeanSettings
from greenhp.study import PairJob, SingleJob, Study

DECISIONS = "results/lean/decisions.tsv"
# The analysis settings the decision depends on (greenhp.lean.decide.first_wave_comparisons): the
# checkpoint's params, so that a change of one of them, and only of one of them, decides again.
DECISION_ANALYSIS_KEYS = ("alpha", "delta_threshold", "seed", "test", "window", "metric_directions")


def record_path(job: SingleJob | PairJob) -> str:
    """The record a training job writes (train.smk's outputs)."""
    if isinstance(job, PairJob):
        return f"results/runs/pair/{job.mutant_id}/{job.partner}/rep{job.repetition}.json"
    return f"results/runs/single/{job.mutant_id}/rep{job.repetition}.json"


def plan_records(study: Study) -> list[str]:
    """Every record of the full design, in the study's order (single jobs, then pair jobs)."""
    return [record_path(j) for j in study.single_jobs() + study.pair_jobs()]


def first_wave_records(study: Study) -> list[str]:
    """The first wave's records (every record when the design is not adaptive), in plan order."""
    return [record_path(j) for j in study.first_wave_single_jobs() + study.first_wave_pair_jobs()]


def decision_params(settings: LeanSettings, analysis: Mapping) -> dict:
    """What the checkpoint's decision depends on besides the first wave's records (its params)."""
    return {"first_wave": settings.first_wave, "p_band": list(settings.p_band),
            "delta_band": list(settings.delta_band) if settings.delta_band else None,
            "analysis": {k: analysis[k] for k in DECISION_ANALYSIS_KEYS if k in analysis}}


def _flag(value: str, where: str) -> bool:
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise LeanError(f"{where}: extend {value!r} is not true or false")
    return text == "true"


def read_decisions(path: str | Path, study: Study) -> list[tuple[str, str, str, bool]]:
    """The (mode, mutant_id, partner, extend) rows of a decisions table, checked against the study:
    a mode, mutant or partner the study does not have is an error naming the file, row and field."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise LeanError(f"{path}: cannot read the lean decisions: {err}") from None
    missing = [c for c in ("mode", "mutant_id", "partner", "extend") if c not in table.columns]
    if missing:
        raise LeanError(f"{path}: no column {', '.join(missing)} (a decisions table of greenhp.lean.decide)")
    rows = []
    for i, row in enumerate(table.itertuples(index=False), start=2):
        where = f"{path}, line {i}"
        mode, mutant, partner = row.mode, row.mutant_id, row.partner
        extend = _flag(row.extend, where)
        if mode not in ("single", "pair"):
            raise LeanError(f"{where}: mode {mode!r} is not single or pair")
        m = study.by_id.get(mutant)
        if m is None:
            raise LeanError(f"{where}: mutant_id {mutant!r} is not a configuration of this study")
        if extend and m.hyperparameter == "none":
            raise LeanError(f"{where}: mutant_id {mutant!r} is an original; originals get every repetition")
        if mode == "pair" and partner not in [f"{p}__original" for p in study.partners_of(m.subject)]:
            raise LeanError(f"{where}: partner {partner!r} is not a partner of {m.subject} in this study")
        rows.append((mode, mutant, partner if mode == "pair" else "", extend))
    return rows


def extension_jobs(study: Study, decisions: Iterable[tuple[str, str, str, bool]]) -> list[SingleJob | PairJob]:
    """The jobs of repetitions first_wave+1..repetitions of every group with extend true."""
    reps = range(study.first_wave + 1, study.repetitions + 1)
    jobs: list[SingleJob | PairJob] = []
    for mode, mutant, partner, extend in decisions:
        if extend:
            jobs += [SingleJob(mutant, k) if mode == "single" else PairJob(mutant, partner, k) for k in reps]
    return jobs


def extension_records(study: Study, decisions_path: str | Path) -> list[str]:
    """The extension records that a decisions table asks for, in plan order."""
    return [record_path(j) for j in extension_jobs(study, read_decisions(decisions_path, study))]


def plan_order(study: Study, records: Iterable[str]) -> list[str]:
    """``records`` in the full design's order (runs.tsv then lists runs as the full design would);
    each once."""
    wanted = set(records)
    return [r for r in plan_records(study) if r in wanted]


def wave_line(study: Study, settings: LeanSettings) -> str:
    """The parse-time line of an adaptive study (shown by every snakemake start, dry runs included)."""
    n = len(study.first_wave_single_jobs()) + len(study.first_wave_pair_jobs())
    return (f"greenhp: lean design: first wave of {settings.first_wave} of {settings.repetitions} repetitions "
            f"({n} training jobs; originals get all {settings.repetitions}); more may follow after "
            f"checkpoint lean_decide ({DECISIONS})")


def _runs_of(records: list[str], analysis: Mapping) -> tuple[pd.DataFrame, list[str]]:
    from greenhp.aggregate import aggregate
    from greenhp.analysis.tables import load_runs

    with tempfile.TemporaryDirectory(prefix="greenhp-lean-") as tmp:
        table = os.path.join(tmp, "runs.tsv")
        aggregate(records, table)  # unusable records become rows with status invalid (not used)
        runs = load_runs(table, analysis.get("metric_directions") or {})
    not_ok = [f"{r.run_id}: {r.status}" for r in runs.itertuples() if r.status != "ok"]
    return runs, not_ok


def decide_first_wave(records: list[str], study: Study, settings: LeanSettings, analysis: Mapping,
                      out_path: str | Path) -> list[str]:
    """The checkpoint: aggregate the first wave's records (in memory of a temporary folder, rule
    aggregate keeps the study's own table and invalid list), decide (greenhp.lean.decide.decide),
    write the decisions table atomically. Returns the log lines."""
    from greenhp.analysis.tables import write_tsv
    from greenhp.lean.decide import decide

    runs, not_ok = _runs_of(records, analysis)
    table = decide(runs, settings, analysis)
    out = table.copy()
    out["extend"] = ["true" if x else "false" for x in table["extend"]]
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write_tsv(out, tmp)
        os.replace(tmp, out_path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    rows = [(r.mode, r.mutant_id, r.partner, bool(r.extend)) for r in table.itertuples()]
    lines = [f"first wave: {len(records)} run records, {len(runs) - len(not_ok)} ok"]
    lines += [f"  not used: {x}" for x in not_ok]
    ext = extension_jobs(study, rows)
    lines.append(f"decided {len(table)} groups: {int(table['extend'].sum())} extended to "
                 f"{settings.repetitions} repetitions ({len(ext)} more training jobs) -> {out_path}")
    for r in table.itertuples():
        where = f"{r.mode} {r.mutant_id}" + (f" with {r.partner}" if r.mode == "pair" else "")
        lines.append(f"  {'extend' if r.extend else 'stop  '} {where}: {r.reason}")
    closed = [(m, mu, p, True) for m, mu, p, x in rows if not x]
    stale = [record_path(j) for j in extension_jobs(study, closed) if os.path.exists(record_path(j))]
    lines += [f"  on disk, not used (its group is not open under the current settings): {p}" for p in stale]
    return lines
