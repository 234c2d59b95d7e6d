"""greenhp.estimate.footprint: the study's own footprint sums every run record (ok or not) and every
idle baseline; Snakemake's job times give the overhead, the other jobs and the wall time."""

import base64
import json

import pytest

from greenhp import estimate as E
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
    rows = {r["item"]: r for r in E.footprint(recs, estimate=est, jobs=jobs, record_paths=names)}
    assert rows["job_overhead"]["seconds"] == pytest.approx(2.0 + 1.5) and rows["job_overhead"]["count"] == 2
    assert rows["workflow"]["seconds"] == pytest.approx(7.5 + 9.0) and rows["workflow"]["count"] == 2
    assert rows["wall_time"]["seconds"] == pytest.approx(150.0)  # the footprint job itself is not counted
    assert rows["wall_time"]["seconds_vs_estimate"] == pytest.approx(150 / 140)
    s = rows["training_single"]
    assert s["estimated_seconds"] == 100.0 and s["seconds_vs_estimate"] == pytest.approx(105 / 100)
    assert s["energy_vs_estimate"] == pytest.approx(20300 / 20000)


def test_footprint_file_and_summary_paragraph(tmp_path):
    runs = tmp_path / "runs"
    for i, rec in enumerate(_records()):
        path = runs / rec["mode"] / rec["mutant_id"] / f"rep{i + 1}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(complete(rec)))  # every reader checks a record (greenhp.record.check)
    rows = E.study_footprint(runs)
    out = E.write_footprint(rows, tmp_path / "footprint.tsv")
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == E.FOOT_COLUMNS and len(lines) == 1 + len(E.ITEMS)
    text = "\n".join(footprint_lines(tmp_path))
    assert "The study's own footprint" in text and "5 runs" in text and "Idle baselines: 4 taken" in text
    assert "kWh" in text and "g CO2e" in text
    assert footprint_lines(tmp_path / "nothing") == []  # a re-analysis has no records
