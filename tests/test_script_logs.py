"""A failing analysis script writes its traceback into its rule's log file (issue 22: "logs/
epochs_stats.log is empty: the traceback went elsewhere"), and says in one line where it is."""
import subprocess
import sys

import pytest

from testutil import ROOT, subprocess_env

RUNNER = """
import runpy, sys
from types import SimpleNamespace as NS
script, log, runs, epochs = sys.argv[1:5]
sm = NS(log=[log], input=NS(runs=runs, epochs=epochs, runs_checked=runs), threads=1,
        params=NS(tolerance=0.05, metric_directions={}, alpha=0.05, delta_threshold=0.147, n_boot=100,
                  seed=0, carbon_g_per_kwh=400.0, price_per_kwh=0.3, window="whole"),
        output={})
runpy.run_path(script, init_globals={"snakemake": sm}, run_name="__main__")
"""


@pytest.mark.parametrize("script", ["epochs_stats", "stats", "plots"])
def test_a_failing_script_logs_its_traceback(tmp_path, script):
    runs = tmp_path / "runs.tsv"  # a metric whose direction nobody declared: rejected with a ValueError
    runs.write_text("run_id\tsubject\tmutant_id\thyperparameter\tstatus\ttotal_energy_j\tmetric_value\t"
                    "metric_name\nr1\ts\ts__original\tnone\tok\t10\t5\tval_ppl\n")
    if script == "plots":
        runs = tmp_path / "missing.pkl"  # the checked table is not there: a FileNotFoundError
    epochs = tmp_path / "epochs.tsv"
    epochs.write_text("run_id\tmode\tsubject\tmutant_id\tpartner\trepetition\tstatus\tprocess\tepoch\n")
    log = tmp_path / "logs" / f"{script}.log"
    log.parent.mkdir()
    out = subprocess.run([sys.executable, "-c", RUNNER, str(ROOT / "scripts" / f"{script}.py"), str(log),
                          str(runs), str(epochs)], env=subprocess_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1
    text = log.read_text()
    assert f"rule {script} failed" in text and "Traceback (most recent call last)" in text
    assert ("val_ppl" in text) if script != "plots" else ("missing.pkl" in text)
    assert f"greenhp: rule {script} failed:" in out.stderr and str(log) in out.stderr
