"""`greenhp plan` checks a study config as the Snakefile does and prints its job counts; a bad
config gives one line naming the field and exit code 2, never a traceback."""

import re
import shutil
import subprocess

import pytest
import yaml

from testutil import ROOT, snakemake_cmd, subprocess_env
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
    # the reference's four pair combinations (issue 22): mnist_cnn and siamese (16 configurations each)
    # beside two partners each, 5 repetitions
    assert rc == 0 and rows["single_jobs"] == "400" and rows["pair_jobs"] == str(2 * 16 * 2 * 5) == "320"


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


def test_plan_names_a_band_with_the_wrong_number_of_ends(capsys, tmp_path):
    rc, _, err = _plan(capsys, _bad(tmp_path, lambda c: c.update(lean={"enabled": True, "p_band": [0.1]})))
    assert rc == 2
    assert err.strip() == ("greenhp plan: configuration rejected: lean.p_band: [0.1] is not allowed; "
                           "allowed: array of 2 items, each number >= 0 and <= 1")


def test_plan_rejects_a_semantic_error(capsys, tmp_path):
    rc, _, err = _plan(capsys, _bad(tmp_path, lambda c: c["pairs"].update(digits_cnn="no_such_subject")))
    assert rc == 2 and "configuration rejected" in err and "no_such_subject" in err


def test_plan_names_an_unreadable_file(capsys, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("a: [\n")
    rc, _, err = _plan(capsys, bad)
    assert rc == 2 and err.startswith(f"greenhp plan: cannot read config file {bad}, line 2: not valid YAML")
    rc, _, err = _plan(capsys, tmp_path / "missing.yaml")
    assert rc == 2 and "missing.yaml" in err
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    rc, _, err = _plan(capsys, tmp_path / "list.yaml")
    assert rc == 2 and "must be a mapping" in err


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A fresh copy of the workflow's files, to run Snakemake from its root exactly as a user types it
    (no --directory, no --snakefile), without touching this checkout's results/."""
    root = tmp_path_factory.mktemp("clone")
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(ROOT / name, root / name)
    for name in ("workflow", "profiles", "studies", "scripts", "envs"):
        shutil.copytree(ROOT / name, root / name, symlinks=True)
    # the schema links point into src/; resolve them in the copy
    for link in (root / "workflow/schemas").iterdir():
        if link.is_symlink():
            target = (ROOT / "workflow/schemas" / link.name).resolve()
            link.unlink()
            shutil.copy(target, link)
    return root


def workflow_counts(cwd, *args: str) -> tuple[dict[str, int], str]:
    out = subprocess.run(snakemake_cmd() + ["-n", *args], cwd=cwd, env=subprocess_env(),
                         capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.M)}
    return counts, text


def plan_counts(capsys, monkeypatch, cwd, *args: str) -> dict[str, int]:
    monkeypatch.chdir(cwd)
    rc = main(["plan", *args])
    out, err = capsys.readouterr()
    assert rc == 0, err
    counts = out.strip().split("\n\n")[0]  # the mutant table follows a blank line
    return {k: int(v) for k, v in (line.split("\t") for line in counts.splitlines())}


@pytest.mark.slow
def test_a_study_is_its_config_file_and_plan_agrees(clone, capsys, monkeypatch):
    """issue 10: `snakemake -n --configfile studies/paper.yaml` from the root lists the paper's 400 + 320
    training jobs and nothing of config.yaml's digits study; `greenhp plan` prints the same counts."""
    counts, text = workflow_counts(clone, "--configfile", "studies/paper.yaml")
    assert counts["train_single"] == 400 and counts["train_pair"] == 320
    assert "digits_" not in text and "resnet20__original" in text
    plan = plan_counts(capsys, monkeypatch, clone, "--configfile", "studies/paper.yaml")
    assert (plan["single_jobs"], plan["pair_jobs"]) == (counts["train_single"], counts["train_pair"])


@pytest.mark.slow
def test_without_a_config_file_the_study_is_config_yaml(clone, capsys, monkeypatch):
    counts, text = workflow_counts(clone)
    plan = plan_counts(capsys, monkeypatch, clone)
    assert (plan["single_jobs"], plan["pair_jobs"]) == (counts["train_single"], counts["train_pair"]) == (30, 15)
    assert "mnist" not in text


@pytest.mark.slow
def test_several_config_files_merge_alike_in_plan_and_workflow(clone, capsys, monkeypatch):
    (clone / "fewer.yaml").write_text("repetitions: 2\npairs: {mnist_cnn: [mnist_ff]}\n")
    args = ("--configfile", "studies/paper.yaml", "fewer.yaml")
    counts, _ = workflow_counts(clone, *args)
    plan = plan_counts(capsys, monkeypatch, clone, *args)
    assert (plan["single_jobs"], plan["pair_jobs"]) == (counts["train_single"], counts["train_pair"])
    # pairs merge key by key: mnist_cnn beside mnist_ff only, siamese still beside its two partners
    assert counts["train_single"] == 160 and counts["train_pair"] == 16 * 1 * 2 + 16 * 2 * 2


def test_plan_rejects_a_duplicated_partner_as_the_workflow_does(capsys, tmp_path):
    rc, _, err = _plan(capsys, _bad(tmp_path, lambda c: c.update(pairs={"digits_cnn": ["digits_mlp", "digits_mlp"]})))
    assert rc == 2 and "pairs.digits_cnn: partner 'digits_mlp' is listed twice" in err


def test_plan_rejects_a_key_written_twice(capsys, tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text((ROOT / "config.yaml").read_text() + "\nseed: 3\n")
    rc, _, err = _plan(capsys, path)
    assert rc == 2 and re.search(r"line \d+: key 'seed' appears twice in one mapping \(first at line \d+\)", err), err


def test_plan_names_a_binary_config_file(capsys, tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    rc, _, err = _plan(capsys, path)
    assert rc == 2 and err.strip() == f"greenhp plan: cannot read config file {path}: is a binary file (it holds NUL bytes), not text"
