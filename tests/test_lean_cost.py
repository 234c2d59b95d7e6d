"""Issue 24 item 4, cost before and after (docs/lean.md "Cost before and after"): `greenhp plan
--estimate` prints the lean design beside the full one and writes its rows to estimate.tsv only when
lean is on; footprint.tsv and the summary say which design ran and what it saved against the full
design (one function, the same number on both pages)."""

import csv
import json

import pytest
import yaml

from testutil import ROOT
from greenhp import cost as E
from greenhp.analysis.summary import footprint_lines
from greenhp.cli import main
from greenhp.cost.footprint import lean_saving
from greenhp.lean.design import derived_configurations, lean_jobs
from greenhp.lean.settings import lean_settings
from greenhp.study import load_study, validate_config
from recordutil import complete

# digits_cnn: 10 s and 100 J per epoch; digits_mlp: 5 s and 50 J per epoch (no start-up)
CAL = {"where": "a test calibration", "device": "cuda",
       "subjects": {"digits_cnn": {"epochs": 8, "seconds": 80.0, "energy_j": 800.0, "fixed_s": 0.0},
                    "digits_mlp": {"epochs": 8, "seconds": 40.0, "energy_j": 400.0, "fixed_s": 0.0}},
       "pair": {"time_factor": 1.1, "energy_factor": 0.9, "source": "test"}}
PER_EPOCH_S = {"digits_cnn": 10.0, "digits_mlp": 5.0}


def _config(lean=None, **changes):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(repetitions=5, **changes)
    if lean is not None:
        config["lean"] = lean
    validate_config(config)
    return config


def _cal_file(tmp_path):
    path = tmp_path / "cal.yaml"
    path.write_text(yaml.safe_dump(CAL))
    return path


def test_lean_jobs_split_first_wave_and_extension_and_derive_only_declared_epochs_mutants():
    config = _config({"enabled": True, "first_wave": 2, "derive_epochs": True, "derive_check": 0})
    study = load_study(config)
    settings = lean_settings(config)
    jobs = {(j["mode"], j["mutant_id"]): j for j in lean_jobs(study, settings)}
    assert jobs[("single", "digits_cnn__original")] == {
        "mode": "single", "mutant_id": "digits_cnn__original", "partner": "", "first": 5, "extension": 0,
        "derived": False}
    assert (jobs[("pair", "digits_cnn__lr__x0.883")]["first"], jobs[("pair", "digits_cnn__lr__x0.883")]["extension"]) \
        == (2, 3)
    # the same split as Study.first_wave_*_jobs
    assert sum(j["first"] for j in jobs.values()) == len(study.first_wave_single_jobs()) + len(study.first_wave_pair_jobs())
    # digits declares schedule_depends_on_epochs False: the 4-epoch mutant is read from the 12-epoch one
    assert derived_configurations(study, settings) == ["digits_cnn__epochs__4", "digits_mlp__epochs__4"]
    assert not jobs[("pair", "digits_cnn__epochs__4")]["derived"]  # pair mode is never derived
    # one check configuration per family: nothing left to derive
    assert derived_configurations(study, lean_settings(_config({"enabled": True, "derive_epochs": True,
                                                                  "derive_check": 1}))) == []
    assert derived_configurations(study, lean_settings(_config({"enabled": True, "derive_check": 0}))) == []


def test_subjects_whose_schedule_depends_on_epochs_are_never_derived():
    config = yaml.safe_load((ROOT / "studies" / "paper.yaml").read_text())
    config["lean"] = {"enabled": True, "derive_epochs": True, "derive_check": 1}
    validate_config(config)
    study = load_study(config)
    derived = derived_configurations(study, lean_settings(config))
    by = study.by_id
    assert derived and {by[d].subject for d in derived} == {"mnist_cnn", "siamese"}  # declared False
    for subject in ("mnist_cnn", "siamese"):
        family = [m for m in study.mutants if m.subject == subject and m.hyperparameter in ("epochs", "none")]
        longest = max(m.hp["epochs"] for m in family)
        ds = [by[d] for d in derived if by[d].subject == subject]
        assert all(m.hyperparameter == "epochs" and m.hp["epochs"] < longest for m in ds)
        # every epochs mutant but the longest member and the one check
        n_mutants = sum(m.hyperparameter == "epochs" for m in family)
        assert len(ds) == n_mutants - (longest != by[f"{subject}__original"].hp["epochs"]) - 1


