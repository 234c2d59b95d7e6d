"""Seeded mutation operators and the mutant table.

Every operator draws from its own generator, seeded from (study seed, subject, hyperparameter), so
the same configuration always gives the same table, byte for byte, and adding a subject or a
hyperparameter does not change the mutants of the others.

Reference operators (Wang et al. 2026, see docs/architecture.md):
  epochs_ref   e +- int(e * U(0,1) * 0.25)
  lr_log10     lr * 10 ** (+-U(0,1))
  scale_ref    decrease v / (1 + 4U), increase v * (1 + 2U)        (weight decay, gamma, dropout, momentum)
  small_int    a random integer in [low, high] (Forward-Forward threshold; default 1..10)
  pow2         batch size b * 2 ** k, k in {-2, -1, 1, 2}
Alternatives, for any hyperparameter:
  values       an explicit list of values (no randomness)
  factors      an explicit list of multiplicative factors (no randomness)
  loguniform   log-uniform draws in [low, high]
  uniform      uniform draws in [low, high]
Draws that are out of the hyperparameter's valid range, equal to the original, or equal to an
earlier draw are re-drawn (up to MAX_ATTEMPTS, then a clear error).
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from greenhp.subjects.base import HYPERPARAMETERS

MAX_ATTEMPTS = 1000
SIGNIFICANT_DIGITS = 4  # mutated float values are rounded to this many significant digits

DEFAULT_OPERATOR = {
    "epochs": "epochs_ref",
    "lr": "lr_log10",
    "weight_decay": "scale_ref",
    "gamma": "scale_ref",
    "momentum": "scale_ref",
    "dropout": "scale_ref",
    "threshold": "small_int",
    "batch_size": "pow2",
}
OPERATORS = ("epochs_ref", "lr_log10", "scale_ref", "small_int", "pow2", "values", "factors", "loguniform", "uniform")
OPERATOR_KEYS = {  # allowed keys of an operator's mapping in the config, besides "operator"
    "epochs_ref": set(), "lr_log10": set(), "scale_ref": set(), "pow2": set(),
    "small_int": {"low", "high"}, "values": {"values"}, "factors": {"factors"},
    "loguniform": {"low", "high"}, "uniform": {"low", "high"},
}
FIXED_OPERATORS = ("values", "factors")  # give exactly their listed values; `mutants` is ignored


class MutationError(ValueError):
    """A mutation setting that cannot be honoured; the message names the setting."""


@dataclass(frozen=True)
class Mutant:
    mutant_id: str
    subject: str
    hyperparameter: str  # "none" for an original
    operator: str  # "none" for an original
    original: float | int | None
    value: float | int | None
    hp: dict[str, int | float]  # the full hyperparameter set of this configuration


def stable_seed(*parts: Any) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def round_sig(x: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def draw(operator: str, original: float, rng: np.random.Generator, spec: dict) -> float:
    """One draw of ``operator`` around ``original`` (before validation and de-duplication)."""
    u = rng.uniform(0.0, 1.0)
    up = rng.uniform(0.0, 1.0) < 0.5
    if operator == "epochs_ref":
        delta = int(original * u * 0.25)
        return original + delta if up else original - delta
    if operator == "lr_log10":
        return original * 10 ** (u if up else -u)
    if operator == "scale_ref":
        return original * (1 + 2 * u) if up else original / (1 + 4 * u)
    if operator == "small_int":
        return int(rng.integers(int(spec.get("low", 1)), int(spec.get("high", 10)) + 1))
    if operator == "pow2":
        return original * 2.0 ** int(rng.choice([-2, -1, 1, 2]))
    if operator == "loguniform":
        return math.exp(rng.uniform(math.log(spec["low"]), math.log(spec["high"])))
    if operator == "uniform":
        return rng.uniform(spec["low"], spec["high"])
    raise MutationError(f"unknown operator {operator!r}; allowed: {', '.join(OPERATORS)}")


def normalise_operator(subject: str, hp: str, spec: Any) -> dict:
    """Turn a config entry (None, an operator name, or a mapping) into a checked operator mapping."""
    where = f"subjects.{subject}.hyperparameters.{hp}"
    if spec is None:
        spec = {}
    elif isinstance(spec, str):
        spec = {"operator": spec}
    elif not isinstance(spec, dict):
        raise MutationError(f"{where}: expected an operator name or mapping, got {spec!r}")
    spec = dict(spec)
    op = spec.setdefault("operator", DEFAULT_OPERATOR[hp])
    if op not in OPERATORS:
        raise MutationError(f"{where}.operator: unknown operator {op!r}; allowed: {', '.join(OPERATORS)}")
    extra = set(spec) - {"operator"} - OPERATOR_KEYS[op]
    if extra:
        allowed = ", ".join(sorted(OPERATOR_KEYS[op])) or "(none)"
        raise MutationError(f"{where}: unknown key(s) {', '.join(sorted(extra))} for operator {op}; allowed: {allowed}")
    missing = OPERATOR_KEYS[op] - set(spec) - ({"low", "high"} if op == "small_int" else set())
    if missing:
        raise MutationError(f"{where}: operator {op} needs {', '.join(sorted(missing))}")
    for key in ("values", "factors"):
        if key in spec and (not isinstance(spec[key], list) or not spec[key]):
            raise MutationError(f"{where}.{key}: expected a non-empty list, got {spec[key]!r}")
    if op in ("loguniform", "uniform"):
        lo, hi = spec["low"], spec["high"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)) or not lo < hi:
            raise MutationError(f"{where}: need numbers low < high, got low={lo!r} high={hi!r}")
        if op == "loguniform" and lo <= 0:
            raise MutationError(f"{where}.low: loguniform needs low > 0, got {lo!r}")
    return spec


def mutate(subject: str, hp: str, original: float | int, spec: dict, n: int, seed: int) -> list[float | int]:
    """The mutated values of one hyperparameter, in draw order."""
    where = f"subjects.{subject}.hyperparameters.{hp}"
    param = HYPERPARAMETERS[hp]
    op = spec["operator"]
    if op in FIXED_OPERATORS:
        raw = spec["values"] if op == "values" else [original * f for f in spec["factors"]]
        out = []
        for v in raw:
            try:
                value = param.check(round_sig(v) if param.kind is float else v, where + ": ")
            except ValueError as err:  # a listed value out of range: a setting error, not a crash
                raise MutationError(str(err)) from None
            if value == original or value in out:
                raise MutationError(f"{where}: value {value!r} repeats the original or another value")
            out.append(value)
        return out
    rng = np.random.default_rng(stable_seed(seed, subject, hp))
    out: list[float | int] = []
    for _ in range(MAX_ATTEMPTS):
        if len(out) == n:
            return out
        v = draw(op, original, rng, spec)
        v = int(round(v)) if param.kind is int else round_sig(v)
        try:
            v = param.check(v)
        except ValueError:
            continue
        if v != original and v not in out and mutant_label(v, original) not in {mutant_label(o, original) for o in out}:
            out.append(v)
    if len(out) == n:
        return out
    raise MutationError(
        f"{where}: operator {op} found only {len(out)} distinct valid values of {n} requested around "
        f"{original!r} in {MAX_ATTEMPTS} draws; ask for fewer mutants or choose another operator"
    )


def mutant_label(value: float | int, original: float | int | None) -> str:
    """The readable tail of a mutant id: the value for integers, the ratio to the original for floats."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if original:
        return f"x{value / original:.3g}"
    return f"v{value:.3g}"


