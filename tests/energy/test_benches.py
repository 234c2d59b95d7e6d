import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_gpu_check_exits_2_without_gpu(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gpu_check.py"), "--quick",
                        "--out", str(tmp_path / "g.md")], capture_output=True, text=True, env=env, timeout=60)
    if p.returncode == 0:
        pytest.skip("this machine has a GPU")
    assert p.returncode == 2 and "gpu_check: no GPU:" in p.stderr
    assert not (tmp_path / "g.md").exists()


@pytest.fixture
def overhead_bench(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "bench"))
    import overhead
    # a short CPU-bound child instead of the torch workload: n additions
    monkeypatch.setattr(overhead, "argv_for", lambda n, device="cpu": [
        sys.executable, "-c", "import sys; s = sum(range(int(sys.argv[1]))); sys.exit(int(sys.argv[1]) < 0)", str(n)])
    return overhead


def test_overhead_pairs_record_wall_and_cpu_time(overhead_bench):
    from greenhp.energy import EnergyConfig
    cpu = {}
    plain, wrapped = overhead_bench.run_pairs(3_000_000, 2, EnergyConfig(gpu_meter="none", cpu_meter="estimate"),
                                              cpu=cpu)
    assert len(plain) == len(wrapped) == 2 and min(plain + wrapped) > 0
    assert len(cpu["plain_child"]) == len(cpu["wrapped_child"]) == len(cpu["wrapper"]) == 2
    # the child's CPU seconds are the child's, not zero and not more than its wall time allows
    for child, wall in zip(cpu["plain_child"] + cpu["wrapped_child"], plain + wrapped):
        assert 0 < child <= wall * 1.05 + 0.01
    assert all(w >= 0 for w in cpu["wrapper"])


def test_overhead_bench_stops_on_a_failing_workload(overhead_bench):
    from greenhp.energy import EnergyConfig
    with pytest.raises(SystemExit, match="workload failed"):
        overhead_bench.run_pairs(-1, 1, EnergyConfig(gpu_meter="none", cpu_meter="estimate"))


def _study_record(mode, i, method="nvml_counter", verdict="match", shares=(60.0, 40.0), total=100.0):
    energy = {"gpu": {"energy_j": total, "method": method, "training_gpu": {"verdict": verdict}},
              "idle": {"prepare_s": 1.0, "settle_s": 1.0, "baseline_age_s": 5.0 * i,
                       "baseline": {"source": "measured" if i == 0 else "cache"}}}
    if mode == "pair":
        energy["attribution"] = {"main": {"gpu_j": shares[0]}, "partner": {"gpu_j": shares[1]}}
    return {"run_id": f"{mode}{i}", "mode": mode, "status": "ok", "energy": energy,
            "timing": {"duration_s": 10.0, "train_seconds": 8.0}}


def test_gpu_study_check_passes_a_good_study_and_names_each_failure(tmp_path, monkeypatch):
    import json
    monkeypatch.syspath_prepend(os.path.join(ROOT, "bench"))
    import gpu_study_check as g
    recs = [_study_record("single", i) for i in range(10)] + [_study_record("pair", i) for i in range(10)]
    for r in recs:
        p = tmp_path / "results" / "runs" / r["mode"] / f"{r['run_id']}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(r))
    (tmp_path / "results" / "report.html").write_text("<html/>")
    assert g.main([str(tmp_path), "--wall-s", "220"]) == 0
    rows, ok, fig = g.checks(g.load_records(str(tmp_path)), 220.0, True)
    assert ok and fig["runs"] == 20 and fig["efficiency"] == pytest.approx(200 / 220)
    assert fig["fixed_s_per_run"] == pytest.approx(1.0) and fig["efficiency_at_30s_runs"] == pytest.approx(30 / 31)
    bad = list(recs)
    bad[0] = _study_record("single", 0, method="nvml_power_integral")
    bad[1] = _study_record("single", 1, verdict="unknown")
    bad[10] = _study_record("pair", 0, shares=(60.0, 30.0))
    rows, ok, _ = g.checks([dict(r, _path=r["run_id"]) for r in bad], 400.0, False)
    failed = {r[0] for r in rows if r[3] == "FAIL"}
    assert not ok and failed == {"GPU method", "training GPU verdict", "pair shares = device total", "report",
                                 "study wall time", "per-run fixed cost"}
