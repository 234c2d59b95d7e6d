"""greenhp.cost.footprint: the study's own footprint sums every run record (ok or not) and every
idle baseline; Snakemake's job times give the overhead, the other jobs and the wall time."""

import base64
import json

import pytest

from greenhp import cost as E
from greenhp.analysis.summary import footprint_lines
from recordutil import complete


def _rec(mode, status, duration, energy, idle=None, subject="digits_cnn", rep=1):
    return {"mode": mode, "status": status, "subject": subject, "mutant_id": f"{subject}__original",
            "repetition": rep, "device": "cuda",
            "timing": {"duration_s": duration, "train_seconds": duration / 2},
            "energy": {"gpu": {"energy_j": energy, "method": "nvml_counter" if energy is not None else "unavailable"},
                       "cpu": {"energy_j": None, "method": "unavailable"}, "dram": {"energy_j": None},
                       "total": {"energy_j": energy, "estimated": False},
                       "idle": idle or {"gpu_w": None, "cpu_w": None, "dram_w": None, "seconds": 0.0, "settle_s": None}},
            "carbon": {"intensity_g_per_kwh": 400.0}}


def _records():
    base = {"gpu_w": 70.0, "cpu_w": 10.0, "dram_w": None, "seconds": 10.0, "settle_s": 3.0}
    return [
        _rec("single", "ok", 100.0, 20000.0, base),
        _rec("single", "failed", 5.0, 300.0, dict(base, gpu_w=80.0, settle_s=1.5), rep=2),
        _rec("single", "timeout", 600.0, None, dict(base, settle_s=None), rep=3),  # no total: counted, named
        _rec("pair", "ok", 150.0, 35000.0, dict(base, cpu_w=None, settle_s=0.5)),
        _rec("pair", "diverged", 40.0, 9000.0, {"gpu_w": None, "seconds": 10.0, "settle_s": None}, rep=2),
    ]


def test_footprint_sums_every_run_and_baseline():
    recs = _records()
    rows = {r["item"]: r for r in E.footprint(recs, carbon={"intensity_g_per_kwh": 400.0, "price_per_kwh": 0.3})}
    s, p = rows["training_single"], rows["training_pair"]
    assert s["count"] == 3 and s["seconds"] == pytest.approx(705.0) and s["energy_j"] == pytest.approx(20300.0)
    assert s["status"] == "failed 1, ok 1, timeout 1" and "1 run(s) without a total" in s["note"]
    assert p["count"] == 2 and p["seconds"] == pytest.approx(190.0) and p["energy_j"] == pytest.approx(44000.0)
    assert s["energy_method"] == "gpu:nvml_counter"
    idle = rows["idle_baseline"]  # 4 baselines with a meter (the diverged pair's had none: no wait)
    assert idle["count"] == 4 and idle["seconds"] == pytest.approx(40.0)
    assert idle["energy_j"] == pytest.approx(10 * (80 + 90 + 80 + 70))
    assert "1 run(s) asked for a baseline" in idle["note"]
    settle = rows["settle_wait"]
    assert settle["count"] == 3 and settle["seconds"] == pytest.approx(5.0) and settle["energy_j"] is None
    total = rows["total"]
    assert total["count"] == 5 and total["energy_j"] == pytest.approx(20300 + 44000 + 3200)
    assert total["kwh"] == pytest.approx(total["energy_j"] / 3.6e6)
    assert total["co2e_g"] == pytest.approx(total["kwh"] * 400) and total["cost"] == pytest.approx(total["kwh"] * 0.3)
    assert rows["job_overhead"]["seconds"] is None and rows["wall_time"]["seconds"] is None  # no job times given


def _write_meta(root, path, rule, start, end, split=False):
    b64 = base64.urlsafe_b64encode(path.encode()).decode()
    parts = [b64] if not split else ["@" + b64[:10], b64[10:]]  # Snakemake splits long names into folders
    f = root.joinpath(*parts)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps({"rule": rule, "starttime": start, "endtime": end}))


