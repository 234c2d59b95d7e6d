"""Atomic writes: never half a file, and the permissions of a plain open() (the umask), not mkstemp's 0600."""

import os
import stat
import subprocess
import sys

import pytest

from greenhp.atomic import umask, write_json, write_text
from testutil import subprocess_env


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_umask_permissions(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        assert umask() == mask
        write_text(tmp_path / "t.tsv", "a\n")
        write_json(tmp_path / "r.json", {"x": 1})
    finally:
        os.umask(old)
    for name in ("t.tsv", "r.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "t.tsv"]


def test_reading_the_umask_does_not_change_it(tmp_path):
    code = "import os; from greenhp.atomic import umask; os.umask(0o027); assert umask() == 0o027 == umask(); print(oct(os.umask(0)))"
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True)
    assert out.stdout.strip() == "0o27", out.stderr
