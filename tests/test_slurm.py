"""A tiny study on a real one-node SLURM cluster, through `--profile profiles/slurm` and the official
executor plugin, compared with the same study run locally.

Needs root (it starts munged, slurmctld and slurmd; tests/slurm/cluster.sh) and SLURM's Debian packages
(installed with apt-get when missing); skipped with the reason otherwise. No accounting daemon: the
plugin checks job states with squeue. The plugin is loaded from .cache/slurm-plugin (installed there
with pip when the venv lacks it), so the other tests never load it (with `scontrol` on the PATH and no
controller, loading it costs every snakemake start ~10 s).
"""

import copy
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from test_lean_derive_workflow import CONFIG as DERIVE_BASE, FIRST_WAVE as DERIVE_FIRST_WAVE, FULL as DERIVE_FULL
from test_lean_workflow import records_in, tsv
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


def run_study(work, extra: list[str], pythonpath: str = "", timeout: int = 400,
              config: dict = CONFIG) -> subprocess.CompletedProcess:
    work.mkdir(exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
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


# A lean study (docs/lean.md) of the test subject with known p-values (tests/lean_subject.py): the
# original at 3 repetitions, two mutants at a first wave of 2; only lean__lr__x0.5 (p 0.20) is open.
LEAN_CONFIG = {
    "study": "slurm-lean",
    "seed": 1000,  # lean_subject.SEED
    "device": "auto",
    "repetitions": 3,
    "mutants_per_hyperparameter": 2,
    "subjects": {"lean": {"module": f"{ROOT / 'tests/lean_subject.py'}:LEAN",
                          "hyperparameters": {"lr": {"operator": "values", "values": [0.05, 0.4]}}}},
    "pairs": {},
    "train": {"torch_threads": 1},
    "energy": {"gpu_meter": "none", "cpu_meter": "none"},
    "analysis": {"n_boot": 100, "test": "welch"},
    "lean": {"enabled": True, "first_wave": 2, "p_band": [0.02, 0.3]},
}


def lean_on_slurm(work, config: dict) -> tuple[str, int, int, list[str]]:
    """A lean study run through the SLURM profile: (Snakemake's output, training jobs submitted before
    the local checkpoint lean_decide, those submitted after it, the `scontrol` lines of the jobs this
    run made). Every submission must be a training job."""
    plugin = plugin_path()
    before = set(subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True, text=True).stdout.split())
    out = run_study(work, ["--profile", str(ROOT / "profiles/slurm"), "--slurm-status-command", "squeue",
                           "--slurm-no-account"], plugin, config=config)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-5000:]
    lines = log.splitlines()
    decided = next(i for i, line in enumerate(lines) if line.startswith("localcheckpoint lean_decide:"))
    submitted = [i for i, line in enumerate(lines) if "has been submitted with SLURM jobid" in line]
    assert all("rule_train_single" in lines[i] for i in submitted), log[-5000:]
    jobs = [j for j in subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True).stdout.splitlines()
            if j.split()[0].split("=")[1] not in before]
    return log, len([i for i in submitted if i < decided]), len([i for i in submitted if i > decided]), jobs


def test_lean_study_on_slurm_submits_the_extension_after_the_checkpoint(cluster, tmp_path):
    work = tmp_path / "lean"
    log, first, later, jobs = lean_on_slurm(work, LEAN_CONFIG)
    assert "greenhp: lean design: first wave of 2 of 3 repetitions (7 training jobs" in log
    # The first wave went to SLURM, the checkpoint ran here, then the extension was submitted to SLURM.
    assert first == 7 and later == 1, log[-5000:]
    decisions = list(csv.DictReader((work / "results/lean/decisions.tsv").open(), delimiter="\t"))
    assert {r["mutant_id"]: r["extend"] for r in decisions} == {"lean__lr__x0.5": "true", "lean__lr__x4": "false"}
    assert sorted(str(p.relative_to(work / "results/runs/single")) for p in (work / "results/runs/single").rglob("*.json")) == [
        "lean__lr__x0.5/rep1.json", "lean__lr__x0.5/rep2.json", "lean__lr__x0.5/rep3.json",
        "lean__lr__x4/rep1.json", "lean__lr__x4/rep2.json",
        "lean__original/rep1.json", "lean__original/rep2.json", "lean__original/rep3.json"]
    assert len(runs(work)) == 8 and {r["status"] for r in runs(work)} == {"ok"}
    assert len(jobs) == 8 and all("TresPerJob=gres:gpu:1" in job for job in jobs), jobs


# A lean study with derived epochs rows (docs/lean.md, "Epochs mutants from prefixes"): the config of
# tests/test_lean_derive_workflow.py (subjects of tests/derive_subject.py, 2 repetitions, all in the
# first wave: the check needs two measured repetitions for its spread). stable__epochs__2 is read
# from stable__epochs__4's records on the submit host; total's check fails, so total__epochs__2 is
# trained by jobs submitted after the checkpoint.
DERIVE_CONFIG = dict(copy.deepcopy(DERIVE_BASE), study="slurm-derive")


def test_lean_derived_rows_on_slurm_train_a_failed_family_after_the_checkpoint(cluster, tmp_path):
    work = tmp_path / "derive"
    log, first, later, jobs = lean_on_slurm(work, DERIVE_CONFIG)
    assert "greenhp: lean design: every repetition at once (12 training jobs); 2 configurations derived" in log
    # The first wave (sources and check configurations, not stable/total__epochs__2) went to SLURM, the
    # checkpoint ran here, then total's failed family was submitted to SLURM.
    assert first == len(DERIVE_FIRST_WAVE), log[-5000:]
    assert later == len(DERIVE_FULL), log[-5000:]
    assert records_in(work) == DERIVE_FIRST_WAVE | DERIVE_FULL  # stable__epochs__2 never trained
    assert "localrule aggregate" in log

    check = tsv(work / "results/lean/derive_check.tsv")
    assert {(r["family"], r["ok"]) for r in check} == {("stable__original", "true"), ("total__original", "false")}, check
    rows = {r["run_id"]: r for r in runs(work)}
    assert len(rows) == len(DERIVE_FIRST_WAVE | DERIVE_FULL) + 2 and {r["status"] for r in rows.values()} == {"ok"}
    for k in (1, 2):
        row = rows[f"single__stable__epochs__2__rep{k}"]
        assert (row["derived"], row["derived_from"]) == ("true", f"single__stable__epochs__4__rep{k}")
        source = json.loads((work / f"results/runs/single/stable__epochs__4/rep{k}.json").read_text())
        mark = next(e for e in source["energy"]["phases"]["main"]["epochs"] if e["epoch"] == 2)
        assert float(row["train_total_energy_j"]) == pytest.approx(mark["total_j"], rel=1e-12)
    total = {rid: r for rid, r in rows.items() if rid.startswith("single__total__")}
    assert sorted(total) == sorted(f"single__total__{m}__rep{k}" for m in ("original", "epochs__1", "epochs__2", "epochs__4")
                                   for k in (1, 2))
    assert {(r["derived"], r["derived_from"]) for r in total.values()} == {("false", "")}
    assert len(jobs) == len(DERIVE_FIRST_WAVE | DERIVE_FULL) and all("TresPerJob=gres:gpu:1" in job for job in jobs), jobs
