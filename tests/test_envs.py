"""The conda environments (envs/*.yaml, for --sdm conda) are self-contained and pin what
requirements.txt pins. Conda cannot be installed on the machines these tests run on, so the files are
checked, not built (README, "Conda environments")."""

import re
import subprocess

import pytest
import yaml

from testutil import ROOT

ENVS = sorted((ROOT / "envs").glob("*.yaml"))
NOT_IN_JOBS = {"snakemake", "pytest"}  # Snakemake runs the jobs; pytest runs the tests
CORE = {"numpy", "pandas", "scipy", "matplotlib", "pyyaml", "jsonschema", "nvidia-ml-py",
        "threadpoolctl"}  # pyproject's dependencies
REQ = re.compile(r"^([A-Za-z0-9_.-]+)\s*(.*)$")


def requirements() -> dict[str, str]:
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, spec = REQ.match(line).groups()
            out[name.lower()] = spec.replace(" ", "")
    return out


def pip_entries(env: dict) -> list[str]:
    entries = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            entries.extend(dep.get("pip", []))
    return entries


def test_there_are_the_two_environments():
    assert [p.name for p in ENVS] == ["analysis.yaml", "train.yaml"]


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_environment_is_self_contained(path):
    env = yaml.safe_load(path.read_text())
    assert set(env) == {"channels", "dependencies"}
    for entry in pip_entries(env) + [d for d in env["dependencies"] if isinstance(d, str)]:
        assert not entry.startswith("-"), f"{path.name}: {entry!r} is a pip option (-r/-e need a path)"
        assert ".." not in entry and "/" not in entry and "file:" not in entry, f"{path.name}: {entry!r} names a path"
    assert "python=3.11" in env["dependencies"]


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_environment_pins_what_requirements_pin(path):
    req = requirements()
    env = yaml.safe_load(path.read_text())
    pinned = {}
    for entry in pip_entries(env):
        name, spec = REQ.match(entry).groups()
        pinned[name.lower()] = spec.replace(" ", "")
    for name, spec in pinned.items():
        assert name in req, f"{path.name}: {name} is not in requirements.txt"
        assert spec == req[name], f"{path.name}: {name}{spec} but requirements.txt says {name}{req[name]}"
    if path.name == "train.yaml":
        assert set(pinned) == set(req) - NOT_IN_JOBS
    else:
        assert set(pinned) == CORE


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_post_deploy_installs_greenhp_from_the_checkout(path):
    script = path.with_name(path.stem + ".post-deploy.sh")
    text = script.read_text()
    assert "GREENHP_SOURCE" in text and "--no-deps" in text
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    assert "os.environ.update(GREENHP_SOURCE=workflow.basedir)" in (ROOT / "Snakefile").read_text()
