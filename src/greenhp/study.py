"""The study plan: checked configuration, mutant table, and the training jobs it implies.

Everything here runs when Snakemake parses the workflow, so it must stay cheap: no torch import,
no file-system scans. Bad input raises :class:`StudyError` with one message naming the field and
the allowed values, before any training starts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenhp.mutation import OPERATORS, Mutant, MutationError, build_mutants, read_tsv
from greenhp.subjects import HYPERPARAMETERS, REGISTRY, Subject, resolve

SCHEMA_DIR = Path(__file__).parent / "schemas"
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"  # mutant ids (also the workflow's wildcard constraints)
SAFE_NAME = re.compile(f"^{ID_PATTERN}$")  # ids become paths and argv: no shell or path tricks
MAX_ID_LENGTH = 100  # a mutant id is a path component of records and logs (file names stop at 255 bytes)
MAX_SUBJECT_NAME = 40  # subject names start every mutant id
# Snakemake refuses a wildcard value that ends in a substring repeated 20 or more times
# (PeriodicWildcardError, snakemake.io.PeriodicityDetector); such an id is rejected here, first.
PERIODIC = re.compile(r"(.+)\1{19,}$")


class StudyError(ValueError):
    """A configuration or mutant table that cannot be run; the message names the field."""


# ---------------------------------------------------------------------------- config files

class _DuplicateKey(ValueError):
    pass


def _strict_loader():
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses a key written twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(loader, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: PyYAML itself reports it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise _DuplicateKey(f"line {line}: key {key!r} appears twice in one mapping (first at line {first})")
            seen[key] = line
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictLoader


def read_text_file(path: str | Path, what: str) -> str:
    """The text of a config file or table, or a StudyError of one line when it is missing, binary or
    not UTF-8 (a byte-order mark is dropped)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise StudyError(f"{what} {path}: cannot read it: {err.strerror or err}") from None
    if b"\x00" in data:
        raise StudyError(f"{what} {path}: is a binary file (it holds NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise StudyError(f"{what} {path}: is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None


def read_yaml_file(path: str | Path, what: str) -> Any:
    """A YAML (or JSON) document read strictly: a binary file, a syntax error or a key written twice
    gives a StudyError of one line naming ``what`` (``config file``, ``calibration file``), the file
    and the line."""
    import yaml

    text = read_text_file(path, what)
    try:
        return yaml.load(text, Loader=_strict_loader())  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as err:
        raise StudyError(f"{what} {path}, {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise StudyError(f"{what} {path}{where}: not valid YAML: {' '.join(str(problem).split())}") from None


def read_config_file(path: str | Path) -> Any:
    """One study config file as a YAML (or JSON) document, read strictly (:func:`read_yaml_file`)."""
    return read_yaml_file(path, "config file")


def check_config_files(paths) -> None:
    """The checks Snakemake's own config loader skips (it keeps the last of two equal keys silently)."""
    for path in paths:
        read_config_file(path)


def load_config_files(paths) -> dict:
    """The study config the workflow sees for ``--configfile PATHS...``: the files merged in order, as
    Snakemake merges them (later files override earlier ones key by key)."""
    from snakemake.utils import update_config

    config: dict = {}
    for path in paths:
        data = read_config_file(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise StudyError(f"config file {path}: the configuration must be a mapping of keys to values, not {type(data).__name__}")
        update_config(config, data)
    return config


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
        return partner_list(self.config, subject)

    def pair_jobs(self) -> list[PairJob]:
        jobs = []
        for m in self.mutants:
            for partner_subject in self.partners_of(m.subject):
                partner = f"{partner_subject}__original"
                jobs.extend(PairJob(m.mutant_id, partner, k) for k in range(1, self.repetitions + 1))
        return jobs

    # The lean design (greenhp.lean, docs/lean.md): originals, the baseline of every comparison, get
    # every repetition at once; a mutant gets lean.first_wave first and the rest only where a
    # comparison is still open after them (checkpoint lean_decide). Off, the first wave is all jobs.
    @property
    def first_wave(self) -> int:
        from greenhp.lean.settings import lean_settings

        return lean_settings(self.config).first_wave

    def _first_wave_of(self, jobs: list) -> list:
        wave = self.first_wave  # the lean settings are read once per list, not once per job
        return [j for j in jobs if j.repetition <= wave or self.by_id[j.mutant_id].hyperparameter == "none"]

    def first_wave_single_jobs(self) -> list[SingleJob]:
        return self._first_wave_of(self.single_jobs())

    def first_wave_pair_jobs(self) -> list[PairJob]:
        return self._first_wave_of(self.pair_jobs())


def partner_list(config: dict, subject: str) -> list[str]:
    partners = (config.get("pairs") or {}).get(subject) or []
    return [partners] if isinstance(partners, str) else list(partners)


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
    except SystemExit as err:  # a user's module that calls sys.exit() when imported
        raise StudyError(f"subjects.{name}.module: {sconf.get('module')!r} called sys.exit({err.code!r}) while being imported") from None
    except Exception as err:  # import errors of a user's module, wrong object type, ...
        raise StudyError(f"subjects.{name}.module: {err}") from None


def own_defaults(config: dict, name: str) -> dict[str, int | float]:
    """The subject's own default hyperparameters, checked: a user subject's unknown hyperparameter or
    bad value is named as the subject's own default (not blamed on a mutation operator later)."""
    subject = study_subject(config, name)
    if not isinstance(subject.defaults, dict) or not subject.defaults:
        raise StudyError(f"subjects.{name}: the subject declares no default hyperparameters (Subject.defaults)")
    sconf = config["subjects"].get(name) or {}
    own = f"subjects.{name}: the subject's own default " if sconf.get("module") else f"subjects.{name}: default "
    base = {}
    for hp, value in subject.defaults.items():
        if hp not in HYPERPARAMETERS:
            raise StudyError(f"{own}{hp!r} is not a hyperparameter greenhp knows; allowed: {', '.join(HYPERPARAMETERS)}")
        try:
            base[hp] = HYPERPARAMETERS[hp].check(value, own)
        except ValueError as err:
            raise StudyError(str(err)) from None
    return base


def subject_defaults(config: dict) -> dict[str, dict[str, int | float]]:
    """Each configured subject's original hyperparameters: the subject's defaults, then the config's overrides."""
    out = {}
    for name, sconf in config["subjects"].items():
        base = own_defaults(config, name)
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
        if len(name) > MAX_SUBJECT_NAME:
            raise StudyError(f"subjects: name {name[:20]!r}... is {len(name)} characters long; allowed: at most {MAX_SUBJECT_NAME}")
        defaults = own_defaults(config, name)
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
    from greenhp.lean.settings import LeanError, lean_settings

    try:
        lean_settings(config)
    except LeanError as err:
        raise StudyError(str(err)) from None
    for subject, partners in (config.get("pairs") or {}).items():
        if subject not in subjects:
            raise StudyError(f"pairs: {subject!r} is not a subject of this study; subjects: {', '.join(subjects)}")
        seen_partners = set()
        for partner in [partners] if isinstance(partners, str) else partners or []:
            if partner not in subjects:
                raise StudyError(f"pairs.{subject}: partner {partner!r} is not a subject of this study; subjects: {', '.join(subjects)}")
            if partner in seen_partners:
                raise StudyError(f"pairs.{subject}: partner {partner!r} is listed twice; list each partner once")
            seen_partners.add(partner)


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
        if len(m.mutant_id) > MAX_ID_LENGTH:
            raise StudyError(
                f"mutant_id {m.mutant_id[:30]!r}... is {len(m.mutant_id)} characters long; allowed: at most {MAX_ID_LENGTH} "
                "(ids name files and folders)"
            )
        periodic = PERIODIC.search(m.mutant_id)
        if periodic:
            raise StudyError(
                f"mutant_id {m.mutant_id!r}: ends in {periodic.group(1)!r} repeated {len(periodic.group(0)) // len(periodic.group(1))} "
                "times, which Snakemake refuses as a wildcard value (PeriodicWildcardError); choose a shorter id"
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
        is_original = m.mutant_id == f"{m.subject}__original"
        if is_original and (m.hyperparameter != "none" or m.operator != "none"):
            raise StudyError(f"{where}: an original has hyperparameter none and operator none, not {m.hyperparameter!r} and {m.operator!r}")
        if not is_original and m.hyperparameter == "none":
            raise StudyError(
                f"{where}: hyperparameter none marks the original, and {m.subject}'s original is {m.subject}__original; "
                "a mutant names the hyperparameter it changes"
            )
        if not is_original and m.operator == "none":
            raise StudyError(f"{where}: operator none marks an original; a mutant names its operator ({', '.join(OPERATORS)})")
        if not is_original and (m.value is None or not _same(m.value, m.hp[m.hyperparameter])):
            raise StudyError(
                f"{where}: value {m.value!r} contradicts hp_{m.hyperparameter} {m.hp[m.hyperparameter]!r}; "
                "they must be equal (the run trains with hp_ columns, the tables report value)"
            )
    originals = {m.subject: m for m in mutants if m.mutant_id == f"{m.subject}__original"}
    for subject in subjects:
        if subject not in originals:
            raise StudyError(f"mutant table: no original row for subject {subject!r} (mutant_id {subject}__original)")
    for m in mutants:
        original = originals[m.subject]
        if m is original:
            continue
        where = f"mutant {m.mutant_id!r}"
        if all(_same(m.hp[hp], original.hp[hp]) for hp in m.hp):
            raise StudyError(f"{where}: has the same hyperparameters as {original.mutant_id}; a mutant must change one")
        if m.original is None or not _same(m.original, original.hp[m.hyperparameter]):
            raise StudyError(
                f"{where}: original {m.original!r} contradicts hp_{m.hyperparameter} {original.hp[m.hyperparameter]!r} "
                f"of {original.mutant_id}; they must be equal"
            )


def _same(a: int | float, b: int | float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)


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


# ---------------------------------------------------------------------------- run identity

#: The settings that retrain a finished run when they change (README, "What reruns a run"): the
#: training rules' ``params`` hold exactly these, and Snakemake reruns a job whose params changed.
RUN_IDENTITY = ("mode", "mutant", "partner", "repetition", "seed", "device", "torch_threads", "data",
                "max_steps", "energy", "modules")


def run_spec(config: dict, study: Study, mode: str, mutant_id: str, partner_id: str | None, repetition: int) -> dict:
    """What identifies one training run: everything that changes its training or its measurement, and
    nothing else (accounting, analysis settings, time limits and other subjects stay out, so changing
    them never retrains a finished run). A user subject counts by its ``module`` reference, not by the
    source code behind it (edit the code, then delete its records or use ``--forcerun``)."""
    return run_identity(config, mode, study.by_id[mutant_id], study.by_id[partner_id] if mode == "pair" else None,
                        repetition)


def run_identity(config: dict, mode: str, mutant: Mutant, partner: Mutant | None, repetition: int) -> dict:
    """:func:`run_spec` of a ``mutant`` (and ``partner``) given as such: the workflow's training rules
    and the estimate's calibration runs (greenhp.cost.calibration) both build their runs here."""
    subjects = {mutant.subject} | ({partner.subject} if partner is not None else set())
    modules = {name: (config["subjects"].get(name) or {}).get("module") for name in sorted(subjects)}
    return {
        "mode": mode,
        "mutant": mutant,
        "partner": partner,
        "repetition": int(repetition),
        "seed": int(config["seed"]) + int(repetition),
        "device": config["device"],
        "torch_threads": config["train"]["torch_threads"],
        "data": config["data"],
        "max_steps": config["train"]["max_steps"],
        "energy": config.get("energy") or {},
        "modules": {name: module for name, module in modules.items() if module},
    }


def run_settings(config: dict) -> dict:
    """What a training job needs but what never retrains a finished run: the time limit and the carbon
    intensity the record notes (runs.tsv recomputes CO2e from the joules with the current intensity).
    The training script reads these from the job's config, outside the rule's params."""
    return {
        "timeout_s": (config.get("train") or {}).get("timeout_s"),
        "carbon_g_per_kwh": (config.get("carbon") or {}).get("intensity_g_per_kwh"),
    }


def describe(study: Study) -> dict[str, Any]:
    """The job counts ``greenhp plan`` prints; with the lean design (docs/lean.md) also its first
    wave, the jobs that may follow it and the design's name."""
    out: dict[str, Any] = {
        "configurations": len(study.mutants),
        "single_jobs": len(study.single_jobs()),
        "pair_jobs": len(study.pair_jobs()),
    }
    if study.first_wave < study.repetitions:
        first = len(study.first_wave_single_jobs()) + len(study.first_wave_pair_jobs())
        out.update(design="lean", first_wave_jobs=first,
                   jobs_that_may_follow=out["single_jobs"] + out["pair_jobs"] - first)
    return out


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
