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


def _epochs(m) -> float:
    value = m.hp.get("epochs")
    return float(value) if value is not None else float("-inf")


def derived_configurations(study, settings: LeanSettings) -> list[str]:
    """The mutant ids of the single-mode configurations the lean design does not train but derives
    from a longer run of their epochs family, in the study's order.

    Only with ``lean.enabled`` and ``lean.derive_epochs``, and only for subjects that declare
    ``schedule_depends_on_epochs: False`` (undeclared or True: trained in full). An epochs family is a
    subject's original and its epochs mutants; never derived: the original, the family's longest
    member (the source of the others) and, as the check trained for real, ``lean.derive_check`` of the
    remaining members (here the shortest ones, the prefixes farthest from their source). Pair mode is
    never derived. The number, not the choice of check configurations, is what the estimate uses;
    greenhp.lean.derive makes the real choice."""
    from greenhp.study import study_subject

    if not (settings.enabled and settings.derive_epochs):
        return []
    out: list[str] = []
    for subject in dict.fromkeys(m.subject for m in study.mutants):
        if study_subject(study.config, subject).schedule_depends_on_epochs is not False:
            continue
        family = [m for m in study.mutants if m.subject == subject and m.hyperparameter in ("none", "epochs")]
        if len(family) < 2:
            continue
        longest = max(family, key=lambda m: (_epochs(m), m.hyperparameter == "none"))
        members = [m for m in family if m.hyperparameter != "none" and m is not longest]
        checks = {m.mutant_id for m in sorted(members, key=_epochs)[:max(0, settings.derive_check)]}
        out += [m.mutant_id for m in members if m.mutant_id not in checks]
    return out


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
