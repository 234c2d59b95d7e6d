"""One carbon path through the workflow (issue 22, item 4): a changed `carbon.intensity_g_per_kwh`
reruns every rule that shows CO2e (runs table, statistics, summary, footprint) and no training, and
the summary page and results/footprint.tsv then say the same CO2e; a finished study has nothing to do.
A tiny study: 4 runs of one subject, 1 epoch of 2 steps each."""

import csv
import json
import re
import subprocess

import pytest
import yaml

from greenhp.units import DEFAULT_INTENSITY_G_PER_KWH, DEFAULT_PRICE_PER_KWH
from testutil import ROOT, snakemake_cmd, subprocess_env

STUDY = {
    "study": "carbon",
    "seed": 5,
    "device": "cpu",
    "repetitions": 2,
    "mutants_per_hyperparameter": 1,
    "subjects": {"digits_mlp": {"hyperparameters": ["lr"], "defaults": {"epochs": 1}}},
    "pairs": {},
    "train": {"max_steps": 2, "torch_threads": 1},
    "carbon": {"intensity_g_per_kwh": 400.0, "price_per_kwh": 0.3},
    "analysis": {"n_boot": 100},
}


def snakemake(work, config: dict, *extra: str) -> subprocess.CompletedProcess:
    path = work / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = snakemake_cmd() + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(path), *extra]
    return subprocess.run(cmd, cwd=work, env=subprocess_env(), capture_output=True, text=True, timeout=900)


def planned_rules(work, config: dict) -> set[str]:
    out = snakemake(work, config, "-n")
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    return set(re.findall(r"^rule (\w+):", out.stdout + out.stderr, flags=re.M))


def footprint_total(work) -> dict:
    rows = {r["item"]: r for r in csv.DictReader((work / "results/footprint.tsv").open(), delimiter="\t")}
    return rows["total"]


@pytest.mark.slow
def test_a_changed_intensity_changes_summary_and_footprint_alike_without_retraining(tmp_path):
    work = tmp_path
    first = snakemake(work, STUDY, "--cores", "2")
    assert first.returncode == 0, (first.stdout + first.stderr)[-5000:]
    assert planned_rules(work, STUDY) == set()  # a finished study: nothing to do
    records = sorted((work / "results/runs").rglob("rep*.json"))
    assert len(records) == 4
    stamps = {p: p.stat().st_mtime_ns for p in records}
    total = footprint_total(work)
    kwh = float(total["kwh"])
    assert float(total["co2e_g"]) == pytest.approx(kwh * 400.0, rel=1e-5)
    assert f"{float(total['co2e_g']):.3g} g CO2e" in (work / "results/summary.rst").read_text()

    changed = json.loads(json.dumps(STUDY))
    changed["carbon"]["intensity_g_per_kwh"] = 55.0
    planned = planned_rules(work, changed)
    assert {"aggregate", "stats", "plots", "footprint"} <= planned, planned
    assert not {r for r in planned if r.startswith("train_")}, planned
    again = snakemake(work, changed, "--cores", "2")
    assert again.returncode == 0, (again.stdout + again.stderr)[-5000:]
    assert {p: p.stat().st_mtime_ns for p in records} == stamps  # no record was rewritten
    total = footprint_total(work)
    assert float(total["kwh"]) == pytest.approx(kwh, rel=1e-5)
    co2 = float(total["co2e_g"])
    assert co2 == pytest.approx(kwh * 55.0, rel=1e-5)
    summary = (work / "results/summary.rst").read_text()
    assert f"{co2:.3g} g CO2e at 55 g/kWh" in summary, summary[-1500:]
    assert "at 400 g/kWh" not in summary
    runs = list(csv.DictReader((work / "results/runs.tsv").open(), delimiter="\t"))
    assert sum(float(r["co2e_g"]) for r in runs) == pytest.approx(co2, rel=1e-4)
    for rec in records:  # the records keep their training-time intensity, as labelled
        assert json.loads(rec.read_text())["carbon"]["intensity_g_per_kwh"] == 400.0
    assert planned_rules(work, changed) == set()

    # an estimate written after the study (greenhp plan --estimate): the summary and the footprint
    # read it (declared inputs), so both are made again and compare against it (stats too: it makes
    # the checked runs table plots reads, a temp file); nothing trains
    rows = [{"scope": "study", "item": "training_single", "seconds": 1.0, "seconds_low": 0.5, "seconds_high": 1.5,
             "energy_j": 1.0, "energy_j_low": 0.5, "energy_j_high": 1.5}]
    cols = ["scope", "item", "seconds", "seconds_low", "seconds_high", "energy_j", "energy_j_low", "energy_j_high"]
    (work / "results/estimate.tsv").write_text(
        "\t".join(cols) + "\n" + "".join("\t".join(str(r[c]) for c in cols) + "\n" for r in rows))
    assert planned_rules(work, changed) == {"stats", "plots", "footprint", "all"}
    third = snakemake(work, changed, "--cores", "2")
    assert third.returncode == 0, (third.stdout + third.stderr)[-5000:]
    single = {r["item"]: r for r in csv.DictReader((work / "results/footprint.tsv").open(), delimiter="\t")}
    single = single["training_single"]
    assert (f"single runs: time {float(single['seconds_vs_estimate']):.2f} x (outside its range)"
            in (work / "results/summary.rst").read_text())
    assert planned_rules(work, changed) == set()