def build_mutants(config: dict, subjects: dict[str, dict[str, int | float]]) -> list[Mutant]:
    """All configurations of the study: per subject its original, then its mutants, hp by hp.

    ``subjects`` maps subject name -> its default hyperparameters (after config overrides).
    """
    seed = int(config["seed"])
    n = int(config["mutants_per_hyperparameter"])
    rows: list[Mutant] = []
    for subject, sconf in config["subjects"].items():
        base = subjects[subject]
        rows.append(Mutant(f"{subject}__original", subject, "none", "none", None, None, dict(base)))
        mutated = sconf.get("hyperparameters") or {}
        if isinstance(mutated, list):
            mutated = {name: None for name in mutated}
        for hp, raw_spec in mutated.items():
            if hp not in base:
                raise MutationError(
                    f"subjects.{subject}.hyperparameters: {hp!r} is not a hyperparameter of {subject}; "
                    f"allowed: {', '.join(base)}"
                )
            spec = normalise_operator(subject, hp, raw_spec)
            for value in mutate(subject, hp, base[hp], spec, n, seed):
                mid = f"{subject}__{hp}__{mutant_label(value, base[hp])}"
                rows.append(Mutant(mid, subject, hp, spec["operator"], base[hp], value, {**base, hp: value}))
    return rows


# ---------------------------------------------------------------------------- the table on disk

FIXED_COLUMNS = ("mutant_id", "subject", "hyperparameter", "operator", "original", "value")


def hp_columns(mutants: list[Mutant]) -> list[str]:
    present = {k for m in mutants for k in m.hp}
    return [f"hp_{k}" for k in HYPERPARAMETERS if k in present]


def fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def to_tsv(mutants: list[Mutant]) -> str:
    cols = hp_columns(mutants)
    buf = io.StringIO()
    buf.write("\t".join(FIXED_COLUMNS + tuple(cols)) + "\n")
    for m in mutants:
        fixed = [m.mutant_id, m.subject, m.hyperparameter, m.operator, fmt(m.original), fmt(m.value)]
        buf.write("\t".join(fixed + [fmt(m.hp.get(c[3:])) for c in cols]) + "\n")
    return buf.getvalue()