def test_snakemake_job_times_give_overhead_other_jobs_and_wall_time(tmp_path):
    meta = tmp_path / "metadata"
    recs = _records()[:2]
    names = ["results/runs/single/a/rep1.json", "results/runs/single/a/rep2.json"]
    # job 1: 100 s window + 10 s baseline + 3 s settle in a 115 s job -> 2 s overhead; job 2: 5+10+1.5 in 18 -> 1.5
    _write_meta(meta, names[0], "train_single", 1000.0, 1115.0)
    _write_meta(meta, names[1], "train_single", 1115.0, 1133.0, split=True)
    _write_meta(meta, "results/stats/correlations.tsv", "stats", 1133.0, 1140.0)
    _write_meta(meta, "results/recommendations.tsv", "stats", 1133.0, 1140.5)
    _write_meta(meta, "results/summary.rst", "plots", 1141.0, 1150.0)
    _write_meta(meta, "results/footprint.tsv", "footprint", 1150.0, 1151.0)
    jobs = E.snakemake_jobs(meta)
    assert set(jobs) == set(names) | {"results/stats/correlations.tsv", "results/recommendations.tsv",
                                      "results/summary.rst", "results/footprint.tsv"}
    est = {"training_single": {"seconds": 100.0, "seconds_low": 80.0, "seconds_high": 120.0, "energy_j": 20000.0},
           "wall_time": {"seconds": 140.0}}
    rows = {r["item"]: r for r in E.footprint(recs, estimate=est, jobs=jobs, record_paths=names, carbon={})}
    assert rows["job_overhead"]["seconds"] == pytest.approx(2.0 + 1.5) and rows["job_overhead"]["count"] == 2
    assert rows["workflow"]["seconds"] == pytest.approx(7.5 + 9.0) and rows["workflow"]["count"] == 2
    # the jobs' union: 1000-1140.5 and 1141-1150 (the footprint job itself is not counted)
    assert rows["wall_time"]["seconds"] == pytest.approx(149.5)
    assert rows["wall_time"]["seconds_vs_estimate"] == pytest.approx(149.5 / 140)
    s = rows["training_single"]
    assert s["estimated_seconds"] == 100.0 and s["seconds_vs_estimate"] == pytest.approx(105 / 100)
    assert s["energy_vs_estimate"] == pytest.approx(20300 / 20000)


def test_footprint_file_and_summary_paragraph(tmp_path):
    runs = tmp_path / "runs"
    for i, rec in enumerate(_records()):
        path = runs / rec["mode"] / rec["mutant_id"] / f"rep{i + 1}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(complete(rec)))  # every reader checks a record (greenhp.record.check)
    paths = sorted(runs.rglob("rep*.json"))
    carbon = {"intensity_g_per_kwh": 400.0, "price_per_kwh": 0.3}
    rows = E.study_footprint(paths, carbon=carbon)
    out = E.write_footprint(rows, tmp_path / "footprint.tsv")
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == E.FOOT_COLUMNS and len(lines) == 1 + len(E.ITEMS)
    text = "\n".join(footprint_lines(paths, carbon))
    assert "The study's own footprint" in text and "5 runs" in text and "Idle baselines: 4 taken" in text
    assert "kWh" in text and "g CO2e at 400 g/kWh" in text and "at 0.3 per kWh" in text
    assert footprint_lines([], carbon) == []  # a re-analysis has no records


# ------------------------------------------------------------------------------------------------
# issue 22: one carbon path, the same comparison on both pages, wall time as the union of job intervals
# ------------------------------------------------------------------------------------------------
def _study(tmp_path, records):
    paths = []
    for i, rec in enumerate(records):
        path = tmp_path / "runs" / rec["mode"] / rec["mutant_id"] / f"rep{i + 1}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(complete(rec)))  # every reader checks a record (greenhp.record.check)
        paths.append(path)
    return paths


def _footprint_tsv(rows, tmp_path):
    import csv

    out = E.write_footprint(rows, tmp_path / "footprint.tsv")
    return {r["item"]: r for r in csv.DictReader(out.open(), delimiter="\t")}


def test_current_intensity_not_the_records_gives_co2e_on_both_pages(tmp_path):
    """Trained at 400 g/kWh, then carbon.intensity_g_per_kwh 55: footprint.tsv and the summary both
    say the 55 g/kWh figure, the same number."""
    paths = _study(tmp_path, _records())  # each record stored 400 g/kWh at training time
    carbon = {"intensity_g_per_kwh": 55.0, "price_per_kwh": 0.1}
    tsv = _footprint_tsv(E.study_footprint(paths, carbon=carbon), tmp_path)
    kwh = float(tsv["total"]["kwh"])
    assert float(tsv["total"]["co2e_g"]) == pytest.approx(kwh * 55.0)
    assert float(tsv["total"]["cost"]) == pytest.approx(kwh * 0.1)
    text = "\n".join(footprint_lines(paths, carbon))
    assert f"{float(tsv['total']['co2e_g']):.3g} g CO2e at 55 g/kWh" in text, text
    assert f"cost {float(tsv['total']['cost']):.3g} at 0.1 per kWh" in text
    assert f"{kwh * 400.0:.3g} g" not in text  # not the training-time intensity


