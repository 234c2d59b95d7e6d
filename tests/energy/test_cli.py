import json
import sys

import pytest

from greenhp.energy.cli import main


def test_measure_roundtrip(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("energy:\n  gpu_meter: none\n  cpu_watts_per_core: 12\n  timeline: true\n")
    out = tmp_path / "run.json"
    rc = main(["measure", "--out", str(out), "--config", str(cfg), "--",
               sys.executable, "-c", "import sys; sum(range(10**6)); sys.exit(4)", "--out", "x"])
    assert rc == 4
    rec = json.loads(out.read_text())
    assert rec["returncode"] == 4 and rec["command"][-2:] == ["--out", "x"]
    assert rec["energy"]["cpu"]["watts_per_core"] == 12.0
    assert rec["energy"]["gpu"]["reason"] == "gpu_meter: none (not measured)"


def test_plain_energy_mapping_config(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cpu_meter: none\ngpu_meter: none\n")
    out = tmp_path / "r.json"
    assert main(["--out", str(out), "--config", str(cfg), "--", sys.executable, "-c", "pass"]) == 0


@pytest.mark.parametrize("args, msg", [
    (["--out", "r.json"], "no command"),
    (["--out", "r.json", "--gpu-index", "-1", "--", "true"], "--gpu-index"),
    (["--out", "r.json", "--gpu-index", "x", "--", "true"], "--gpu-index"),
    (["--out", "r.json", "stray", "--", "true"], "stray"),
    (["--", "true"], "--out"),
])
def test_usage_errors(args, msg, capsys):
    with pytest.raises(SystemExit) as ei:
        main(args)
    assert ei.value.code == 2
    assert msg in capsys.readouterr().err


def test_bad_config_names_key(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("energy:\n  sample_rate: 3\n")
    with pytest.raises(SystemExit) as ei:
        main(["--out", str(tmp_path / "r.json"), "--config", str(cfg), "--", "true"])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert "sample_rate" in err and "sample_hz" in err and str(cfg) in err


def test_missing_config(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", "r.json", "--config", str(tmp_path / "nope.yaml"), "--", "true"])
    assert "nope.yaml" in capsys.readouterr().err


def test_measure_prints_one_summary_line(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("energy: {gpu_meter: none, cpu_meter: estimate}\n")
    out = tmp_path / "run.json"
    assert main(["--out", str(out), "--config", str(cfg), "--", sys.executable, "-c", "pass"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("greenhp measure: exit code 0; ") and err[0].endswith(f"-> {out}")
    assert "gpu not measured (gpu_meter: none (not measured))" in err[0]
    assert "cpu " in err[0] and "(estimate_cpu_time)" in err[0] and "total " in err[0] and "includes an estimate" in err[0]


def test_measure_says_why_a_command_did_not_start(tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["--out", str(out), "--", str(tmp_path / "no-such-program")]) == 127
    err = capsys.readouterr().err
    assert "greenhp measure: exit code 127: could not start command:" in err and "no-such-program" in err
    assert json.loads(out.read_text())["returncode"] == 127


# -- hostile use (issue 11, failure 8 and the SIGTERM weak spot) --------------------------------------
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("make_out, msg", [
    (lambda d: d, "is a directory"),
    (lambda d: (d / "ro").mkdir(mode=0o500) or d / "ro" / "r.json", "cannot write in"),
    (lambda d: (d / "file").write_text("") or d / "file" / "r.json", "cannot create the folder"),
    (lambda d: Path("/proc/self/r.json"), "cannot write in"),  # unwritable even for root
])
def test_unusable_out_path_is_refused_before_the_command_runs(tmp_path, capsys, make_out, msg):
    out = make_out(tmp_path)
    if out.parent.name == "ro" and os.geteuid() == 0:
        pytest.skip("root can write into a read-only folder")
    marker = tmp_path / "ran"
    with pytest.raises(SystemExit) as ei:
        main(["--out", str(out), "--", sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert f"--out {out}: " in err and msg in err
    assert not marker.exists(), "the command ran although its record could not be written"


def test_a_command_killed_by_a_signal_exits_128_plus_the_signal(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["--out", str(out), "--", sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    assert rc == 137
    rec = json.loads(out.read_text())
    assert rec["returncode"] == 137 and rec["signal"] == "SIGKILL"
    assert "exit code 137 (killed by SIGKILL)" in capsys.readouterr().err


def measure_process(tmp_path, script, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    ready = tmp_path / "ready"
    code = f"import signal, time; {script}; open({str(ready)!r}, 'w'); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-m", "greenhp.cli", "measure", "--out", str(tmp_path / "r.json"), *extra,
                             "--", sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists()
    return proc


def test_sigterm_is_forwarded_and_escalated_when_the_command_ignores_it(tmp_path):
    proc = measure_process(tmp_path, "signal.signal(signal.SIGTERM, signal.SIG_IGN)", "--kill-grace-s", "1")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 137, err
    assert "the command still runs 1 s after SIGTERM; sending SIGKILL" in err
    assert json.loads((tmp_path / "r.json").read_text())["signal"] == "SIGKILL"


def test_sigterm_to_a_command_that_obeys_ends_it_with_143(tmp_path):
    proc = measure_process(tmp_path, "pass")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143 and "SIGKILL" not in err.replace("(killed by SIGTERM)", "")