def format_mutants(mutants) -> str:
    """The mutant table as aligned text (``greenhp plan``): one row per configuration with every
    hyperparameter value."""
    hps: list[str] = []
    for m in mutants:
        hps += [h for h in m.hp if h not in hps]
    head = ["mutant_id", "hyperparameter", "value"] + hps
    body = [[m.mutant_id, m.hyperparameter, "" if m.value is None else f"{m.value:g}"]
            + [f"{m.hp[h]:g}" if h in m.hp else "" for h in hps] for m in mutants]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + body)


def parse_number(text: str, kind: type, where: str) -> int | float:
    try:
        x = float(text)
    except ValueError:
        raise MutationError(f"{where}: expected a number, got {text!r}") from None
    return int(x) if kind is int and x.is_integer() else x


def row_validator():
    """A validator for one row of a mutant table (schemas/mutants.schema.yaml)."""
    import jsonschema
    import yaml

    schema = yaml.safe_load((Path(__file__).parent / "schemas" / "mutants.schema.yaml").read_text())
    return jsonschema.Draft202012Validator(schema)


def check_row(validator, rec: dict[str, str], where: str) -> None:
    """Validate a row against the table schema, numbers parsed; raise one message naming the column."""
    typed: dict[str, object] = {}
    for key, text in rec.items():
        if key in ("original", "value") or key.startswith("hp_"):
            try:
                typed[key] = float(text) if text != "" else None
            except ValueError:
                raise MutationError(f"{where}, column {key}: expected a number, got {text!r}") from None
        else:
            typed[key] = text
    error = next(iter(sorted(validator.iter_errors(typed), key=lambda e: list(e.path))), None)
    if error is not None:
        column = ".".join(map(str, error.path)) or "(row)"
        if error.validator == "pattern" and "description" in error.schema:
            raise MutationError(f"{where}, column {column}: {error.instance!r}: {error.schema['description']}")
        if error.validator == "enum":
            raise MutationError(f"{where}, column {column}: {error.instance!r} unknown; allowed: {', '.join(map(str, error.validator_value))}")
        allowed = error.schema.get("enum") or error.schema.get("pattern")
        hint = f"; allowed: {', '.join(map(str, allowed)) if isinstance(allowed, list) else allowed}" if allowed else ""
        raise MutationError(f"{where}, column {column}: {error.message}{hint}")


def read_tsv(path: str | Path) -> list[Mutant]:
    """Read a mutant table (ours or a user's); structural checks only, see ``greenhp.study.check_mutants``."""
    data = Path(path).read_bytes()
    if b"\x00" in data:
        raise MutationError(f"mutant table {path}: is a binary file (it holds NUL bytes), not tab-separated text")
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (spreadsheet export) is not part of the first column's name
    except UnicodeDecodeError as err:
        raise MutationError(f"mutant table {path}: is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise MutationError(f"mutant table {path}: empty file; expected a header with {', '.join(FIXED_COLUMNS)}")
    header = lines[0].split("\t")
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise MutationError(f"mutant table {path}: column(s) {', '.join(repeated)} appear more than once in the header")
    missing = [c for c in FIXED_COLUMNS if c not in header]
    if missing:
        raise MutationError(f"mutant table {path}: missing column(s) {', '.join(missing)}")
    unknown = [c for c in header if c not in FIXED_COLUMNS and not (c.startswith("hp_") and c[3:] in HYPERPARAMETERS)]
    if unknown:
        raise MutationError(
            f"mutant table {path}: unknown column(s) {', '.join(unknown)}; hyperparameter columns are "
            f"{', '.join('hp_' + k for k in HYPERPARAMETERS)}"
        )
    validator = row_validator()
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise MutationError(f"mutant table {path}, line {lineno}: {len(cells)} cells, header has {len(header)}")
        rec = dict(zip(header, cells))
        where = f"mutant table {path}, line {lineno}"
        check_row(validator, rec, where)
        hp = {}
        for c in header:
            if c.startswith("hp_") and rec[c] != "":
                hp[c[3:]] = parse_number(rec[c], HYPERPARAMETERS[c[3:]].kind, f"{where}, column {c}")
        name = rec["hyperparameter"]
        kind = HYPERPARAMETERS[name].kind if name in HYPERPARAMETERS else float
        orig = parse_number(rec["original"], kind, f"{where}, column original") if rec["original"] else None
        val = parse_number(rec["value"], kind, f"{where}, column value") if rec["value"] else None
        rows.append(Mutant(rec["mutant_id"], rec["subject"], name, rec["operator"], orig, val, hp))
    if not rows:
        raise MutationError(f"mutant table {path}: no rows below the header")
    return rows