def test_library_defaults_are_the_config_schema_defaults():
    for name in ("config.schema.yaml", "../../../workflow/schemas/reanalysis.schema.yaml"):
        schema = yaml.safe_load((ROOT / "src/greenhp/schemas" / name).read_text())
        carbon = schema["properties"]["carbon"]["properties"]
        assert carbon["intensity_g_per_kwh"]["default"] == DEFAULT_INTENSITY_G_PER_KWH
        assert carbon["price_per_kwh"]["default"] == DEFAULT_PRICE_PER_KWH


def _dry(tmp_path, config: dict, *extra: str) -> str:
    out = snakemake(tmp_path, config, "-n", *extra)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    return out.stdout + out.stderr


def test_plots_declares_the_records_it_reads(tmp_path):
    """The summary's footprint paragraph reads the run records: rule plots depends on the training
    jobs directly (an edge train_single -> plots in the rule graph), not only through runs.tsv."""
    graph = _dry(tmp_path, STUDY, "--rulegraph")
    nodes = dict(re.findall(r"(\d+)\[label = \"(\w+)\"", graph))
    edges = {(nodes[a], nodes[b]) for a, b in re.findall(r"(\d+) -> (\d+)", graph)}
    assert ("train_single", "plots") in edges, edges


def test_power_timelines_are_outputs_of_training_and_inputs_of_plots(tmp_path):
    config = json.loads(json.dumps(STUDY))
    config.update(device="cuda", energy={"timeline": True})  # parsed only: nothing trains in a dry run
    text = _dry(tmp_path, config)
    outputs = re.findall(r"output: (results/runs/single/\S+\.json), (\S+)", text)
    assert len(outputs) == 4 and all(t == j[:-5] + ".timeline.tsv" for j, t in outputs), outputs
    config["energy"]["timeline"] = False
    assert ".timeline.tsv" not in _dry(tmp_path, config)


def test_a_training_job_that_asks_for_a_timeline_always_leaves_one(tmp_path):
    """The timeline is a declared output of the training job: with no GPU sampled, a bare header."""
    from greenhp.energy.sampler import TIMELINE_COLUMNS
    from greenhp.runner import ensure_timeline

    path = tmp_path / "rep1.timeline.tsv"
    ensure_timeline(path)
    assert path.read_text() == "\t".join(TIMELINE_COLUMNS) + "\n"
    path.write_text("t_s\tpower_w\n0.0\t250.0\n")
    ensure_timeline(path)  # a sampled timeline is kept as it is
    assert path.read_text().endswith("250.0\n")
