"""greenhp.cost: the model's arithmetic on a fake calibration, calibration through a fake
wrapper (no training), estimate.tsv, and `greenhp plan --estimate` with a calibration file."""


import pytest
import yaml

from testutil import ROOT
from greenhp import cost as E
from greenhp.cli import main
from greenhp.study import load_study, validate_config
from recordutil import complete


def _config(**changes):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(changes)
    validate_config(config)
    return config


def _cal(pair=True, device="cpu", **kw):
    models = {
        "digits_cnn": E.SubjectModel("digits_cnn", fixed_s=3.0, epoch_s=0.5, epochs=8, batch_size=64,
                                     fixed_j=30.0, epoch_j=5.0, spread=0.05),
        "digits_mlp": E.SubjectModel("digits_mlp", fixed_s=2.0, epoch_s=0.25, epochs=8, batch_size=64,
                                     fixed_j=20.0, epoch_j=2.0, spread=0.05),
    }
    return E.Calibration(models=models, pair=E.PairFactor(time=1.2, energy=0.9, spread=0.1) if pair else None,
                         job_start_s=1.0, workflow_s=10.0, device=device, where="fake", **kw)


def test_subject_model_arithmetic_and_batch_size():
    m = _cal().models["digits_cnn"]
    r = m.run(10)
    assert r["seconds"] == pytest.approx(3.0 + 10 * 0.5) and r["energy_j"] == pytest.approx(30 + 50)
    assert m.run(None)["seconds"] == pytest.approx(3.0 + 8 * 0.5)  # no epochs: the original's
    r = m.run(10, batch_size=16)  # 4x the steps: central sqrt(4) = 2, range 1 (compute-bound) .. 4 (per step)
    assert r["seconds"] == pytest.approx(3 + 10 * 0.5 * 2)
    assert (r["seconds_low"], r["seconds_high"]) == pytest.approx((3 + 5.0, 3 + 20.0))


def test_fit_subject_separates_startup_from_epochs():
    # duration = 2 s start-up + 0.5 s/epoch; energy = 10 J + 20 W x training seconds
    pts = [E.Point("s", e, 64, duration_s=2 + 0.5 * e, train_s=0.5 * e, energy_j=10 + 20 * 0.5 * e)
           for e in (1, 1, 4, 4)]
    m = E.fit_subject(pts, original_epochs=8, original_batch=64)
    assert m.fixed_s == pytest.approx(2.0) and m.epoch_s == pytest.approx(0.5)
    assert m.energy_basis == "fit" and m.fixed_j == pytest.approx(10) and m.epoch_j == pytest.approx(10)
    assert m.spread == pytest.approx(E.MIN_SPREAD)
    # one epoch count only: the energy line is not identifiable, mean power is used instead
    m1 = E.fit_subject(pts[:2], 8, 64)
    power = (10 + 10) / 2.5
    assert m1.energy_basis == "mean_power" and m1.epoch_j == pytest.approx(power * 0.5)
    # phase energies, when the records have them, win
    ph = [E.Point("s", 2, 64, 3.0, 1.0, 40.0, training_j=30.0)]
    mp = E.fit_subject(ph, 8, 64)
    assert mp.energy_basis == "phases" and mp.epoch_j == pytest.approx(15) and mp.fixed_j == pytest.approx(10)
    # a noisy repeat widens the spread: 20 % off the fitted line
    noisy = pts + [E.Point("s", 4, 64, duration_s=(2 + 2) * 1.5, train_s=2.0, energy_j=50.0)]
    assert E.fit_subject(noisy, 8, 64).spread > 0.2


