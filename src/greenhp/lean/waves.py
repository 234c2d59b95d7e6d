"""The lean design's two waves of training runs as the workflow sees them: record paths.

The workflow (workflow/rules/common.smk, lean.smk) trains the first wave (Study.first_wave_*_jobs:
originals at every repetition, mutants at ``lean.first_wave``), then the checkpoint ``lean_decide``
(scripts/lean_decide.py -> :func:`decide_first_wave`) writes ``results/lean/decisions.tsv``
(greenhp.lean.decide.DECISION_COLUMNS), and every reader of the study's records takes the first wave
plus the extension records of the groups with ``extend`` true (:func:`extension_records`).

With ``lean.derive_epochs`` (greenhp.lean.derive) the single-mode jobs of derived configurations are
not trained: :func:`first_wave_runs` and :func:`study_runs` give the records to train and the rows to
derive (the sources' records are among the records). The checkpoint also runs when the derive plan
has families (:func:`checkpoint_needed`), even with every repetition in the first wave: it writes
``results/lean/derive_check.tsv`` (derived against measured), and a family whose check fails is
trained in full after it.

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

from greenhp.analysis.derived import failed_families
from greenhp.lean.derive import (DerivedJob, DerivePlan, check_from_records, derive_plan, full_families,
                                 full_family_jobs, split_single_jobs, write_check)
from greenhp.lean.settings import LeanError, LeanSettings
from greenhp.study import PairJob, SingleJob, Study

DECISIONS = "results/lean/decisions.tsv"
CHECK = "results/lean/derive_check.tsv"
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


def checkpoint_needed(settings: LeanSettings, plan: DerivePlan) -> bool:
    """True when the lean design has something to decide after the first wave: which groups get the
    remaining repetitions (adaptive), or whether the derived families pass their check."""
    return settings.adaptive or bool(plan.families)


def _split(study: Study, plan: DerivePlan, single: Iterable[tuple[str, int]], pair: Iterable[PairJob],
           full: Iterable[str]) -> tuple[list[str], list[DerivedJob]]:
    """The records to train (plan order) and the rows to derive (plan order, each once)."""
    train, derived = split_single_jobs(plan, study, single, full)
    records = plan_order(study, [record_path(SingleJob(m, k)) for m, k in train] + [record_path(j) for j in pair])
    order = {(j.mutant_id, j.repetition): i for i, j in enumerate(study.single_jobs())}
    unique = {(j.mutant.mutant_id, j.repetition): j for j in derived}
    return records, [unique[key] for key in sorted(unique, key=lambda key: order.get(key, len(order)))]


def first_wave_runs(study: Study, plan: DerivePlan) -> tuple[list[str], list[DerivedJob]]:
    """The first wave's records to train (the derived configurations' sources included, their own
    single-mode jobs left out) and its derived rows: the checkpoint's input."""
    single = [(j.mutant_id, j.repetition) for j in study.first_wave_single_jobs()]
    return _split(study, plan, single, study.first_wave_pair_jobs(), ())


def study_runs(study: Study, plan: DerivePlan, decisions_path: str | Path | None = None,
               check_path: str | Path | None = None) -> tuple[list[str], list[DerivedJob]]:
    """Every record the study trains and every row it derives, once the checkpoint has run: the
    first wave, the extensions of the open groups (``decisions_path``; none when not adaptive) and
    the families whose check failed (``check_path``, trained in full: greenhp.lean.derive)."""
    single = [(j.mutant_id, j.repetition) for j in study.first_wave_single_jobs()]
    pair = list(study.first_wave_pair_jobs())
    if decisions_path is not None:
        for job in extension_jobs(study, read_decisions(decisions_path, study)):
            if isinstance(job, PairJob):
                pair.append(job)
            else:
                single.append((job.mutant_id, job.repetition))
    full = full_families(check_path, plan) if check_path is not None else {}
    single += full_family_jobs(plan, full, study.repetitions)
    return _split(study, plan, single, pair, full)