def test_plan_prints_full_and_lean_side_by_side_from_a_calibration_file(tmp_path, capsys):
    lean = {"enabled": True, "first_wave": 2, "expected_extension": 0.5}
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(_config(lean)))
    out_tsv = tmp_path / "est.tsv"
    rc = main(["plan", "--configfile", str(cfg), "--estimate", "--calibration", str(_cal_file(tmp_path)),
               "--tsv", str(out_tsv), "--no-table"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    study = load_study(_config(lean))
    secs = {m.mutant_id: PER_EPOCH_S[m.subject] * m.hp["epochs"] for m in study.mutants}
    orig = [m.mutant_id for m in study.mutants if m.hyperparameter == "none"]
    muts = [m.mutant_id for m in study.mutants if m.hyperparameter != "none"]
    n_pair = sum(len(study.partners_of(m.subject)) for m in study.mutants)
    n_pair_orig = sum(len(study.partners_of(study.by_id[o].subject)) for o in orig)
    full_jobs = 5 * (len(study.mutants) + n_pair)
    none_jobs = 5 * (len(orig) + n_pair_orig) + 2 * (len(muts) + n_pair - n_pair_orig)
    all_extra = 3 * (len(muts) + n_pair - n_pair_orig)
    exp_jobs = none_jobs + 0.5 * all_extra
    assert f"{full_jobs}" in out and f"{exp_jobs:.0f} [{none_jobs}-{full_jobs}]" in out
    assert f"{exp_jobs / full_jobs:.2f} [{none_jobs / full_jobs:.2f}-1.00]" in out  # the jobs' ratio
    for label in ("GPU-hours", "energy (kWh)", "CO2e (g)", "derived rows", "lean/full"):
        assert label in out
    # estimate.tsv: the full design's rows unchanged, the lean design's beside them
    full, lean_rows = E.read_estimate_tsv(out_tsv), E.read_estimate_tsv(out_tsv, scope="lean")
    single_full = 5 * sum(secs.values())
    single_exp = 5 * sum(secs[o] for o in orig) + 3.5 * sum(secs[m] for m in muts)
    assert full["training_single"]["seconds"] == pytest.approx(single_full, rel=1e-5)
    assert lean_rows["training_single"]["seconds"] == pytest.approx(single_exp, rel=1e-5)
    assert lean_rows["total"]["count"] == pytest.approx(exp_jobs)
    assert lean_rows["derived_rows"]["count"] == 0
    # the lean range: none extended (model low end) .. all extended (model high end)
    assert lean_rows["training_single"]["seconds_high"] == pytest.approx(full["training_single"]["seconds_high"],
                                                                         rel=1e-5)
    assert lean_rows["training_single"]["seconds_low"] < lean_rows["training_single"]["seconds"]


def test_lean_off_prints_and_writes_exactly_the_full_design(tmp_path, capsys):
    cal = _cal_file(tmp_path)
    outs = []
    for i, lean in enumerate((None, {"enabled": False, "first_wave": 2})):
        cfg = tmp_path / f"study{i}.yaml"
        cfg.write_text(yaml.safe_dump(_config(lean)))
        tsv = tmp_path / f"est{i}.tsv"
        assert main(["plan", "--configfile", str(cfg), "--estimate", "--calibration", str(cal),
                     "--tsv", str(tsv), "--no-table"]) == 0
        outs.append((capsys.readouterr().out.replace(str(tsv), "TSV"), tsv.read_text()))
    assert outs[0] == outs[1]
    assert "lean" not in outs[0][0] and "\nlean\t" not in outs[0][1]


def test_derived_configurations_have_no_job_in_the_lean_estimate(tmp_path):
    config = _config({"enabled": True, "first_wave": 5, "derive_epochs": True, "derive_check": 0})
    study = load_study(config)
    cal = E.load_calibration_file(_cal_file(tmp_path), config)
    est = E.predict(config, study, cal, cores=1, gpus=1)
    # first wave = repetitions: the lean design is the full one less the derived configurations' jobs
    derived_s = 5 * (PER_EPOCH_S["digits_cnn"] * 4 + PER_EPOCH_S["digits_mlp"] * 4)
    assert est.lean.items["training_single"]["seconds"] == pytest.approx(
        est.items["training_single"]["seconds"] - derived_s)
    assert est.lean.derived_configurations == 2 and est.lean.derived_rows == (10, 10, 10)
    assert est.lean.jobs == (est.items["total"]["count"] - 10,) * 3
    assert "10 [10-10] (2 configuration(s) read from longer runs, not trained)" in E.format_estimate(est)


# ------------------------------------------------------------------------------------------------
# after the study: the saving against the full design (an estimate) on both pages
# ------------------------------------------------------------------------------------------------
def _run(mutant, rep, duration, energy, status="ok", derived=None, mode="single", partner=""):
    row = {"run_id": f"{mode}-{mutant}-{partner}-{rep}", "mode": mode, "mutant_id": mutant, "partner": partner,
           "repetition": str(rep), "status": status, "duration_s": str(duration), "total_energy_j": str(energy),
           "hyperparameter": "none" if mutant.endswith("original") else "lr"}
    if derived is not None:
        row["derived"] = "true" if derived else "false"
    return row


def _decision(mutant, extend, mode="single", partner=""):
    return {"subject": "s", "mode": mode, "partner": partner, "mutant_id": mutant, "extend": extend}


def test_saving_of_a_constructed_lean_study():
    # repetitions 5, first wave 2; a: not extended (2 ok runs, 100 s / 1000 J and 300 s / 3000 J);
    # b: extended (5 runs); c: not extended, its reps derived from a longer run (its own numbers)
    runs = ([_run("s__a", 1, 100, 1000, derived=False), _run("s__a", 2, 300, 3000, derived=False)]
            + [_run("s__b", k, 50, 500, derived=False) for k in range(1, 6)]
            + [_run("s__c", k, 20, 200 + k, derived=True) for k in (1, 2)])
    ran = [{"item": "training_single", "count": 7, "seconds": 650.0, "energy_j": 6500.0}]
    decisions = [_decision("s__a", False), _decision("s__b", True), _decision("s__c", False)]
    carbon = {"intensity_g_per_kwh": 400.0, "price_per_kwh": 0.3}
    s = lean_saving(ran, runs, decisions, repetitions=5, first_wave=2, carbon=carbon)
    # a: 3 reps x mean (200 s, 2000 J); c: its 2 derived rows (40 s, 403 J) + 3 reps x their mean (20 s, 201.5 J)
    assert s["jobs_not_run"] == 3 + 2 + 3 and s["unpredicted"] == 0 and s["derived"] == 2
    assert s["seconds"] == pytest.approx(3 * 200 + 40 + 3 * 20)
    assert s["energy_j"] == pytest.approx(3 * 2000 + 403 + 3 * 201.5)
    assert s["extended"] == 1 and s["groups"] == 3
    assert s["saved"]["co2e_g"] == pytest.approx(s["energy_j"] / 3.6e6 * 400)
    # a failed run is no basis for a prediction; a configuration without an ok run is not predicted
    runs[0]["status"] = "failed"
    s2 = lean_saving(ran, runs, decisions, repetitions=5, first_wave=2, carbon=carbon)
    assert s2["seconds"] == pytest.approx(3 * 300 + 40 + 3 * 20)
    runs[1]["status"] = "failed"
    assert lean_saving(ran, runs, decisions, repetitions=5, first_wave=2, carbon=carbon)["unpredicted"] == 3
    # no decisions table: a mutant configuration with no repetition past the first wave was not extended
    s3 = lean_saving(ran, runs[2:], None, repetitions=5, first_wave=2, carbon=carbon)
    assert s3["jobs_not_run"] == 2 + 3 and s3["extended"] is None


def test_a_bad_decisions_table_is_rejected_naming_file_line_and_column(tmp_path):
    from greenhp.cost.footprint import read_decisions

    path = tmp_path / "decisions.tsv"
    path.write_text("subject\tmode\tpartner\tmutant_id\textend\ns\tsingle\t\ts__a\tmaybe\n")
    with pytest.raises(ValueError, match=r"decisions.tsv line 2 \(s__a\), column extend"):
        read_decisions(path)
    path.write_text("subject\tmode\tmutant_id\n")
    with pytest.raises(ValueError, match="missing column"):
        read_decisions(path)
    assert read_decisions(None) is None


def _rec(mutant, rep, duration, energy):
    return complete({"mode": "single", "status": "ok", "subject": "digits_cnn", "mutant_id": mutant,
                     "repetition": rep, "device": "cuda",
                     "timing": {"duration_s": duration, "train_seconds": duration / 2},
                     "energy": {"gpu": {"energy_j": energy, "method": "nvml_counter"},
                                "cpu": {"energy_j": None, "method": "unavailable"}, "dram": {"energy_j": None},
                                "total": {"energy_j": energy, "estimated": False},
                                "idle": {"gpu_w": None, "cpu_w": None, "dram_w": None, "seconds": 0.0,
                                         "settle_s": None}},
                     "carbon": {"intensity_g_per_kwh": 400.0}})


def _write_tsv(path, rows):
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, cols, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def test_footprint_tsv_and_summary_show_the_same_design_and_saving(tmp_path):
    # a lean study of digits_cnn at 5 repetitions, first wave 2: the original at 5 repetitions,
    # one mutant not extended (2 runs), one extended (5 runs)
    orig, closed, opened = "digits_cnn__original", "digits_cnn__lr__x0.883", "digits_cnn__gamma__x0.559"
    plan = [(orig, k, 100.0, 4000.0) for k in range(1, 6)] + [(closed, 1, 200.0, 9000.0), (closed, 2, 220.0, 9400.0)] \
        + [(opened, k, 150.0, 6000.0) for k in range(1, 6)]
    paths = []
    for mutant, rep, dur, e in plan:
        path = tmp_path / "runs" / "single" / mutant / f"rep{rep}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_rec(mutant, rep, dur, e)))
        paths.append(path)
    runs = tmp_path / "runs.tsv"
    _write_tsv(runs, [dict(_run(m, r, d, e), hyperparameter="none" if m == orig else "lr") for m, r, d, e in plan])
    decisions = tmp_path / "decisions.tsv"
    _write_tsv(decisions, [dict(_decision(closed, "false"), n_mutant=2, reason="decided"),
                           dict(_decision(opened, "true"), n_mutant=2, reason="open")])
    config = _config({"enabled": True, "first_wave": 2})
    lean, carbon = lean_settings(config), {"intensity_g_per_kwh": 400.0, "price_per_kwh": 0.3}
    rows = E.study_footprint(paths, carbon=carbon, lean=lean, runs_path=runs, decisions_path=decisions)
    out = E.write_footprint(rows, tmp_path / "footprint.tsv")
    tsv = {r["item"]: r for r in csv.DictReader(out.open(), delimiter="\t")}
    saving = tsv["saving"]
    assert tsv["design"]["status"] == "lean" and tsv["extended"]["count"] == "1" and tsv["derived"]["count"] == "0"
    assert int(saving["count"]) == 3 and float(saving["seconds"]) == pytest.approx(3 * 210.0)
    assert float(saving["energy_j"]) == pytest.approx(3 * 9200.0) and saving["energy_method"] == "estimate"
    assert "an estimate, not a measurement" in saving["note"]
    ran_j = 5 * 4000 + 9000 + 9400 + 5 * 6000
    assert float(tsv["full_design"]["energy_j"]) == pytest.approx(ran_j + 3 * 9200.0)
    assert int(tsv["full_design"]["count"]) == 12 + 3
    text = "\n".join(footprint_lines(paths, carbon, lean=lean, runs_path=runs, decisions_path=decisions))
    assert "Design: lean" in text and "1 comparison groups given the remaining repetitions, of 2" in text
    assert "0 row(s) derived" in text and "3 job(s) not run" in text and "an estimate, not a measurement" in text
    # the same numbers as footprint.tsv: CO2e, and the share of the full design's energy
    assert f"{float(saving['co2e_g']):.3g} g CO2e" in text
    share = ran_j / (ran_j + 3 * 9200.0)
    assert f"{100 * share:.0f} % of the full design's training energy" in text
    assert f"used {100 * share:.0f} % of its training energy" in tsv["full_design"]["note"]
    # the full design: footprint.tsv as before (no lean rows), the summary says "full"
    full_rows = E.study_footprint(paths, carbon=carbon, lean=lean_settings(_config()), runs_path=runs,
                                  decisions_path=decisions)
    assert [r["item"] for r in full_rows] == list(E.ITEMS)
    assert "Design: full" in "\n".join(footprint_lines(paths, carbon))
