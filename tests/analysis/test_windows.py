"""No subject's results vanish (issue 22, item 6): a subject whose runs lack the training window is
analysed on the whole-process window, named on every statistics row and in the summary, beside a
subject analysed on the training window; ``training_strict`` stops with one line instead; one
default window everywhere."""
import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from greenhp.analysis import TABLE_NAMES, analyse, plots
from greenhp.analysis.windows import DEFAULT_WINDOW, MIXED, WindowError, window_plan
from greenhp.analysis.summary import write_summary

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("analysis_conftest_w", Path(__file__).with_name("conftest.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
make_runs = _mod.make_runs

MARKED, SILENT = "digits_cnn", "digits_x"
#: the metric column of each table (the stats tables' energy column)
METRIC_COLUMN = {"correlations": "metric", "comparisons": "metric", "win_tie_loss": "energy_metric",
                 "sensitivity": "energy_metric", "sensitivity_tests": "energy_metric",
                 "variability": "metric", "recommendations": "energy_metric", "pareto": "energy_metric"}


def _two_subjects(failed_subject: bool = False) -> pd.DataFrame:
    """MARKED has training-window energies (half its whole-run ones), SILENT none (a subject that
    closed the marks descriptor); optionally a third subject whose every run diverged."""
    subjects = (MARKED, SILENT) + (("broken",) if failed_subject else ())
    runs = make_runs(subjects=subjects, modes=("single", "pair"), reps=3,
                     mutants={"epochs": [5.0, 15.0], "lr": [0.1]})
    marked = (runs["subject"] == MARKED).to_numpy()
    for whole in ("total_energy_j", "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "duration_s"):
        runs["train_" + whole] = np.where(marked, 0.5 * runs[whole], np.nan)
    runs["train_total_net_energy_j"] = np.nan
    if failed_subject:
        broken = runs["subject"] == "broken"
        runs.loc[broken, "status"] = "diverged"
        runs.loc[broken, ["total_energy_j", "metric_value", "accuracy"]] = np.nan
    return runs


@pytest.fixture(scope="module")
def mixed():
    runs = _two_subjects()
    return runs, analyse(runs, n_boot=50)


def test_both_subjects_in_every_table_each_on_its_window_named_per_row(mixed):
    runs, t = mixed
    for name in TABLE_NAMES:
        df = t[name]
        assert "window" in df.columns, name
        assert list(df.columns).index("window") == list(df.columns).index(METRIC_COLUMN[name]) - 1, name
        per_subject = df.dropna(subset=["subject"]).groupby("subject")["window"].unique()
        assert {MARKED, SILENT} <= set(per_subject.index), name  # nobody vanishes
        assert list(per_subject[MARKED]) == ["training"] and list(per_subject[SILENT]) == ["whole"], name
    comp = t["comparisons"]
    energy = set(zip(comp["subject"], comp["metric"])) & {(MARKED, "train_total_energy_j"), (SILENT, "total_energy_j"),
                                                          (MARKED, "total_energy_j"), (SILENT, "train_total_energy_j")}
    assert energy == {(MARKED, "train_total_energy_j"), (SILENT, "total_energy_j")}  # like with like, per subject
    wtl = t["win_tie_loss"]
    assert set(wtl.loc[wtl["subject"] == SILENT, "energy_metric"]) >= {"total_energy_j"}
    cv = t["variability"]
    assert {"total_energy_j"} <= set(cv.loc[cv["subject"] == SILENT, "metric"])
    assert {"train_total_energy_j"} <= set(cv.loc[cv["subject"] == MARKED, "metric"])
    recs = t["recommendations"]
    assert {MARKED, SILENT} <= set(recs["subject"])  # the epochs-5 mutant saves energy in both
    assert set(recs.loc[recs["subject"] == SILENT, "energy_metric"]) == {"total_energy_j"}
    # the pooled overall single-vs-pair tests say that they pool two windows
    tests = t["sensitivity_tests"]
    overall = tests[tests["scope"] == "overall"]
    assert set(overall["window"]) == {MIXED} and overall["note"].str.contains("different windows").all()


def test_each_subject_gets_what_it_would_get_alone(mixed):
    """Analysing the two side by side changes nothing of either: the silent subject's numbers are
    those of a whole-window analysis of it, the marked one's those of a training-window one."""
    runs, t = mixed
    alone_x = analyse(runs[runs["subject"] == SILENT].reset_index(drop=True), n_boot=50, window="whole")
    alone_c = analyse(runs[runs["subject"] == MARKED].reset_index(drop=True), n_boot=50, window="training")
    cols = ["mutant_id", "mode", "metric", "window", "mean_original", "mean_mutant", "p_value",
            "rel_change_ci_low", "verdict"]
    for subject, alone in ((SILENT, alone_x), (MARKED, alone_c)):
        mine = t["comparisons"][t["comparisons"]["subject"] == subject][cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone["comparisons"][cols].reset_index(drop=True))


def test_a_silent_subject_alone_is_analysed_on_whole_without_raising():
    runs = _two_subjects()
    runs = runs[runs["subject"] == SILENT].reset_index(drop=True)
    t = analyse(runs, n_boot=30, window="training")
    comp = t["comparisons"]
    assert set(comp["window"]) == {"whole"} and "total_energy_j" in set(comp["metric"])
    assert not t["recommendations"].empty
    plan = window_plan(runs, "training")
    assert plan.set_index("subject").loc[SILENT, "reason"].startswith("its runs sent no training-window marks")
    # a table without the train_* columns at all (an imported one) falls back the same way, named
    bare = runs.drop(columns=[c for c in runs if c.startswith("train_")])
    assert "no training-window columns" in window_plan(bare, "training")["reason"].iloc[0]
    assert set(analyse(bare, n_boot=30)["pareto"]["window"]) == {"whole"}


def test_training_strict_stops_with_one_line_naming_the_subject():
    runs = _two_subjects()
    with pytest.raises(WindowError) as err:
        analyse(runs, n_boot=30, window="training_strict")
    msg = str(err.value)
    assert "\n" not in msg and SILENT in msg and MARKED not in msg
    assert f"{(runs['subject'] == SILENT).sum()} of {(runs['subject'] == SILENT).sum()} ok runs" in msg
    assert "e.g. run single-digits_x__original-0" in msg and "set analysis.window: training" in msg
    ok = analyse(runs[runs["subject"] == MARKED].reset_index(drop=True), n_boot=30, window="training_strict")
    assert set(ok["comparisons"]["window"]) == {"training"}


def test_summary_lists_every_subject_with_its_window_and_why(tmp_path):
    runs = _two_subjects(failed_subject=True)
    t = analyse(runs, n_boot=50)
    text = write_summary(runs, t, tmp_path / "s.rst", window="training").read_text().replace("\\", "")
    section = text.split("Subjects analysed\n-----------------\n", 1)[1].split("How energy was measured")[0]
    lines = {ln.split("**")[1]: ln for ln in section.splitlines() if ln.startswith("- **")}
    assert set(lines) == {MARKED, SILENT, "broken"}
    assert "analysed on the training window" in lines[MARKED] and "train_total_energy_j" in lines[MARKED]
    assert ("analysed on the **whole-process** window: its runs sent no training-window marks" in lines[SILENT]
            and "on ``total_energy_j``" in lines[SILENT])
    n_broken = int((runs["subject"] == "broken").sum())
    assert f"{n_broken} run(s), 0 ok (not ok: {n_broken} diverged); not analysed: no ok run" in lines["broken"]
    head = text.split("Short answers", 1)[0]
    assert f"subject(s) {SILENT} (its runs sent no training-window marks" in head and "whole-process" in head
    # each line of the statistics names its window where the page mixes them
    assert f"{SILENT} (single) [whole-process window], **epochs**" in text
    assert f"{MARKED} (single) [training window], **epochs**" in text
    assert "Repeat-run variation of total_energy_j (single)" in text
    assert "Repeat-run variation of train_total_energy_j (single)" in text


def test_hp_vs_energy_draws_each_subject_on_its_window(tmp_path, mixed):
    runs, t = mixed
    out = plots.write_named(runs, t, {"hp_vs_energy": tmp_path / "hp"}, window="training")
    svg = out["hp_vs_energy"][1].read_text()
    assert "no data" not in svg
    assert "train_total_energy_j (lower is better)" in svg and ">total_energy_j (lower is better)" in svg


def test_one_default_window_everywhere():
    schemas = [ROOT / "src/greenhp/schemas/config.schema.yaml", ROOT / "workflow/schemas/reanalysis.schema.yaml"]
    for path in schemas:
        prop = yaml.safe_load(path.read_text())["properties"]["analysis"]["properties"]["window"]
        assert prop["default"] == DEFAULT_WINDOW == "training", path
        assert "training_strict" in prop["enum"], path
    assert yaml.safe_load((ROOT / "config.yaml").read_text())["analysis"]["window"] == DEFAULT_WINDOW
    for fn in (analyse, plots.write_named, plots.make_all, write_summary):
        assert inspect.signature(fn).parameters["window"].default == DEFAULT_WINDOW, fn.__name__
    for path in ("scripts/stats.py", "scripts/plots.py", "workflow/rules/analysis.smk"):
        assert '"window", "whole"' not in (ROOT / path).read_text(), path