def test_records_of_mixed_intensities_still_give_a_co2e_line(tmp_path):
    recs = _records()
    recs[0]["carbon"] = {"intensity_g_per_kwh": 55.0}
    recs[3]["carbon"] = {"intensity_g_per_kwh": 900.0}
    paths = _study(tmp_path, recs)
    carbon = {"intensity_g_per_kwh": 120.0, "price_per_kwh": 0.3}
    total = {r["item"]: r for r in E.study_footprint(paths, carbon=carbon)}["total"]
    text = "\n".join(footprint_lines(paths, carbon))
    assert f"{total['co2e_g']:.3g} g CO2e at 120 g/kWh" in text, text
    assert total["co2e_g"] == pytest.approx(total["energy_j"] / 3.6e6 * 120.0)


def test_without_carbon_settings_no_co2e_is_made_up(tmp_path):
    paths = _study(tmp_path, _records())
    total = {r["item"]: r for r in E.study_footprint(paths, carbon={})}["total"]
    assert total["kwh"] is not None and total["co2e_g"] is None and total["cost"] is None
    assert "CO2e" not in "\n".join(footprint_lines(paths, {}))


def test_summary_compares_the_same_quantities_as_footprint_tsv(tmp_path):
    """The summary (written before the job times are known) shows each estimate ratio and range verdict
    that footprint.tsv holds for the same item, and no ratio of a quantity it cannot know (the whole
    study's time, which footprint.tsv counts with the analysis jobs)."""
    recs = _records()
    paths = _study(tmp_path, recs)
    meta = tmp_path / "metadata"
    t = 1000.0
    for p, r in zip(paths, recs):
        _write_meta(meta, str(p), f"train_{r['mode']}", t, t + r["timing"]["duration_s"] + 30.0)
        t += r["timing"]["duration_s"] + 30.0
    _write_meta(meta, "results/summary.rst", "plots", t, t + 400.0)
    est_rows = [
        {"scope": "study", "item": "training_single", "seconds": 650.0, "seconds_low": 600.0, "seconds_high": 700.0,
         "energy_j": 20000.0, "energy_j_low": 15000.0, "energy_j_high": 25000.0},
        {"scope": "study", "item": "training_pair", "seconds": 100.0, "seconds_low": 90.0, "seconds_high": 110.0,
         "energy_j": 50000.0, "energy_j_low": 45000.0, "energy_j_high": 55000.0},
        {"scope": "study", "item": "total", "seconds": 1400.0, "seconds_low": 1200.0, "seconds_high": 1600.0,
         "energy_j": 70000.0, "energy_j_low": 60000.0, "energy_j_high": 80000.0},
    ]
    est_path = tmp_path / "estimate.tsv"
    est_path.write_text("\t".join(E.EST_COLUMNS) + "\n" + "".join(
        "\t".join(E._cell(r.get(c)) for c in E.EST_COLUMNS) + "\n" for r in est_rows))
    carbon = {"intensity_g_per_kwh": 400.0, "price_per_kwh": 0.3}
    rows = E.study_footprint(paths, carbon=carbon, estimate_path=est_path, metadata_dir=meta,
                             extra_outputs=["results/summary.rst"])
    tsv = _footprint_tsv(rows, tmp_path)
    text = "\n".join(footprint_lines(paths, carbon, est_path))
    s, p, tot = tsv["training_single"], tsv["training_pair"], tsv["total"]
    # single: time 705 s in [600, 700] -> outside; energy 20300 in range -> inside
    assert s["seconds_in_estimate_range"] == "false" and s["energy_in_estimate_range"] == "true"
    assert (f"single runs: time {float(s['seconds_vs_estimate']):.2f} x (outside its range), "
            f"energy {float(s['energy_vs_estimate']):.2f} x (inside its range)") in text, text
    assert p["seconds_in_estimate_range"] == "false" and p["energy_in_estimate_range"] == "false"
    assert f"pair runs: time {float(p['seconds_vs_estimate']):.2f} x (outside its range)" in text
    assert f"energy in all: {float(tot['energy_vs_estimate']):.2f} x (inside its range)" in text
    # the whole study's time ratio is footprint.tsv's alone (it counts the analysis jobs): inside its
    # range there, while the records alone would say "outside" (the 0.77 against 0.869)
    assert tot["seconds_in_estimate_range"] == "true"
    rows_no_jobs = {r["item"]: r for r in E.study_footprint(paths, carbon=carbon, estimate_path=est_path)}
    assert rows_no_jobs["total"]["seconds_in_estimate_range"] is False
    for ratio in (float(tot["seconds_vs_estimate"]), rows_no_jobs["total"]["seconds_vs_estimate"]):
        assert f"{ratio:.2f} x" not in text, (ratio, text)
    assert "footprint.tsv" in text


