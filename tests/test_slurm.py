"""A tiny study on a real one-node SLURM cluster, through `--profile profiles/slurm` and the official
executor plugin, compared with the same study run locally.

Needs root (it starts munged, slurmctld and slurmd; tests/slurm/cluster.sh) and SLURM's Debian packages
(installed with apt-get when missing); skipped with the reason otherwise. No accounting daemon: the
plugin checks job states with squeue. The plugin is loaded from .cache/slurm-plugin (installed there
with pip when the venv lacks it), so the other tests never load it (with `scontrol` on the PATH and no
controller, loading it costs every snakemake start ~10 s).
"""

import csv
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from testutil import ROOT, snakemake_cmd, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

CLUSTER = ROOT / "tests/slurm/cluster.sh"
PLUGIN_DIR = ROOT / ".cache/slurm-plugin"
PLUGINS = ["snakemake-executor-plugin-slurm==2.8.0", "snakemake-executor-plugin-slurm-jobstep==0.6.1"]

CONFIG = {
    "study": "slurm-tiny",
    "seed": 7,
    "device": "auto",
    "repetitions": 1,
    "mutants_per_hyperparameter": 1,
    "subjects": {"digits_mlp": {"hyperparameters": ["lr"], "defaults": {"epochs": 2}}},
    "pairs": {"digits_mlp": "digits_mlp"},
    "train": {"max_steps": 3, "torch_threads": 1},
    "analysis": {"n_boot": 100},
}


def plugin_path() -> str:
    """A PYTHONPATH entry that provides the SLURM executor plugin ("" when the venv has it)."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm"):
        return ""
    if not (PLUGIN_DIR / "snakemake_executor_plugin_slurm").is_dir():
        out = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(PLUGIN_DIR)] + PLUGINS,
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            pytest.skip(f"cannot install the SLURM executor plugin with pip: {out.stderr.strip()[-300:]}")
    return str(PLUGIN_DIR)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the SLURM cluster test needs root (it starts munged, slurmctld and slurmd)")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        pytest.skip("SLURM is not installed and apt-get is unavailable to install it")
    state = tmp_path_factory.mktemp("slurm")
    try:
        out = subprocess.run(["sh", str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=300)
        if out.returncode == 3:
            pytest.skip(f"cannot start a test cluster here: {out.stderr.strip()}")
        assert out.returncode == 0, out.stdout + out.stderr
        yield state
    finally:
        subprocess.run(["sh", str(CLUSTER), "stop", str(state)], capture_output=True, timeout=120)


def run_study(work, extra: list[str], pythonpath: str = "", timeout: int = 400) -> subprocess.CompletedProcess:
    work.mkdir(exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    env = subprocess_env()
    if pythonpath:
        env["PYTHONPATH"] = env["PYTHONPATH"] + os.pathsep + pythonpath
    cmd = ["timeout", "-k", "10", str(timeout)] + snakemake_cmd() + [
        "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work), "--configfile", str(work / "config.yaml")] + extra
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout + 30)


def runs(work) -> list[dict]:
    return list(csv.DictReader((work / "results/runs.tsv").open(), delimiter="\t"))


def test_tiny_study_on_slurm_matches_local_run(cluster, tmp_path):
    plugin = plugin_path()
    slurm = run_study(tmp_path / "slurm", ["--profile", str(ROOT / "profiles/slurm"),
                                           "--slurm-status-command", "squeue", "--slurm-no-account"], plugin)
    log = slurm.stdout + slurm.stderr
    assert slurm.returncode == 0, log[-5000:]
    # Only the training jobs went to SLURM, each asking for a GPU; the table/analysis rules stayed local.
    submitted = [line for line in log.splitlines() if "has been submitted with SLURM jobid" in line]
    assert len(submitted) == 4 and all("rule_train_" in line for line in submitted), log[-5000:]
    assert "localrule aggregate" in log and "localrule stats" in log
    jobs = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True).stdout.splitlines()
    assert len(jobs) == 4 and all("TresPerJob=gres:gpu:1" in job for job in jobs), jobs  # MinJobAge keeps them

    local = run_study(tmp_path / "local", ["--cores", "2"])
    assert local.returncode == 0, (local.stdout + local.stderr)[-5000:]

    got, want = runs(tmp_path / "slurm"), runs(tmp_path / "local")
    assert list(got[0]) == list(want[0])
    key = lambda r: (r["mode"], r["mutant_id"], r["partner"], r["repetition"])  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, want))
    assert len(got) == 4  # 2 configurations x (single + pair beside the original) x 1 repetition
    assert {r["status"] for r in got} == {"ok"}
    for name in ("results/mutants.tsv", "results/stats/correlations.tsv", "results/recommendations.tsv",
                 "results/plots/tradeoff.png", "results/summary.rst"):
        assert (tmp_path / "slurm" / name).exists(), name
    assert (tmp_path / "slurm/results/mutants.tsv").read_text() == (tmp_path / "local/results/mutants.tsv").read_text()
