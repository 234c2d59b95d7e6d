"""A calibration given as a file (``greenhp plan --estimate --calibration FILE``): measured (or
published) seconds and joules of each original, for a device that is not here; checked like a
config file against ``schemas/calibration.schema.yaml``."""

from __future__ import annotations

import math
from pathlib import Path

from greenhp.cost.model import MIN_SPREAD, Calibration, PairFactor, SubjectModel


class CalibrationError(ValueError):
    """A calibration file that cannot be used; the message is one line naming the file, the subject
    (where the problem is in one) and the field."""


def _non_finite(node, path: tuple = ()) -> tuple[tuple, float] | None:
    """The path and value of the first NaN or infinite number in a YAML document, else None."""
    if isinstance(node, float) and not math.isfinite(node):
        return path, node
    if isinstance(node, dict):
        for k, v in node.items():
            if (found := _non_finite(v, path + (k,))) is not None:
                return found
    if isinstance(node, list):
        for i, v in enumerate(node):
            if (found := _non_finite(v, path + (i,))) is not None:
                return found
    return None


def _where_in_calibration(path: str | Path, parts) -> str:
    """``calibration file F: subject S: field`` (or ``calibration file F: field``) for a field's path."""
    parts = [str(p) for p in parts]
    if len(parts) >= 2 and parts[0] == "subjects":
        return f"calibration file {path}: subject {parts[1]!r}" + (f": {'.'.join(parts[2:])}" if parts[2:] else "")
    return f"calibration file {path}" + (f": {'.'.join(parts)}" if parts else "")


def read_calibration_file(path: str | Path) -> dict:
    """A calibration file, checked like a config file (``schemas/calibration.schema.yaml``): a key
    written twice, an unknown key, a wrong type, a number out of its range, NaN or infinity each raise a
    :class:`CalibrationError` of one line naming the file, the subject and the field."""
    import jsonschema
    import yaml

    from greenhp.checks import schema_message
    from greenhp.study import SCHEMA_DIR, StudyError, read_yaml_file

    try:
        data = read_yaml_file(path, "calibration file")
    except StudyError as err:
        raise CalibrationError(str(err)) from None
    if not isinstance(data, dict):
        raise CalibrationError(f"calibration file {path}: must be a mapping of keys to values (where, device, "
                               f"subjects, pair, ...), not {type(data).__name__}")
    found = _non_finite(data)
    if found is not None:
        raise CalibrationError(f"{_where_in_calibration(path, found[0])}: {found[1]!r} is not a finite number")
    schema = yaml.safe_load((SCHEMA_DIR / "calibration.schema.yaml").read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data),
                    key=lambda e: (len(e.absolute_path), e.validator != "required"))
    if errors:
        err = errors[-1]  # the deepest (an unknown key before a missing one): it names the field
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            tail = f"{missing}: missing; this key is required"
        else:  # schema_message's line is "<field path>: <what is wrong>; allowed: ..."
            tail = schema_message(err).split(": ", 1)[-1]
        raise CalibrationError(f"{_where_in_calibration(path, list(err.absolute_path))}: {tail}")
    return data


def load_calibration_file(path: str | Path, config: dict) -> Calibration:
    """A calibration given as a file: each original's measured (or published) seconds and joules.

    YAML (checked by :func:`read_calibration_file` against ``schemas/calibration.schema.yaml``):
    ``where`` (text), ``device`` (cuda or cpu), ``subjects: {name: {epochs, seconds, energy_j?,
    fixed_s?, batch_size?, settle_s?, idle_w?, spread?, source?}}``, ``pair: {time_factor,
    energy_factor, spread?, source?}``, ``job_start_s``, ``workflow_s``, ``spread`` (relative);
    ``fixed_s``, ``settle_s`` and ``idle_w`` may also be given once for all subjects. Without
    ``fixed_s`` all of a run's time and energy is taken as proportional to its epochs (no start-up
    part); a ``fixed_s`` that is not less than the subject's ``seconds`` is rejected. Every problem is
    a :class:`CalibrationError` of one line naming the file, the subject and the field.
    """
    from greenhp.study import subject_defaults

    data = read_calibration_file(path)
    device = str(data.get("device", "cuda"))
    wanted = config.get("device", "auto")
    if wanted in ("cuda", "cpu") and device != wanted:
        raise CalibrationError(f"calibration file {path}: device: {device!r} is not the study's device "
                               f"{wanted!r}; give a calibration measured on a {wanted} device")
    spread = float(data.get("spread", MIN_SPREAD))
    models = {name: _given_model(path, data, name, hp, spread) for name, hp in subject_defaults(config).items()}
    pair = None
    if data.get("pair"):
        p = data["pair"]
        pair = PairFactor(time=float(p["time_factor"]), energy=float(p["energy_factor"]),
                          spread=float(p.get("spread", spread)), n=0, basis=str(p.get("source", path)))
    return Calibration(models=models, pair=pair, job_start_s=float(data.get("job_start_s", 0.0)),
                       workflow_s=float(data.get("workflow_s", 0.0)), device=device,
                       where=str(data.get("where", path)), measured=False)


def _given_model(path: str | Path, data: dict, name: str, hp: dict, spread: float) -> SubjectModel:
    """The model of subject ``name`` (original hyperparameters ``hp``) from the calibration file's entry."""
    s = (data.get("subjects") or {}).get(name)
    if s is None:
        raise CalibrationError(f"calibration file {path}: subjects: no entry for subject {name!r} of the study "
                               f"(it has: {', '.join(map(str, data['subjects'])) or 'none'})")
    epochs = int(s.get("epochs", hp.get("epochs", 1)))
    seconds = float(s["seconds"])
    fixed = float(s.get("fixed_s", data.get("fixed_s", 0.0)))
    if fixed >= seconds:
        field_name = "fixed_s" if "fixed_s" in s else "fixed_s (given once for all subjects)"
        raise CalibrationError(f"calibration file {path}: subject {name!r}: {field_name}: {fixed:g} s of start-up "
                               f"is not less than the subject's whole run (seconds: {seconds:g}); nothing "
                               "would be left to scale with the epochs")
    energy = s.get("energy_j")
    frac = fixed / seconds
    batch = s.get("batch_size", hp.get("batch_size"))
    return SubjectModel(
        subject=name, fixed_s=fixed, epoch_s=(seconds - fixed) / epochs, epochs=hp.get("epochs"),
        batch_size=int(batch) if batch else None,
        fixed_j=float(energy) * frac if energy is not None else None,
        epoch_j=float(energy) * (1 - frac) / epochs if energy is not None else None,
        energy_basis="given", spread=float(s.get("spread", spread)), n=1,
        settle_s=s.get("settle_s", data.get("settle_s")), idle_w=s.get("idle_w", data.get("idle_w")),
        basis=str(s.get("source", data.get("where", path))))
