"""A study with a subject that never marks beside one that does (issue 22, item 6): nothing of the
silent subject vanishes; it is analysed on the whole-process window, named per row and in the
summary, while the other is analysed on the training window. Real training through Snakemake."""

import subprocess

import pandas as pd
import pytest
import yaml

from testutil import ROOT, snakemake_cmd, subprocess_env

pytestmark = pytest.mark.slow

CONFIG = {
    "study": "silent",
    "seed": 3,
    "device": "cpu",
    "repetitions": 2,
    "mutants_per_hyperparameter": 1,
    "subjects": {
        "silent": {"module": str(ROOT / "tests/silent_subject.py") + ":SILENT",
                   "hyperparameters": {"epochs": {"operator": "values", "values": [6]}}},
        "digits_mlp": {"hyperparameters": {"epochs": {"operator": "values", "values": [1]}},
                       "defaults": {"epochs": 2}},
    },
    "pairs": {},
    "train": {"max_steps": 3, "torch_threads": 1},
    "analysis": {"n_boot": 100},
}


def test_a_silent_subject_is_analysed_on_the_whole_window_and_named(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                             "--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    out = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    runs = pd.read_csv(tmp_path / "results/runs.tsv", sep="\t")
    silent = runs[runs["subject"] == "silent"]
    assert len(silent) == 4 and (silent["status"] == "ok").all()
    assert silent["train_total_energy_j"].isna().all() and silent["total_energy_j"].notna().all()
    assert runs.loc[runs["subject"] == "digits_mlp", "train_total_energy_j"].notna().all()
    for name in ("comparisons", "variability", "pareto"):
        t = pd.read_csv(tmp_path / f"results/stats/{name}.tsv", sep="\t")
        col = "metric" if "metric" in t else "energy_metric"
        got = set(zip(t["subject"], t["window"], t[col]))
        assert ("silent", "whole", "total_energy_j") in got, name
        assert ("digits_mlp", "training", "train_total_energy_j") in got, name
        assert not {r for r in got if r[0] == "silent" and r[2].startswith("train_")}, name
    summary = (tmp_path / "results/summary.rst").read_text().replace("\\", "")
    assert "subject(s) silent (its runs sent no training-window marks" in summary
    section = summary.split("Subjects analysed", 1)[1]
    assert "**silent**: 4 run(s), 4 ok; analysed on the **whole-process** window: its runs sent no training-window marks" in section
    assert "**digits_mlp**: 4 run(s), 4 ok; analysed on the training window" in section
