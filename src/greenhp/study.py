"""The study plan: checked configuration, mutant table, and the training jobs it implies.

Everything here runs when Snakemake parses the workflow, so it must stay cheap: no torch import,
no file-system scans. Bad input raises :class:`StudyError` with one message naming the field and
the allowed values, before any training starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenhp.mutation import OPERATORS, Mutant, MutationError, build_mutants, read_tsv
from greenhp.subjects import HYPERPARAMETERS, REGISTRY, Subject, resolve

SCHEMA_DIR = Path(__file__).parent / "schemas"
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"  # mutant ids (also the workflow's wildcard constraints)
SAFE_NAME = re.compile(f"^{ID_PATTERN}$")  # ids become paths and argv: no shell or path tricks


class StudyError(ValueError):
    """A configuration or mutant table that cannot be run; the message names the field."""


def validate_config(config: Any) -> None:
    """Check a study configuration against the config schema and fill in its defaults, in place, as
    the Snakefile does before anything else; a StudyError of one line names the bad field."""
    if not isinstance(config, dict):
        raise StudyError(f"the configuration must be a mapping of keys to values, not {type(config).__name__}")
    from greenhp.checks import schema_problem

    problem = schema_problem(config, SCHEMA_DIR / "config.schema.yaml")
    if problem is not None:
        raise StudyError(problem)


@dataclass(frozen=True)
class SingleJob:
    mutant_id: str
    repetition: int


@dataclass(frozen=True)
class PairJob:
    mutant_id: str
    partner: str  # mutant_id of the configuration it trains beside (an original)
    repetition: int


@dataclass
class Study:
    config: dict
    mutants: list[Mutant]
    by_id: dict[str, Mutant] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {m.mutant_id: m for m in self.mutants}

    @property
    def repetitions(self) -> int:
        return int(self.config["repetitions"])

    def single_jobs(self) -> list[SingleJob]:
        return [SingleJob(m.mutant_id, k) for m in self.mutants for k in range(1, self.repetitions + 1)]

    def partners_of(self, subject: str) -> list[str]:
        partners = (self.config.get("pairs") or {}).get(subject) or []
        return [partners] if isinstance(partners, str) else list(partners)

    def pair_jobs(self) -> list[PairJob]:
        jobs = []
        for m in self.mutants:
            for partner_subject in self.partners_of(m.subject):
                partner = f"{partner_subject}__original"
                jobs.extend(PairJob(m.mutant_id, partner, k) for k in range(1, self.repetitions + 1))
        return jobs


def study_subject(config: dict, name: str) -> Subject:
    """The subject the study calls ``name`` (registered, or user-defined via ``subjects.<name>.module``)."""
    sconf = config["subjects"].get(name) or {}
    if not sconf.get("module") and name not in REGISTRY:
        raise StudyError(
            f"subjects: unknown subject {name!r}; known subjects: {', '.join(sorted(REGISTRY))} "
            "(or give subjects.<name>.module: 'package.module:ATTR' for your own)"
        )
    try:
        return resolve(name, sconf)
    except Exception as err:  # import errors of a user's module, wrong object type, ...
        raise StudyError(f"subjects.{name}.module: {err}") from None


def subject_defaults(config: dict) -> dict[str, dict[str, int | float]]:
    """Each configured subject's original hyperparameters: the subject's defaults, then the config's overrides."""
    out = {}
    for name, sconf in config["subjects"].items():
        base = dict(study_subject(config, name).defaults)
        for hp, value in ((sconf or {}).get("defaults") or {}).items():
            if hp not in base:
                raise StudyError(f"subjects.{name}.defaults.{hp}: not a hyperparameter of {name}; allowed: {', '.join(base)}")
            try:
                base[hp] = HYPERPARAMETERS[hp].check(value, f"subjects.{name}.defaults.")
            except ValueError as err:
                raise StudyError(str(err)) from None
        out[name] = base
    return out


