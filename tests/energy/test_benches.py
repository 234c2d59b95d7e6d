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
