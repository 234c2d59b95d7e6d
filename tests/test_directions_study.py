"""A whole tiny study of user subjects whose metrics greenhp's name list does not know or would
get wrong (issue 22, item 1): ``val_ppl`` declared minimize, ``psnr`` declared maximize and a
``loss`` declared maximize, through Snakemake to the summary and the report. Every table, figure
and summary line follows the declared direction; the early stop finds a stop epoch with the
default tolerance where a perplexity curve flattens."""

import csv
import subprocess

import pytest
import yaml

from testutil import ROOT, snakemake_cmd, subprocess_env

pytestmark = pytest.mark.slow

MODULE = str(ROOT / "tests/direction_subjects.py")
CONFIG = {
    "study": "directions",
    "seed": 1,
    "device": "cpu",
    "repetitions": 2,
    "mutants_per_hyperparameter": 1,
    "subjects": {
        name: {"module": f"{MODULE}:{attr}", "hyperparameters": {"epochs": {"operator": "values", "values": [3]}}}
        for name, attr in (("ppl", "PPL"), ("psnr", "PSNR"), ("score", "SCORE"))
    },
    "pairs": {},
    "train": {"torch_threads": 1},
    "analysis": {"n_boot": 100},
}
DIRECTION = {"ppl": "minimize", "psnr": "maximize", "score": "maximize"}


def _tsv(path):
    return list(csv.DictReader(path.open(), delimiter="\t"))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    work = tmp_path_factory.mktemp("directions")
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    base = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                              "--configfile", str(work / "config.yaml")]
    out = subprocess.run(base + ["--cores", "2"], env=subprocess_env(), capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    report = subprocess.run(base + ["--report", str(work / "report.html")], env=subprocess_env(),
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    return work


def test_every_table_carries_the_declared_direction(study):
    for name in ("runs.tsv", "stats/pareto.tsv", "stats/early_stop.tsv"):
        rows = _tsv(study / "results" / name)
        assert {(r["subject"], r["metric_direction"]) for r in rows} == set(DIRECTION.items()), name
    comp = [r for r in _tsv(study / "results/stats/comparisons.tsv") if r["metric"] == "metric_value"]
    assert {(r["subject"], r["metric_direction"]) for r in comp} == set(DIRECTION.items())
    pareto = {r["mutant_id"]: r for r in _tsv(study / "results/stats/pareto.tsv")}
    # the longer run of psnr (higher) and of ppl (lower) is the better metric: on the front
    assert pareto["psnr__original"]["pareto_optimal"] == "True" and pareto["ppl__original"]["pareto_optimal"] == "True"


def test_early_stop_follows_the_declared_direction(study):
    es = {r["mutant_id"]: r for r in _tsv(study / "results/stats/early_stop.tsv")}
    ppl, psnr, score = es["ppl__original"], es["psnr__original"], es["score__original"]
    # val_ppl 13, 4.45, 2.55, 2.12, 2.03: within 5 % of its span (0.55) of the final value at epoch 3
    assert (ppl["metric_name"], ppl["epochs"], ppl["stop_epoch"]) == ("val_ppl", "5", "3")
    assert float(ppl["saving_j"]) > 0 and float(ppl["metric_at_stop"]) <= float(ppl["final_metric"]) + float(ppl["tolerance_abs"])
    assert (psnr["epochs"], psnr["stop_epoch"]) == ("5", "3")
    # a loss declared maximize, rising: not "reached" at epoch 1, as minimising it would say
    assert score["metric_name"] == "test_loss" and int(score["stop_epoch"]) > 1
    assert float(score["metric_at_stop"]) >= float(score["final_metric"]) - float(score["tolerance_abs"])
    assert all(r["note"] == "" for r in es.values())


def test_summary_figures_and_report_say_which_way_is_better(study):
    text = (study / "results/summary.rst").read_text().replace("\\", "")
    assert "ppl (single), ppl__original: epoch 3 of 5 (val_ppl" in text and "lower is better" in text
    assert "score (single), score__original" in text
    heat = (study / "results/plots/correlation_heatmap.svg").read_text()
    for label in ("val_ppl (lower is better)", "psnr (higher is better)", "loss (higher is better)"):
        assert label in heat
    trade = (study / "results/plots/tradeoff.svg").read_text()
    assert trade.count(">original<") >= 3 and "epochs=3" in trade
    curves = (study / "results/plots/epoch_curves.svg").read_text()
    assert "test_loss (higher is better)" in curves
    assert (study / "logs/epochs_stats.log").exists() and (study / "report.html").stat().st_size > 10000
