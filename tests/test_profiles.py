"""Profiles do what docs/cluster.md says (issue 10, item 3): Snakemake applies profiles/default (the
workflow profile) also beside `--profile profiles/slurm`, and its keys win there, so it must not set a
key the SLURM profile sets otherwise; `--retries` from a profile or the command line reaches the
training rules unless the study config sets a number."""

import subprocess

import pytest
import yaml

from testutil import ROOT, snakemake_cmd, subprocess_env

DEFAULT = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
SLURM = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())


def test_default_profile_never_overrides_the_slurm_profile():
    clash = {k: (DEFAULT[k], SLURM[k]) for k in DEFAULT if k in SLURM and DEFAULT[k] != SLURM[k]}
    assert clash == {}
    assert "configfile" not in DEFAULT and "configfiles" not in DEFAULT


def test_slurm_profile_settings_hold_beside_the_default_profile(tmp_path, monkeypatch):
    """Snakemake's own argument parser, run from the repository root as a user types the command: the
    SLURM profile's latency-wait and retries hold. (The executor and slurm-* keys are left out: the
    plugin is not installed in the test environment.)"""
    from snakemake.cli import parse_args

    profile = tmp_path / "slurm"
    profile.mkdir()
    keep = {k: v for k, v in SLURM.items() if k != "executor" and not k.startswith("slurm-")}
    (profile / "config.yaml").write_text(yaml.safe_dump(keep))
    monkeypatch.chdir(ROOT)
    _, args = parse_args(["--profile", str(profile), "-n"])
    assert args.latency_wait == SLURM["latency-wait"] == 60
    assert args.retries == SLURM["retries"] == 1
    assert args.rerun_incomplete and args.keep_going
    _, args = parse_args(["--profile", str(profile), "-n", "--retries", "3"])
    assert args.retries == 3
    _, args = parse_args(["-n"])  # the default profile alone: Snakemake's own latency-wait
    assert args.latency_wait == 5 and args.keep_going


def rule_retries(tmp_path, config_extra: dict) -> dict[str, object]:
    """Each training rule's own retries as the parsed workflow sets them. None means Snakemake uses
    --retries of the profile or command line (snakemake.rules.Rule.restart_times)."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(repetitions=1)
    config["train"].update(config_extra)
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(config))
    probe = tmp_path / "Probe.smk"
    probe.write_text(
        f"include: {str(ROOT / 'Snakefile')!r}\n\n"
        "print('RETRIES', workflow.get_rule('train_single')._restart_times, workflow.get_rule('train_pair')._restart_times)\n"
    )
    out = subprocess.run(snakemake_cmd() + ["-n", "-s", str(probe), "--directory", str(ROOT), "--configfile", str(cfg)],
                         cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith("RETRIES"))
    single, pair = line.split()[1:]
    return {"train_single": single, "train_pair": pair}


@pytest.mark.slow
def test_retries_come_from_the_command_line_unless_the_config_sets_them(tmp_path):
    assert rule_retries(tmp_path, {}) == {"train_single": "None", "train_pair": "None"}
    assert rule_retries(tmp_path, {"retries": 2}) == {"train_single": "2", "train_pair": "2"}


def test_snakemake_falls_back_to_the_command_line_when_a_rule_says_none():
    """The Snakemake behaviour the test above relies on."""
    import inspect

    from snakemake.rules import Rule

    source = inspect.getsource(Rule.restart_times.fget)
    assert "if self._restart_times is None:" in source and "execution_settings.retries" in source
