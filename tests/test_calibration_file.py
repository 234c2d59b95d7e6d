"""Calibration files (`greenhp plan --estimate --calibration FILE`) are checked like config files
(issue 22, item 8): unknown keys, types, ranges, NaN and infinity, a start-up longer than the whole
run, an unknown device; one line naming the file, the subject and the field, no traceback."""

import math

import pytest
import yaml

from greenhp import cost as E
from greenhp.cli import main
from greenhp.study import load_study, validate_config
from testutil import ROOT

GOOD = (ROOT / "studies" / "paper_rtx3080.calibration.yaml").read_text()
PAPER = ROOT / "studies" / "paper.yaml"


def _plan(capsys, tmp_path, text: str, study=PAPER):
    path = tmp_path / "bad.calibration.yaml"
    path.write_text(text)
    rc = main(["plan", "--configfile", str(study), "--estimate", "--calibration", str(path), "--no-table",
               "--tsv", str(tmp_path / "estimate.tsv")])
    out, err = capsys.readouterr()
    return rc, out, err, path


def _edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize("text, subject, field, says", [
    (_edit("mnist_cnn:    {epochs: 14,", "mnist_cnn:    {epochs: 0,"), "mnist_cnn", "epochs", "integer >= 1"),
    (_edit("time_factor: 1.12", "time_factor: -3"), None, "pair.time_factor", "number >= 0.5"),
    (_edit("energy_j: 21600", "energy_j: -21600"), "mnist_cnn", "energy_j", "number > 0"),
    (_edit("energy_j: 71800", "energy_j: .inf"), "siamese", "energy_j", "not a finite number"),
    (_edit("seconds: 279", "seconds: .nan"), "siamese", "seconds", "not a finite number"),
    (_edit("spread: 0.05 ", "spread: lots "), None, "spread", "'lots' is not allowed"),
    (_edit("device: cuda", "device: tpu"), None, "device", "allowed: cuda, cpu"),
    (_edit("mnist_ff:     {epochs: 1000, seconds: 45,", "mnist_ff:     {epochs: 1000, seconds: 45, fixed_s: 60,"),
     "mnist_ff", "fixed_s", "not less than the subject's whole run"),
    (_edit("fixed_s: 10.0", "fixed_s: 50.0"), "mnist_ff", "fixed_s (given once for all subjects)",
     "not less than the subject's whole run (seconds: 45)"),
    (_edit("job_start_s:", "job_strat_s: 1\njob_start_s:"), None, None, "unknown key 'job_strat_s'"),
    (_edit("seconds: 185,", "secnds: 185,"), "mnist_cnn", None, "unknown key 'secnds'"),
    (_edit("pair:\n", "pair:\n  tme_factor: 1.0\n"), None, "pair", "unknown key 'tme_factor'"),
    (_edit("energy_j: 875000", "energy_j: 8e5"), "hrnet18_reid", "energy_j", "YAML reads 8e5 as text"),
    (_edit("  hrnet18_reid: {epochs: 60,   seconds: 2845, energy_j: 875000}\n", ""), None, "subjects",
     "no entry for subject 'hrnet18_reid'"),
    (GOOD + "spread: 0.1\n", None, None, "key 'spread' appears twice"),
    ("- 1\n", None, None, "must be a mapping"),
])
def test_a_bad_calibration_file_is_rejected_in_one_line(capsys, tmp_path, text, subject, field, says):
    rc, out, err, path = _plan(capsys, tmp_path, text)
    assert rc == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert line.startswith(f"greenhp plan: calibration rejected: calibration file {path}"), line
    if subject:
        assert f"subject {subject!r}" in line, line
    if field:
        assert f": {field}: " in line or f": {field}:" in line, line
    assert says in line, line
    assert not (tmp_path / "estimate.tsv").exists()  # nothing written from a bad calibration


def test_a_calibration_for_another_device_is_rejected(capsys, tmp_path):
    study = tmp_path / "cpu.yaml"
    study.write_text(PAPER.read_text().replace("device: cuda", "device: cpu"))
    rc, _, err, path = _plan(capsys, tmp_path, GOOD, study=study)
    assert rc == 2 and f"calibration file {path}: device: 'cuda' is not the study's device 'cpu'" in err


def test_the_shipped_calibration_passes_and_every_figure_is_finite_and_positive(capsys, tmp_path):
    rc, out, err, _ = _plan(capsys, tmp_path, GOOD)
    assert rc == 0, err
    config = yaml.safe_load(PAPER.read_text())
    validate_config(config)
    cal = E.load_calibration_file(ROOT / "studies" / "paper_rtx3080.calibration.yaml", config)
    est = E.predict(config, load_study(config), cal, cores=8, gpus=1)
    for name, item in est.items.items():
        for key, value in item.items():
            if isinstance(value, float):
                assert math.isfinite(value) and value >= 0, (name, key, value)
    assert all(math.isfinite(x) and x > 0 for x in est.device_hours)
