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


# -- unusable records (issue 11, failures 5 and 6) ----------------------------------------------------
import csv  # noqa: E402
import json  # noqa: E402

from greenhp.aggregate import aggregate  # noqa: E402
from greenhp.record import quarantine_invalid, record_problem, schema_problem  # noqa: E402


def test_schema_problem_is_one_line_naming_the_field():
    assert schema_problem(GOOD) is None
    problem = schema_problem(broken(("effective",), {"lr": "0.1"}))
    assert problem.startswith("effective/lr: ") and "\n" not in problem


def write_records(tmp_path):
    good = tmp_path / "results/runs/single/a__original/rep1.json"
    truncated = tmp_path / "results/runs/single/b__lr__x2/rep1.json"
    bad_schema = tmp_path / "results/runs/pair/a__original/b__lr__x2/rep2.json"
    for p in (good, truncated, bad_schema):
        p.parent.mkdir(parents=True, exist_ok=True)
    good.write_text(json.dumps(GOOD))
    truncated.write_text(json.dumps(GOOD)[:100])
    bad_schema.write_text(json.dumps(broken(("metric", "value"), "0.9")))
    return good, truncated, bad_schema


def test_record_problem_names_what_is_wrong(tmp_path):
    good, truncated, bad_schema = write_records(tmp_path)
    assert record_problem(good) is None
    assert record_problem(truncated).startswith("is not valid JSON (truncated?)")
    assert record_problem(bad_schema).startswith("breaks the run-record schema at metric/value")


def test_aggregate_keeps_going_past_bad_records_and_lists_them(tmp_path, capsys):
    """A truncated or schema-breaking record is a row with status invalid (one line naming the file); it
    stays in place (later rules take the records as inputs) and goes to the invalid list, from which the
    next start of the workflow moves it aside to .invalid and retrains it; the good records are
    aggregated."""
    good, truncated, bad_schema = write_records(tmp_path)
    out = tmp_path / "results/runs.tsv"
    listed = tmp_path / "results/runs_invalid.txt"
    assert aggregate([good, truncated, bad_schema], out, log=tmp_path / "agg.log", invalid_list=listed) == 3
    rows = list(csv.DictReader(out.open(), delimiter="\t"))
    assert [r["status"] for r in rows] == ["ok", "invalid", "invalid"]
    assert rows[1]["run_id"] == "single__b__lr__x2__rep1" and rows[1]["repetition"] == "1"
    assert rows[2]["run_id"] == "pair__a__original__with__b__lr__x2__rep2" and rows[2]["partner"] == "b__lr__x2"
    assert str(truncated) in rows[1]["reason"] and "not valid JSON" in rows[1]["reason"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("greenhp: run record ") and "trains the run again" in line
                                 for line in err)
    assert truncated.exists() and bad_schema.exists() and good.exists()
    assert listed.read_text().splitlines() == [str(truncated), str(bad_schema)]
    assert "invalid: 2" in (tmp_path / "agg.log").read_text()
    # the analysis reads such a table (only ok rows enter statistics)
    from greenhp.analysis.tables import load_runs, ok_runs
    assert len(ok_runs(load_runs(out))) == 1
    # the workflow's next start: only listed records among the planned ones, and only if still unusable
    from greenhp.record import quarantine_listed
    listed.write_text(listed.read_text() + f"{good}\n/etc/passwd\n")
    lines = quarantine_listed(listed, [good, truncated])
    assert len(lines) == 1 and str(truncated) in lines[0] and "trained again" in lines[0]
    assert not truncated.exists() and truncated.with_name("rep1.json.invalid").read_text() == json.dumps(GOOD)[:100]
    assert bad_schema.exists() and good.exists()  # not planned / still valid
    assert quarantine_listed(tmp_path / "missing.txt", [good]) == []


def test_quarantine_invalid_is_the_parse_time_hook(tmp_path):
    good, truncated, bad_schema = write_records(tmp_path)
    lines = quarantine_invalid([good, truncated, bad_schema, tmp_path / "missing.json"])
    assert len(lines) == 2 and str(truncated) in lines[0] and "trained again" in lines[0]
    assert good.exists() and not truncated.exists() and not bad_schema.exists()