def derived_params(jobs: Iterable[DerivedJob]) -> list[list]:
    """Derived rows as a rule's params (a change reruns the rule): [mutant_id, repetition, source]."""
    return [[j.mutant.mutant_id, j.repetition, j.source_path] for j in jobs]


def derived_jobs(study: Study, params: Iterable) -> list[DerivedJob]:
    """:func:`derived_params` back to derived jobs (in a rule's script)."""
    jobs = []
    for mutant_id, rep, source in params:
        if mutant_id not in study.by_id:
            raise LeanError(f"derived row {mutant_id} rep{rep}: {mutant_id!r} is not a configuration of this study")
        jobs.append(DerivedJob(study.by_id[mutant_id], int(rep), str(source)))
    return jobs


def wave_line(study: Study, settings: LeanSettings, plan: DerivePlan | None = None) -> str:
    """The parse-time line of a lean study with a checkpoint (shown by every snakemake start, dry
    runs included): the first wave's training jobs and, with derived epochs rows, how many
    configurations are derived instead of trained."""
    plan = plan or DerivePlan()
    records, derived = first_wave_runs(study, plan)
    n = len(records)
    reps = settings.repetitions
    if settings.adaptive:
        line = (f"greenhp: lean design: first wave of {settings.first_wave} of {reps} repetitions "
                f"({n} training jobs; originals get all {reps})")
    else:
        line = f"greenhp: lean design: every repetition at once ({n} training jobs)"
    if settings.derive_epochs:
        checks = sum(len(f.check) for f in plan.families)
        line += (f"; {len(plan.not_trained())} configurations derived from longer runs ({len(derived)} rows, "
                 f"not trained; {checks} also trained as a check)")
    if settings.adaptive:
        return line + f"; more may follow after checkpoint lean_decide ({DECISIONS})"
    return line + f"; a family whose check fails is trained in full after checkpoint lean_decide ({CHECK})"


def _runs_of(records: list[str], analysis: Mapping, derived: Iterable[DerivedJob] = ()) -> tuple[pd.DataFrame, list[str]]:
    from greenhp.aggregate import aggregate
    from greenhp.analysis.tables import load_runs

    with tempfile.TemporaryDirectory(prefix="greenhp-lean-") as tmp:
        table = os.path.join(tmp, "runs.tsv")
        aggregate(records, table, derived=derived)  # unusable records become rows with status invalid
        runs = load_runs(table, analysis.get("metric_directions") or {})
    not_ok = [f"{r.run_id}: {r.status}" for r in runs.itertuples() if r.status != "ok"]
    return runs, not_ok


