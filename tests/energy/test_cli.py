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
