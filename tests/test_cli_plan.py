"""`greenhp plan` checks a study config as the Snakefile does and prints its job counts; a bad
config gives one line naming the field and exit code 2, never a traceback."""

import yaml

from testutil import ROOT
from greenhp.cli import main


def _plan(capsys, path):
    rc = main(["plan", "--configfile", str(path)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_plan_counts_the_default_study(capsys):
    rc, out, err = _plan(capsys, ROOT / "config.yaml")
    rows = dict(line.split("\t") for line in out.strip().split("\n\n")[0].splitlines())
    assert rc == 0 and err == ""
    assert rows == {"configurations": "10", "single_jobs": "30", "pair_jobs": "15"}


def test_plan_counts_the_paper_study(capsys):
    rc, out, _ = _plan(capsys, ROOT / "studies" / "paper.yaml")
    rows = dict(line.split("\t") for line in out.strip().split("\n\n")[0].splitlines())
    assert rc == 0 and rows["single_jobs"] == "400" and rows["pair_jobs"] == "400"


def _bad(tmp_path, change):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    change(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_plan_rejects_a_schema_error_in_one_line(capsys, tmp_path):
    rc, out, err = _plan(capsys, _bad(tmp_path, lambda c: c.update(repetitions="zero")))
    assert rc == 2 and out == ""
    assert err.startswith("greenhp plan: configuration rejected: repetitions:") and "'zero'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_plan_rejects_a_semantic_error(capsys, tmp_path):
    rc, _, err = _plan(capsys, _bad(tmp_path, lambda c: c["pairs"].update(digits_cnn="no_such_subject")))
    assert rc == 2 and "configuration rejected" in err and "no_such_subject" in err


def test_plan_names_an_unreadable_file(capsys, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("a: [\n")
    rc, _, err = _plan(capsys, bad)
    assert rc == 2 and err.startswith(f"greenhp plan: cannot read {bad}:")
    rc, _, err = _plan(capsys, tmp_path / "missing.yaml")
    assert rc == 2 and "missing.yaml" in err
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    rc, _, err = _plan(capsys, tmp_path / "list.yaml")
    assert rc == 2 and "must be a mapping" in err