def test_predict_sums_every_job_of_the_default_study():
    config = _config()
    study = load_study(config)
    cal = _cal()
    est = E.predict(config, study, cal, cores=2, gpus=0)
    reps = study.repetitions
    single = sum(cal.models[m.subject].run(m.hp["epochs"])["seconds"] for m in study.mutants) * reps
    assert est.items["training_single"]["seconds"] == pytest.approx(single)
    assert est.items["training_single"]["count"] == len(study.single_jobs())
    mlp = cal.models["digits_mlp"].run(8)
    pair_t = sum(1.2 * max(cal.models["digits_cnn"].run(m.hp["epochs"])["seconds"], mlp["seconds"])
                 for m in study.mutants if m.subject == "digits_cnn") * reps
    pair_e = sum(0.9 * (cal.models["digits_cnn"].run(m.hp["epochs"])["energy_j"] + mlp["energy_j"])
                 for m in study.mutants if m.subject == "digits_cnn") * reps
    assert est.items["training_pair"]["seconds"] == pytest.approx(pair_t)
    assert est.items["training_pair"]["energy_j"] == pytest.approx(pair_e)
    n = len(study.single_jobs()) + len(study.pair_jobs())
    assert est.items["job_overhead"]["seconds"] == pytest.approx(n * 1.0)
    assert est.items["idle_baseline"]["seconds"] == 0 and est.items["settle_wait"]["seconds"] == 0  # CPU, no meter
    wall = 10.0 + single + pair_t + n * 1.0  # one lane: jobs one after another
    assert est.lanes == 1 and est.items["wall_time"]["seconds"] == pytest.approx(wall)
    total_j = est.items["training_single"]["energy_j"] + pair_e
    assert est.items["total"]["energy_j"] == pytest.approx(total_j)
    a = E.accounting(total_j, config["carbon"])
    assert a["kwh"] == pytest.approx(total_j / 3.6e6)
    assert a["co2e_g"] == pytest.approx(total_j / 3.6e6 * 400) and a["cost"] == pytest.approx(total_j / 3.6e6 * 0.3)
    assert est.device_hours_unit == "core-hours"
    assert est.device_hours[1] == pytest.approx((single + pair_t + n) * 2 / 3600)
    # the range: the weighted calibration spread and the model error, around the central value
    lo, hi = est.items["training_single"]["seconds_low"], est.items["training_single"]["seconds_high"]
    u = 1 - lo / single
    assert hi / single == pytest.approx(1 + u) and E.MODEL_ERROR < u < 0.5


def test_gpu_study_lanes_idle_baseline_and_settle():
    config = _config(device="cuda")
    config["energy"].update(idle_seconds=10.0, settle_timeout_s=120.0)
    config["train"]["job_threads"] = 1
    study = load_study(config)
    cal = _cal(device="cuda")
    for m in cal.models.values():
        m.idle_w, m.settle_s = 70.0, 3.0
    est = E.predict(config, study, cal, cores=8, gpus=2)
    n = len(study.single_jobs()) + len(study.pair_jobs())
    assert est.lanes == 2  # min(8 cores // 1 thread, 2 GPUs)
    assert est.items["idle_baseline"]["seconds"] == pytest.approx(10.0 * n)
    assert est.items["idle_baseline"]["energy_j"] == pytest.approx(700.0 * n)
    assert est.items["settle_wait"]["seconds"] == pytest.approx(3.0 * n)
    jobs = sum(est.items[i]["seconds"] for i in ("training_single", "training_pair", "idle_baseline",
                                                  "settle_wait", "job_overhead"))
    assert est.items["wall_time"]["seconds"] == pytest.approx(10.0 + jobs / 2)
    assert est.device_hours_unit == "GPU-hours" and est.device_hours[1] == pytest.approx(jobs / 3600)
    assert E.lanes_for({"train": {"job_threads": 0}}, 16, 4, "cuda") == 1  # each job takes every core


def test_pair_study_needs_a_pair_factor():
    config = _config()
    with pytest.raises(ValueError, match="pair factor"):
        E.predict(config, load_study(config), _cal(pair=False))


def _record(subject, epochs, duration, train_s, energy, mode="single", status="ok", **extra):
    rec = {"mode": mode, "status": status, "subject": subject, "mutant_id": f"{subject}__original",
           "device": "cpu", "requested": {"epochs": epochs, "batch_size": 64},
           "effective": {"epochs": epochs, "batch_size": 64},
           "timing": {"duration_s": duration, "train_seconds": train_s},
           "energy": {"total": {"energy_j": energy, "estimated": True}, "idle": {"seconds": 0.0}},
           "environment": {}}
    rec.update(extra)
    return rec