def check_config(config: dict) -> None:
    """Semantic checks the JSON schema cannot express."""
    subjects = config.get("subjects")
    if not isinstance(subjects, dict) or not subjects:
        raise StudyError("subjects: expected a mapping of at least one subject; known subjects: " + ", ".join(sorted(REGISTRY)))
    for name, sconf in subjects.items():
        if not SAFE_NAME.match(str(name)) or "." in str(name):
            raise StudyError(f"subjects: name {name!r} may hold only letters, digits, _ and -")
        defaults = study_subject(config, name).defaults
        hps = (sconf or {}).get("hyperparameters") or {}
        names = hps if isinstance(hps, list) else list(hps)
        for hp in names:
            if hp not in defaults:
                raise StudyError(
                    f"subjects.{name}.hyperparameters: {hp!r} is not a hyperparameter of {name}; "
                    f"allowed: {', '.join(defaults)}"
                )
    from greenhp.subjects.datasets import source_problem

    problem = source_problem(config.get("data") or {}, [n for n, sc in subjects.items() if not (sc or {}).get("module")])
    if problem:
        raise StudyError(problem)
    for subject, partners in (config.get("pairs") or {}).items():
        if subject not in subjects:
            raise StudyError(f"pairs: {subject!r} is not a subject of this study; subjects: {', '.join(subjects)}")
        for partner in [partners] if isinstance(partners, str) else partners or []:
            if partner not in subjects:
                raise StudyError(f"pairs.{subject}: partner {partner!r} is not a subject of this study; subjects: {', '.join(subjects)}")


def check_mutants(mutants: list[Mutant], config: dict, defaults: dict[str, dict[str, int | float]]) -> None:
    """Checks for a mutant table, generated or supplied by the user.

    ``defaults`` is :func:`subject_defaults` of ``config`` (each subject's hyperparameters), computed
    once by the caller rather than resolving the subject again for every row.
    """
    seen: set[str] = set()
    subjects = config["subjects"]
    for m in mutants:
        where = f"mutant {m.mutant_id!r}"
        if not SAFE_NAME.match(m.mutant_id) or ".." in m.mutant_id:
            raise StudyError(
                f"mutant_id {m.mutant_id!r}: only letters, digits and _ . + - are allowed (no spaces, slashes, "
                "'..' or shell characters)"
            )
        if m.mutant_id in seen:
            raise StudyError(f"mutant_id {m.mutant_id!r} appears more than once")
        seen.add(m.mutant_id)
        if m.subject not in subjects:
            raise StudyError(f"{where}: subject {m.subject!r} is not in this study; subjects: {', '.join(subjects)}")
        allowed = defaults[m.subject]
        for hp in m.hp:
            if hp not in allowed:
                raise StudyError(f"{where}: hp_{hp} is not a hyperparameter of {m.subject}; allowed: {', '.join(allowed)}")
        missing = [hp for hp in allowed if hp not in m.hp]
        if missing:
            raise StudyError(f"{where}: no value for {', '.join('hp_' + h for h in missing)}")
        for hp, value in m.hp.items():
            try:
                HYPERPARAMETERS[hp].check(value, f"{where}: hp_")
            except ValueError as err:
                raise StudyError(str(err)) from None
        if m.hyperparameter != "none" and m.hyperparameter not in allowed:
            raise StudyError(f"{where}: hyperparameter {m.hyperparameter!r} is not one of {m.subject}'s: {', '.join(allowed)}")
        if m.operator != "none" and m.operator not in OPERATORS:
            raise StudyError(f"{where}: operator {m.operator!r} unknown; allowed: none, {', '.join(OPERATORS)}")
    for subject in subjects:
        if f"{subject}__original" not in seen:
            raise StudyError(f"mutant table: no original row for subject {subject!r} (mutant_id {subject}__original)")


def load_study(config: dict, base_dir: str | Path = ".") -> Study:
    """Check ``config`` and build (or read) its mutant table."""
    check_config(config)
    defaults = subject_defaults(config)
    table = config.get("mutants_table") or ""
    try:
        if table:
            path = Path(base_dir) / table
            if not path.is_file():
                raise StudyError(f"mutants_table: file {str(path)!r} not found")
            mutants = read_tsv(path)
        else:
            mutants = build_mutants(config, defaults)
    except MutationError as err:
        raise StudyError(str(err)) from None
    check_mutants(mutants, config, defaults)
    return Study(config, mutants)


def describe(study: Study) -> dict[str, Any]:
    return {
        "configurations": len(study.mutants),
        "single_jobs": len(study.single_jobs()),
        "pair_jobs": len(study.pair_jobs()),
    }


def detect_gpus() -> int:
    """Number of NVIDIA GPUs NVML sees (0 when NVML or a driver is absent). Cheap: no torch import."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return 0