def _replace(path: str | Path, write) -> Path:
    """Write ``path`` atomically: ``write(tmp)``, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _decide(runs: pd.DataFrame, study: Study, settings: LeanSettings, analysis: Mapping,
            out_path: str | Path) -> list[str]:
    from greenhp.analysis.tables import write_tsv
    from greenhp.lean.decide import decide

    table = decide(runs, settings, analysis)
    out = table.copy()
    out["extend"] = ["true" if x else "false" for x in table["extend"]]
    out_path = _replace(out_path, lambda tmp: write_tsv(out, tmp))
    rows = [(r.mode, r.mutant_id, r.partner, bool(r.extend)) for r in table.itertuples()]
    ext = extension_jobs(study, rows)
    lines = [f"decided {len(table)} groups: {int(table['extend'].sum())} extended to "
             f"{settings.repetitions} repetitions ({len(ext)} more repetitions) -> {out_path}"]
    for r in table.itertuples():
        where = f"{r.mode} {r.mutant_id}" + (f" with {r.partner}" if r.mode == "pair" else "")
        lines.append(f"  {'extend' if r.extend else 'stop  '} {where}: {r.reason}")
    return lines


def _unused(study: Study, decisions_path: str | Path, used: set[str]) -> list[str]:
    """The extension records of decided groups that are on disk and that the study does not use
    (``used``: :func:`study_runs`' records under the current decisions and check; one trained as the
    source of an open derived configuration, or as a member of a family trained in full, is used)."""
    closed = [(m, mu, p, True) for m, mu, p, x in read_decisions(decisions_path, study) if not x]
    stale = [r for r in map(record_path, extension_jobs(study, closed)) if os.path.exists(r) and r not in used]
    return [f"  on disk, not used (its group is not open under the current settings): {p}" for p in stale]


def _check(runs: pd.DataFrame, study: Study, plan: DerivePlan, out_path: str | Path) -> list[str]:
    """Derived against measured for the check configurations (greenhp.lean.derive.check_from_records),
    written to ``out_path``; the families it fails are trained in full after the checkpoint."""
    check = check_from_records(plan, study, runs)
    out_path = _replace(out_path, lambda tmp: write_check(check, tmp))
    failed = failed_families(check)
    jobs = full_family_jobs(plan, failed, study.repetitions)
    lines = [f"checked {len(check)} derived-against-measured rows of {len(plan.families)} families: "
             f"{len(failed)} trained in full ({len(jobs)} more training jobs) -> {out_path}"]
    for r in check.itertuples():
        verdict = {True: "ok    ", False: "failed"}.get(r.ok, "n/a   ")
        note = f"; {r.note}" if isinstance(r.note, str) and r.note else ""  # an empty note is NaN in the table
        lines.append(f"  {verdict} {r.family}: {r.configuration} ({r.energy_column}): error {r.energy_error} "
                     f"against spread {r.spread}, metric error {r.metric_error}{note}")
    lines += [f"  family {fam} trained in full: {why}" for fam, why in failed.items()]
    return lines


def lean_checkpoint(records: list[str], derived: Iterable[DerivedJob], study: Study, settings: LeanSettings,
                    analysis: Mapping, decisions_path: str | Path | None = None,
                    check_path: str | Path | None = None) -> list[str]:
    """The checkpoint lean_decide: aggregate the first wave's records and derived rows (in a
    temporary folder; rule aggregate keeps the study's own table and invalid list), then decide which
    groups get the remaining repetitions (``decisions_path``, greenhp.lean.decide.decide; adaptive
    designs) and check derived against measured (``check_path``, greenhp.lean.derive; derived
    families). Each table is written atomically. Returns the log lines."""
    derived = list(derived)
    runs, not_ok = _runs_of(records, analysis, derived)
    lines = [f"first wave: {len(records)} run records and {len(derived)} derived rows, {len(runs) - len(not_ok)} ok"]
    lines += [f"  not used: {x}" for x in not_ok]
    plan = derive_plan(study, settings)
    if decisions_path is not None:
        lines += _decide(runs, study, settings, analysis, decisions_path)
    if check_path is not None:
        lines += _check(runs, study, plan, check_path)
    used = study_runs(study, plan, decisions_path, check_path)[0]  # the records it trains, read once
    if decisions_path is not None:
        lines += _unused(study, decisions_path, set(used))
    # what the study trains after the checkpoint, counted once from the records it uses: an open
    # derived configuration adds its source's repetition (shared by the family's open members), a
    # failed family its members
    first = set(records)
    later = [r for r in used if r not in first]
    on_disk = sum(os.path.exists(r) for r in later)
    lines.append(f"after the checkpoint: {len(later)} more training jobs"
                 + (f" ({on_disk} of them already on disk)" if on_disk else ""))
    return lines


def decide_first_wave(records: list[str], study: Study, settings: LeanSettings, analysis: Mapping,
                      out_path: str | Path) -> list[str]:
    """The checkpoint of an adaptive design without derived rows (:func:`lean_checkpoint`)."""
    return lean_checkpoint(records, (), study, settings, analysis, decisions_path=out_path)