def test_calibrate_runs_the_originals_through_the_wrapper_then_reuses_them(tmp_path):
    config = _config()
    study = load_study(config)
    calls = []

    def fake_execute(spec, out, logs):
        e = spec.mutant.hp["epochs"]
        fixed, per = (3.0, 0.5) if spec.mutant.subject == "digits_cnn" else (2.0, 0.25)
        calls.append((spec.mode, spec.mutant.subject, e, spec.threads, spec.max_steps))
        if spec.mode == "pair":
            rec = _record(spec.mutant.subject, e, 1.3 * max(fixed + per * e, 2.0 + 0.25), per * e, 50.0, mode="pair",
                          partner={"mutant_id": spec.partner.mutant_id, "subject": spec.partner.subject},
                          partner_result={"status": "ok", "effective": dict(spec.partner.hp)})
        else:
            rec = _record(spec.mutant.subject, e, fixed + per * e, per * e, 10 * (fixed + per * e))
        import json
        rec = complete(rec)  # a record that passes greenhp.record.check, as the wrapper writes
        out.write_text(json.dumps(rec))
        return rec

    kw = dict(cores=2, runs_dir=tmp_path / "runs", calib_dir=tmp_path / "cal", repeats=2,
              execute=fake_execute, overheads=lambda: (0.5, 5.0))
    cal = E.calibrate(config, study, **kw)
    # digits_cnn: 1 epoch, then k = start-up / per-epoch = 6 epochs (<= the original's 8), twice each
    assert [c[2] for c in calls if c[1] == "digits_cnn" and c[0] == "single"] == [1, 6, 1, 6]
    assert [c[2] for c in calls if c[1] == "digits_mlp" and c[0] == "single"] == [1, 8, 1, 8]
    assert [c[:3] for c in calls if c[0] == "pair"] == [("pair", "digits_cnn", 1)]
    assert all(c[3] == 1 and c[4] is None for c in calls)  # the study's torch_threads and max_steps
    cnn = cal.models["digits_cnn"]
    assert cnn.fixed_s == pytest.approx(3.0) and cnn.epoch_s == pytest.approx(0.5)
    assert cnn.fixed_j == pytest.approx(30.0) and cnn.epoch_j == pytest.approx(5.0)  # 10 W throughout
    assert cal.pair.time == pytest.approx(1.3) and cal.job_start_s == 0.5 and cal.workflow_s == 5.0
    n = len(calls)
    E.calibrate(config, study, **kw)  # same settings: the earlier calibration runs are reused
    assert len(calls) == n
    E.calibrate(config, study, **{**kw, "repeats": 1}, reuse=False)
    assert len(calls) > n
    # another max_steps is another calibration
    other = _config(train={**config["train"], "max_steps": 3})
    m = len(calls)
    E.calibrate(other, load_study(other), **kw)
    assert len(calls) > m and calls[-1][4] == 3


def test_estimate_tsv_round_trip(tmp_path):
    config = _config()
    est = E.predict(config, load_study(config), _cal(), cores=2)
    path = E.write_estimate_tsv(est, tmp_path / "estimate.tsv")
    back = E.read_estimate_tsv(path)
    assert set(E.ITEMS) <= set(back)
    for item in E.ITEMS:
        assert back[item]["seconds"] == pytest.approx(est.items[item]["seconds"], rel=1e-5)
    assert back["total"]["kwh"] == pytest.approx(est.items["total"]["energy_j"] / 3.6e6, rel=1e-5)
    text = E.format_estimate(est)
    assert "wall time for the study" in text and "core-hours" in text and "CO2e" in text


