"""Phase marks through the run wrapper (greenhp.runner): the same code path as the training rules."""

import pytest

from greenhp.mutation import Mutant
from greenhp.record import epoch_rows, load, to_row, validate
from greenhp.runner import RunSpec, execute
from greenhp.subjects import REGISTRY

NO_EPOCHS = '''
from greenhp.subjects.base import Subject, TrainResult

def run(hp, ctx):
    x = 0
    for i in range(200000):   # some CPU work, no epoch_done
        x += i * i
    return TrainResult("accuracy", 0.5, dict(hp), int(hp["epochs"]), 0.01)

QUIET = Subject(name="quiet", description="never calls epoch_done", metric_name="accuracy",
                defaults={"epochs": 2, "lr": 0.1}, run=run)
'''


def _check_sums(rec):
    e = rec["energy"]
    for label, ph in e["phases"].items():
        for d in ("gpu", "cpu", "dram"):
            vals = [p[f"{d}_j"] for p in ph["phases"]]
            if e[d]["energy_j"] is None:
                assert all(v is None for v in vals)
            else:
                assert sum(vals) == pytest.approx(e[d]["energy_j"], rel=1e-9, abs=1e-9), (label, d)
        assert sum(p["total_j"] for p in ph["phases"]) == pytest.approx(e["total"]["energy_j"], rel=1e-9)


@pytest.mark.slow
def test_digits_run_has_phases_and_monotone_epochs(tmp_path):
    s = REGISTRY["digits_mlp"]
    hp = dict(s.defaults, epochs=3)
    spec = RunSpec(mode="single", mutant=Mutant("digits_mlp__original", "digits_mlp", "none", "none", None, None, hp),
                   repetition=1, seed=1, device="cpu", threads=1, energy={"gpu_meter": "none"})
    rec = execute(spec, tmp_path / "rep1.json", {"main": str(tmp_path / "main.log")})
    validate(load(tmp_path / "rep1.json"))
    assert rec["status"] == "ok" and rec["schedule_depends_on_epochs"] is False
    ph = rec["energy"]["phases"]["main"]
    assert [p["name"] for p in ph["phases"]] == ["setup", "training", "evaluation", "end"]
    assert [m["name"] for m in ph["marks"]][:3] == ["start", "run_start", "data_ready"]
    _check_sums(rec)
    rows = epoch_rows(rec)
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all(r["metric_name"] == "test_accuracy" for r in rows)
    for key in ("t_s", "cpu_energy_j", "total_energy_j"):
        vals = [r[key] for r in rows]
        assert vals == sorted(vals)
    row = to_row(rec)
    assert row["train_total_energy_j"] == pytest.approx(rows[-1]["total_energy_j"]) and row["epochs_marked"] == 3
    assert 0 < row["train_total_energy_j"] < row["total_energy_j"]
    assert row["metric_value"] == pytest.approx(rows[-1]["metric_value"])


@pytest.mark.slow
def test_subject_without_epoch_done_in_pair(tmp_path):
    mod = tmp_path / "quiet.py"
    mod.write_text(NO_EPOCHS)
    hp = {"epochs": 2, "lr": 0.1}
    m = Mutant("quiet__original", "quiet", "none", "none", None, None, hp)
    spec = RunSpec(mode="pair", mutant=m, partner=m, repetition=1, seed=1, device="cpu", threads=1,
                   energy={"gpu_meter": "none"}, modules={"quiet": f"{mod}:QUIET"})
    rec = execute(spec, tmp_path / "rep1.json", {"main": str(tmp_path / "m.log"), "partner": str(tmp_path / "p.log")})
    validate(load(tmp_path / "rep1.json"))
    assert rec["status"] == "ok", (tmp_path / "m.log").read_text()
    for label in ("main", "partner"):
        ph = rec["energy"]["phases"][label]
        assert [p["name"] for p in ph["phases"]] == ["setup", "training", "end"], label
        assert ph["epochs"] == [] and ph["training"]["cpu_j"] is not None
    _check_sums(rec)
    assert epoch_rows(rec) == [] and to_row(rec)["epochs_marked"] == 0


@pytest.mark.slow
def test_marks_off_leaves_no_phases(tmp_path):
    mod = tmp_path / "quiet.py"
    mod.write_text(NO_EPOCHS)
    m = Mutant("quiet__original", "quiet", "none", "none", None, None, {"epochs": 2, "lr": 0.1})
    spec = RunSpec(mode="single", mutant=m, repetition=1, seed=1, device="cpu", threads=1,
                   energy={"gpu_meter": "none"}, modules={"quiet": f"{mod}:QUIET"}, marks=False)
    rec = execute(spec, tmp_path / "rep1.json", {"main": str(tmp_path / "m.log")})
    assert rec["status"] == "ok" and "phases" not in rec["energy"]
    assert to_row(rec)["train_total_energy_j"] is None
