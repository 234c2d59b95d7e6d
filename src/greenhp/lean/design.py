"""The lean design's jobs, configuration by configuration, before the study runs (``greenhp plan
--estimate``; docs/lean.md "Cost before and after").

For each training configuration (mode, mutant, partner) of the study: the jobs of its first wave (an
original: every repetition; a mutant: ``lean.first_wave``), the jobs that wait for the first wave's
decision (a mutant's remaining repetitions, run only where a comparison is still open), and whether it
is *derived*: an epochs mutant read from the epoch marks of its family's longest run instead of
trained (``lean.derive_epochs``; :func:`derived_configurations`).
"""

from __future__ import annotations

from greenhp.lean.settings import LeanSettings


def derived_configurations(study, settings: LeanSettings) -> list[str]:
    """The mutant ids of the single-mode configurations the lean design does not train but derives
    from a longer run of their epochs family, in the study's order: greenhp.lean.derive's plan (the
    one place that decides it), before any check has failed."""
    from greenhp.lean.derive import derive_plan

    if not settings.enabled:
        return []
    not_trained = derive_plan(study, settings).not_trained()
    return [m.mutant_id for m in study.mutants if m.mutant_id in not_trained]


def lean_jobs(study, settings: LeanSettings) -> list[dict]:
    """One row per training configuration (single, then pair, in the order of greenhp.cost.predict's
    rows): ``mode``, ``mutant_id``, ``partner`` ("" in single mode), ``first`` (jobs of the first
    wave), ``extension`` (jobs run only if a comparison is still open), ``derived`` (its rows are read
    from a longer run: ``first`` + ``extension`` rows, no job). Lean off: every job is in ``first``."""
    reps, wave = study.repetitions, settings.first_wave if settings.enabled else study.repetitions
    derived = set(derived_configurations(study, settings))

    def row(mode: str, m, partner: str) -> dict:
        first = reps if m.hyperparameter == "none" else min(wave, reps)
        return {"mode": mode, "mutant_id": m.mutant_id, "partner": partner, "first": first,
                "extension": reps - first, "derived": mode == "single" and m.mutant_id in derived}

    rows = [row("single", m, "") for m in study.mutants]
    rows += [row("pair", m, f"{ps}__original") for m in study.mutants for ps in study.partners_of(m.subject)]
    return rows