def test_plan_estimate_from_a_calibration_file(tmp_path, capsys):
    cal = {"where": "published RTX 3080 durations", "device": "cuda",
           "subjects": {"digits_cnn": {"epochs": 8, "seconds": 80.0, "energy_j": 8000.0},
                        "digits_mlp": {"epochs": 8, "seconds": 40.0, "energy_j": 4000.0, "fixed_s": 8.0}},
           "pair": {"time_factor": 1.1, "energy_factor": 0.9, "source": "H100 pair"}}
    path = tmp_path / "cal.yaml"
    path.write_text(yaml.safe_dump(cal))
    out_tsv = tmp_path / "est.tsv"
    rc = main(["plan", "--configfile", str(ROOT / "config.yaml"), "--estimate", "--calibration", str(path),
               "--tsv", str(out_tsv)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "digits_cnn__original" in out  # the mutant table
    assert "GPU-hours" in out and "wall time for the study" in out and out_tsv.is_file()
    back = E.read_estimate_tsv(out_tsv)
    config = _config()
    study = load_study(config)
    # digits_cnn: all time per epoch (10 s/epoch); digits_mlp: 8 s start-up + 4 s/epoch
    single = sum((10.0 * m.hp["epochs"]) if m.subject == "digits_cnn" else (8.0 + 4.0 * m.hp["epochs"])
                 for m in study.mutants) * study.repetitions
    assert back["training_single"]["seconds"] == pytest.approx(single, rel=1e-5)


def test_plan_prints_the_mutant_table(capsys):
    assert main(["plan", "--configfile", str(ROOT / "config.yaml")]) == 0
    out = capsys.readouterr().out
    counts, table = out.split("\n\n", 1)
    lines = table.strip().splitlines()
    assert lines[0].split()[:3] == ["mutant_id", "hyperparameter", "value"]
    assert len(lines) == 1 + 10 and "batch_size" in lines[0]


def test_readme_paper_figure_is_what_the_estimator_says():
    """The README's GPU-hours for studies/paper.yaml come from the estimator and its labelled calibration file."""
    config = yaml.safe_load((ROOT / "studies" / "paper.yaml").read_text())
    validate_config(config)
    study = load_study(config)
    cal = E.load_calibration_file(ROOT / "studies" / "paper_rtx3080.calibration.yaml", config)
    assert not cal.measured and "RTX 3080" in cal.where
    est = E.predict(config, study, cal, cores=8, gpus=1)
    lo, c, hi = est.device_hours
    readme = (ROOT / "README.md").read_text()
    assert f"≈ {round(c, -1):.0f} GPU-hours [{lo:.0f}-{hi:.0f}]" in readme
    kwh = est.items["total"]["energy_j"] / 3.6e6
    assert f"{kwh:.1f} kWh" in readme
    for mode in ("single", "pair"):  # the table's rows: jobs and hours of each mode
        it = est.items[f"training_{mode}"]
        assert f"| {it['count']} {mode} runs | {it['seconds'] / 3600:.1f} h " in readme


@pytest.mark.parametrize("bad", [-100.0, "fast", 1e9])
def test_calibration_skips_an_invalid_record_naming_file_and_field(tmp_path, bad):
    """issue 22, Why 11: an earlier record with train_seconds -100 made `greenhp plan --estimate` print a
    negative study time, one with "fast" failed with "could not convert string to float" naming nothing.
    Such a record is skipped with a line naming the file and the field; the estimate stays positive."""
    import json

    config = _config()
    study = load_study(config)
    runs = tmp_path / "runs"

    def put(rel, subject, duration, train_s, **extra):
        hp = study.by_id[f"{subject}__original"].hp
        rec = complete({"subject": subject, "mutant_id": f"{subject}__original", "requested": hp, "effective": hp,
                        "timing": {"start_unix": 1.0, "duration_s": duration, "train_seconds": train_s},
                        "energy": {"total": {"energy_j": 10.0 * duration}}, **extra})
        path = runs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))
        return path

    for subject in ("digits_cnn", "digits_mlp"):
        put(f"single/{subject}__original/rep1.json", subject, 4.0, 2.0)
        put(f"single/{subject}__original/rep2.json", subject, 4.4, 2.2)
    bad_path = put("single/digits_cnn__original/rep3.json", "digits_cnn", 4.0, bad)
    put("pair/digits_cnn__original/digits_mlp__original/rep1.json", "digits_cnn", 6.0, 2.5, mode="pair",
        partner={"mutant_id": "digits_mlp__original", "subject": "digits_mlp"},
        partner_result={"status": "ok", "effective": study.by_id["digits_mlp__original"].hp, "train_seconds": 2.0})

    def no_training(spec, out, logs):
        raise AssertionError("the earlier records suffice: no calibration run")

    lines = []
    cal = E.calibrate(config, study, cores=2, runs_dir=runs, calib_dir=tmp_path / "cal", execute=no_training,
                      overheads=lambda: (0.5, 5.0), log=lines.append)
    named = [line for line in lines if str(bad_path) in line]
    assert len(named) == 1 and "timing/train_seconds" in named[0], lines
    assert cal.models["digits_cnn"].basis == "2 earlier record(s)"
    est = E.predict(config, study, cal, cores=2)
    for item, v in est.items.items():
        assert all(v.get(k) is None or v[k] >= 0 for k in ("seconds", "seconds_low", "energy_j")), (item, v)
    assert "wall time for the study: -" not in E.format_estimate(est)
