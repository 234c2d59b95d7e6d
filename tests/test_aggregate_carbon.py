"""CO2e is computed downstream from the joules (issue 10, item 2): runs.tsv uses the study's current
carbon intensity, so changing it needs no retraining; an unmeasured energy stays empty."""

import copy
import csv
import json

from greenhp.aggregate import aggregate
from test_record import GOOD


def rows(tmp_path, records, **kwargs):
    paths = []
    for i, rec in enumerate(records):
        path = tmp_path / f"r{i}.json"
        path.write_text(json.dumps(rec))
        paths.append(path)
    aggregate(paths, tmp_path / "runs.tsv", **kwargs)
    return list(csv.DictReader((tmp_path / "runs.tsv").open(), delimiter="\t"))


def test_co2e_uses_the_current_intensity_not_the_one_of_the_run(tmp_path):
    kwh = GOOD["carbon"]["energy_kwh"]
    assert float(rows(tmp_path, [GOOD])[0]["co2e_g"]) == kwh * 400.0  # without it: the record's own
    assert float(rows(tmp_path, [GOOD], carbon_g_per_kwh=100.0)[0]["co2e_g"]) == kwh * 100.0


def test_unmeasured_energy_has_no_co2e(tmp_path):
    rec = copy.deepcopy(GOOD)
    rec["energy"]["cpu"] = {"energy_j": None, "method": "unavailable", "reason": "none"}
    rec["energy"]["total"] = {"energy_j": None, "domains": [], "estimated": False}
    rec["carbon"] = {"energy_kwh": None, "intensity_g_per_kwh": 400.0, "co2e_g": None}
    assert rows(tmp_path, [rec], carbon_g_per_kwh=100.0)[0]["co2e_g"] == ""
