"""The run-record schema accepts what the wrapper writes and rejects what would fake or lose a number."""

import copy

import jsonschema
import pytest

from greenhp.aggregate import cell
from greenhp.record import RUN_COLUMNS, to_row, validate


def domain(energy, method, reason=None):
    return {"energy_j": energy, "method": method, "reason": reason}


GOOD = {
    "schema_version": 1, "run_id": "single__a__original__rep1", "mode": "single", "mutant_id": "a__original",
    "subject": "digits_cnn", "hyperparameter": "none", "operator": "none", "original": None, "value": None,
    "repetition": 1, "seed": 4, "partner": None,
    "requested": {"epochs": 2, "lr": 0.1}, "effective": {"epochs": 2, "lr": 0.1, "momentum": 0.9},
    "status": "ok", "reason": None, "metric": {"name": "accuracy", "value": 0.9},
    "timing": {"start_unix": 1.0, "duration_s": 3.5}, "device": "cpu",
    "energy": {
        "gpu": domain(None, "unavailable", "no NVIDIA GPU"),
        "cpu": domain(35.0, "estimate_cpu_time"),
        "dram": domain(None, "unavailable", "RAPL not present"),
        "total": {"energy_j": 35.0, "domains": ["cpu"], "estimated": True},
    },
    "carbon": {"energy_kwh": 35.0 / 3.6e6, "intensity_g_per_kwh": 400.0, "co2e_g": 35.0 / 3.6e6 * 400},
    "environment": {},
}


def test_good_record_passes_and_flattens():
    validate(GOOD)
    row = to_row(GOOD)
    assert set(row) <= set(RUN_COLUMNS)
    assert row["gpu_energy_j"] is None and cell(row["gpu_energy_j"]) == ""  # unmeasured: empty, not 0
    assert row["cpu_method"] == "estimate_cpu_time" and row["energy_estimated"] is True
    assert row["hp_epochs"] == 2 and row["hp_gamma"] is None


def broken(path, value):
    rec = copy.deepcopy(GOOD)
    *head, last = path
    target = rec
    for key in head:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return rec


@pytest.mark.parametrize("path, value", [
    (("energy", "gpu"), domain(0.0, "unavailable", "no GPU")),        # unmeasured written as 0
    (("energy", "gpu"), domain(None, "nvml_counter")),                # a method claimed, no number
    (("energy", "dram"), domain(None, "unavailable", None)),          # unavailable without a reason
    (("energy", "cpu"), domain(10.0, "guess")),                       # unknown method
    (("status",), "fine"),
    (("mode",), "triple"),
    (("effective",), None),                                           # ok run without effective hp
    (("metric", "value"), None),                                      # ok run without its metric
    (("mutant_id",), "../etc/passwd"),
    (("timing",), KeyError),
    (("repetition",), 0),
])
def test_schema_rejects(path, value):
    with pytest.raises(jsonschema.ValidationError):
        validate(broken(path, value))


def test_pair_record_needs_partner_result():
    rec = broken(("mode",), "pair")
    rec["partner"] = {"mutant_id": "b__original", "subject": "digits_mlp", "hyperparameter": "none", "operator": "none"}
    with pytest.raises(jsonschema.ValidationError, match="partner_result"):
        validate(rec)
    rec["partner_result"] = {"status": "ok"}
    validate(rec)
