"""Run identity (issue 10, item 2): a finished training run is rerun only when something that changes
its training or its measurement changed. The study is trained once (4 tiny runs), then each setting is
changed alone and `snakemake -n` must list exactly the training jobs that setting affects."""

import copy
import re
import subprocess

import pytest
import yaml

from testutil import ROOT, snakemake_cmd, subprocess_env

pytestmark = pytest.mark.slow

STUDY = {
    "study": "identity",
    "seed": 11,
    "device": "cpu",
    "repetitions": 1,
    "mutants_per_hyperparameter": 1,
    "subjects": {"digits_mlp": {"hyperparameters": ["lr"], "defaults": {"epochs": 1}}},
    "pairs": {"digits_mlp": "digits_mlp"},
    "train": {"max_steps": 2, "torch_threads": 1, "timeout_s": 600},
    "carbon": {"intensity_g_per_kwh": 400.0, "price_per_kwh": 0.3},
    "analysis": {"alpha": 0.05, "n_boot": 1000},
}
TARGET = "results/runs.tsv"  # training and aggregation; statistics and plots are not needed here


def snakemake(work, config: dict, *extra: str) -> subprocess.CompletedProcess:
    path = work / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(path), *extra, TARGET]
    return subprocess.run(cmd, cwd=work, env=subprocess_env(), capture_output=True, text=True, timeout=600)


def planned_training(work, config: dict) -> list[str]:
    """The run records a dry run would (re)train, as paths under results/runs/."""
    out = snakemake(work, config, "-n")
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    return sorted(set(re.findall(r"output: (results/runs/\S+\.json)", out.stdout + out.stderr)))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = tmp_path_factory.mktemp("identity")
    out = snakemake(work, STUDY, "--cores", "2")
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:]
    records = sorted(str(p.relative_to(work)) for p in (work / "results/runs").rglob("*.json"))
    assert len(records) == 4, records  # original + 1 lr mutant, single and beside the original
    assert planned_training(work, STUDY) == []
    return work, records


def changed(path: str, value):
    config = copy.deepcopy(STUDY)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return config


@pytest.mark.parametrize("path, value", [
    ("carbon.intensity_g_per_kwh", 100.0),
    ("carbon.price_per_kwh", 0.05),
    ("analysis.alpha", 0.01),
    ("analysis.n_boot", 200),
    ("analysis.delta_threshold", 0.3),
    ("train.timeout_s", 1200),
    ("train.retries", 2),
    ("train.job_threads", 1),
    ("study", "renamed"),
])
def test_accounting_analysis_and_limits_never_retrain(finished, path, value):
    work, _ = finished
    assert planned_training(work, changed(path, value)) == []


def test_other_subjects_and_pairs_never_retrain(finished):
    work, records = finished
    config = copy.deepcopy(STUDY)
    config["subjects"]["digits_cnn"] = {"hyperparameters": ["lr"], "defaults": {"epochs": 1}}
    config["pairs"]["digits_cnn"] = "digits_mlp"
    planned = planned_training(work, config)
    assert planned and all("digits_cnn__" in p.split("/")[3] for p in planned), planned
    assert not set(planned) & set(records)
    # a subject removed: nothing of the others retrains (the study simply lists fewer runs)
    config = copy.deepcopy(STUDY)
    config["pairs"] = {}
    assert planned_training(work, config) == []


def test_more_repetitions_keep_the_finished_runs(finished):
    work, records = finished
    planned = planned_training(work, changed("repetitions", 2))
    assert len(planned) == 4 and all(p.endswith("rep2.json") for p in planned), planned


@pytest.mark.parametrize("path, value", [
    ("subjects.digits_mlp.defaults", {"epochs": 1, "lr": 0.02}),  # the original's hyperparameter value
    ("seed", 12),
    ("train.max_steps", 3),
    ("train.torch_threads", 2),
    ("energy", {"cpu_watts_per_core": 12.0}),
])
def test_what_changes_training_or_measurement_retrains(finished, path, value):
    work, records = finished
    planned = planned_training(work, changed(path, value))
    assert set(records) & set(planned), planned
    if path.startswith("subjects") or path == "seed":
        assert "results/runs/single/digits_mlp__original/rep1.json" in planned
    else:
        assert set(planned) == set(records)


def test_more_mutants_keep_the_finished_runs(finished):
    work, records = finished
    planned = planned_training(work, changed("mutants_per_hyperparameter", 2))
    assert len(planned) == 2 and not set(planned) & set(records), planned  # the new mutant, single and pair
