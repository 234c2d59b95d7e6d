"""One-line messages for configurations the JSON schema rejects.

Snakemake's ``validate`` raises a WorkflowError that wraps jsonschema's ValidationError and prints the
whole schema fragment; the Snakefile turns it into one line naming the field and the allowed values:

    greenhp: configuration rejected: train: unknown key 'timout_s'; allowed: torch_threads, timeout_s, ...
"""

from __future__ import annotations

from typing import Any

BOUNDS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))


def field_path(parts) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def allowed(schema: dict) -> str:
    """What the schema fragment allows, in words."""
    if not isinstance(schema, dict):
        return "see the schema in workflow/schemas/"
    if "enum" in schema:
        return ", ".join(str(v) for v in schema["enum"])
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    text = " or ".join("null" if t == "null" else t for t in types) or "a value"
    bounds = [f"{op} {schema[key]}" for key, op in BOUNDS if key in schema]
    if bounds:
        text += " " + " and ".join(bounds)
    low, high = schema.get("minItems"), schema.get("maxItems")
    if low is not None or high is not None:
        count = (f"{low}" if low == high else f"at least {low}" if high is None
                 else f"at most {high}" if not low else f"{low} to {high}")
        text += f" of {count} item{'' if count == '1' else 's'}"
        if isinstance(schema.get("items"), dict):
            text += f", each {allowed(schema['items'])}"
    if schema.get("minProperties"):
        text += f" with at least {schema['minProperties']} entr{'y' if schema['minProperties'] == 1 else 'ies'}"
    return text


def schema_message(error: Any) -> str:
    """One line for a jsonschema ValidationError: the field, what is wrong, what is allowed."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = list((error.schema or {}).get("properties") or {})
        extra = sorted(set(error.instance) - set(known)) if isinstance(error.instance, dict) else []
        where = field_path(path)
        keys = ", ".join(repr(k) for k in extra) or "?"
        return f"{where}: unknown key {keys}; allowed: {', '.join(known) or '(none)'}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{field_path(path + [missing])}: missing; this key is required"
    if error.validator == "minProperties":
        return f"{field_path(path)}: is empty; allowed: {allowed(error.schema)}"
    value = error.instance
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    if isinstance(value, list) and len(repr(value)) <= 60:
        shown = repr(value)  # a short list is shown as written: [0.1] for a band with one end
    hint = error.schema.get("$comment") if isinstance(error.schema, dict) else None  # a key's own hint
    return (f"{field_path(path)}: {shown} is not allowed; allowed: {allowed(error.schema)}"
            f"{number_hint(value, error.schema)}" + (f" ({hint})" if hint else ""))


def number_hint(value: Any, schema: Any) -> str:
    """YAML 1.1 (PyYAML, Snakemake) reads ``1e6`` as text; say so where a number was meant."""
    if not isinstance(value, str) or not isinstance(schema, dict):
        return ""
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if not {"number", "integer"} & set(types):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    written = f"{number:.1e}" if "e" in value.lower() else repr(number)
    return f" (YAML reads {value} as text, not a number: write it with a dot and a signed exponent, e.g. {written})"


def validation_error(err: BaseException):
    """The jsonschema ValidationError inside ``err`` (Snakemake's WorkflowError wraps it), or None."""
    from jsonschema.exceptions import ValidationError

    seen = set()
    stack = [err]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ValidationError):
            return e
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        stack.extend([e.__cause__, e.__context__])
    return None


def config_error(err: BaseException) -> str:
    """One line for a failed schema validation of the study configuration."""
    found = validation_error(err)
    if found is not None:
        return schema_message(found)
    return " ".join(str(err).split())[:500]


def schema_problem(config: Any, schema_path) -> str | None:
    """Validate ``config`` against a YAML schema with Snakemake's ``validate`` (which fills in the
    schema's defaults, in place); None when it passes, else one line naming the field."""
    from snakemake.utils import validate

    try:
        validate(config, str(schema_path))
    except Exception as err:  # one line naming the field and the allowed values, no schema dump
        return config_error(err)
    return None