def test_versus_estimate_gives_one_ratio_and_verdict():
    est = {"seconds": 100.0, "seconds_low": 80.0, "seconds_high": 120.0}
    assert E.versus_estimate(110.0, est, "seconds") == (pytest.approx(1.1), True)
    assert E.versus_estimate(79.0, est, "seconds") == (pytest.approx(0.79), False)
    assert E.versus_estimate(None, est, "seconds") == (None, None)
    assert E.versus_estimate(50.0, {"seconds": 100.0}, "seconds") == (pytest.approx(0.5), None)
    assert E.versus_estimate(50.0, est, "energy_j") == (None, None)


def test_union_of_intervals():
    assert E.union_seconds([]) == 0.0
    assert E.union_seconds([(0, 10), (5, 15), (20, 30)]) == pytest.approx(25.0)
    assert E.union_seconds([(20, 30), (0, 100)]) == pytest.approx(100.0)
    assert E.union_seconds([(0, 10), (10, 20)]) == pytest.approx(20.0)


def test_wall_time_counts_the_jobs_not_the_gap_between_two_invocations(tmp_path):
    """A study run in two invocations a day apart (a resume): the wall time is the time its jobs ran."""
    meta = tmp_path / "metadata"
    recs = _records()[:2]
    names = ["results/runs/single/a/rep1.json", "results/runs/single/a/rep2.json"]
    day = 86400.0
    _write_meta(meta, names[0], "train_single", 1000.0, 1115.0)
    _write_meta(meta, "results/mutants.tsv", "mutants", 990.0, 1001.0)  # overlaps: counted once
    _write_meta(meta, names[1], "train_single", 1000.0 + day, 1018.0 + day)
    _write_meta(meta, "results/stats/correlations.tsv", "stats", 1018.0 + day, 1025.0 + day)
    _write_meta(meta, "results/footprint.tsv", "footprint", 1030.0 + day, 1031.0 + day)
    rows = {r["item"]: r for r in E.footprint(recs, jobs=E.snakemake_jobs(meta), record_paths=names, carbon={})}
    assert rows["wall_time"]["seconds"] == pytest.approx(125.0 + 25.0)
    assert "union" in rows["wall_time"]["note"]


def test_the_rows_the_summary_shows_do_not_depend_on_job_times(tmp_path):
    """What the summary can show before the analysis ends: the record items and the total's energy,
    kWh, CO2e and cost are the same with Snakemake's job times (footprint.tsv) as without (summary)."""
    recs = _records()
    paths = _study(tmp_path, recs)
    meta = tmp_path / "metadata"
    for i, p in enumerate(paths):
        _write_meta(meta, str(p), "train_single", 1000.0 + 1000 * i, 1900.0 + 1000 * i)
    _write_meta(meta, "results/stats/correlations.tsv", "stats", 9000.0, 9100.0)
    carbon = {"intensity_g_per_kwh": 250.0, "price_per_kwh": 0.2}
    with_jobs = {r["item"]: r for r in E.study_footprint(paths, carbon=carbon, metadata_dir=meta,
                                                          extra_outputs=["results/stats/correlations.tsv"])}
    without = {r["item"]: r for r in E.study_footprint(paths, carbon=carbon)}
    assert with_jobs["job_overhead"]["seconds"] is not None and without["job_overhead"]["seconds"] is None
    for item in E.RECORD_ITEMS:
        assert with_jobs[item] == without[item], item
    for key in ("energy_j", "kwh", "co2e_g", "cost"):
        assert with_jobs["total"][key] == without["total"][key], key
