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
