"""Power-timeline lookup, short answers, non-ok runs and the HTML summary page."""
import numpy as np
import pytest
import pandas as pd

from greenhp.analysis import analyse
from greenhp.analysis import plots
from greenhp.analysis.summary import (
    QUESTIONS, SHORT_END, SHORT_START, rst_to_html, short_answers, write_summary,
)
from greenhp.analysis.tables import validate_runs


def _timeline(path, watts=250.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"t_s": [0.0, 0.1, 0.2], "power_w": [watts, watts + 5, watts]}).to_csv(
        path, sep="\t", index=False)


def test_timeline_candidates_order_and_paths(tmp_path, runs_factory):
    runs = validate_runs(runs_factory(modes=("single", "pair"), mutants={"epochs": [5.0]}, reps=2,
                                      statuses={("digits_cnn__original", 0): "failed"}))
    cands = plots.timeline_candidates(runs, tmp_path)
    paths = [p.relative_to(tmp_path).as_posix() for _, p in cands]
    # ok runs only (rep 0 of the original failed, in both modes): single originals, single
    # mutants, then pair
    assert paths[0] == "single/digits_cnn__original/rep1.timeline.tsv"
    assert paths[1:3] == ["single/digits_cnn__epochs__x5/rep0.timeline.tsv",
                          "single/digits_cnn__epochs__x5/rep1.timeline.tsv"]
    assert paths[3] == "pair/digits_cnn__original/other__original/rep1.timeline.tsv"
    assert len(paths) == 6
    assert plots.timeline_candidates(runs, None) == [] and plots.timeline_candidates(runs, "") == []


def test_find_timeline_prefers_first_existing(tmp_path, runs_factory):
    runs = validate_runs(runs_factory(modes=("single", "pair"), mutants={"epochs": [5.0]}, reps=2))
    assert plots.find_timeline(runs, tmp_path) == (None, None)
    _timeline(tmp_path / "pair" / "digits_cnn__original" / "other__original" / "rep1.timeline.tsv")
    row, path = plots.find_timeline(runs, tmp_path)
    assert row["run_id"] == "pair-digits_cnn__original-1" and path.is_file()
    _timeline(tmp_path / "single" / "digits_cnn__epochs__x5" / "rep1.timeline.tsv")
    row, _ = plots.find_timeline(runs, tmp_path)
    assert row["run_id"] == "single-digits_cnn__epochs__x5-1"


def test_timeline_figure_without_timeline_says_so(tmp_path, runs_factory):
    runs = validate_runs(runs_factory(mutants={"epochs": [5.0]}, reps=2))
    paths = plots.timeline_figure(runs, tmp_path / "runs", tmp_path / "power_timeline.png")
    assert [p.name for p in paths] == ["power_timeline.png", "power_timeline.svg"]
    assert "no power timeline in this study" in paths[1].read_text()
    # a broken side file gives a figure that says so, not an error
    bad = tmp_path / "runs" / "single" / "digits_cnn__original" / "rep0.timeline.tsv"
    bad.parent.mkdir(parents=True)
    bad.write_text("a\tb\n1\t2\n")
    paths = plots.timeline_figure(runs, tmp_path / "runs", tmp_path / "p2.png")
    assert "unusable" in paths[1].read_text()


def _answers(runs_factory, **kw):
    runs = validate_runs(runs_factory(**kw))
    return runs, analyse(runs, n_boot=50)


def test_short_answers_yes(runs_factory):
    runs, tables = _answers(runs_factory, modes=("single", "pair"),
                            mutants={"epochs": [5.0, 8.0, 13.0, 15.0], "lr": [0.3, 3.0]})
    a = short_answers(runs, tables)
    assert len(a) == 3
    assert a[0].startswith("Yes:") and "epochs" in a[0]
    assert a[1].startswith("Yes:") and "epochs 10 -> 5" in a[1] and "%" in a[1]
    # the synthetic pair mode amplifies changes 1.5x, but 6 mutants: signed-rank p = 0.03125
    assert a[2].startswith("Yes:") and "more in pair mode" in a[2]


def test_short_answers_no_and_not_answerable(runs_factory):
    flat = lambda hps, mode: 1000.0  # noqa: E731 - energy does not depend on anything
    runs, tables = _answers(runs_factory, mutants={"lr": [0.3, 3.0]}, energy=flat)
    a = short_answers(runs, tables)
    assert a[0].startswith("No:") and "Benjamini-Hochberg" in a[0]
    assert a[1].startswith("No:")
    assert a[2].startswith("Not answerable:")


def test_summary_lists_not_ok_runs_and_renders_html(tmp_path, runs_factory):
    raw = runs_factory(modes=("single", "pair"), mutants={"epochs": [5.0, 15.0]}, reps=3,
                       statuses={("digits_cnn__epochs__x5", 1): "diverged",
                                 ("digits_cnn__original", 2): "timeout"})
    raw["reason"] = np.where(raw["status"] == "diverged", "loss became NaN at step 12", "")
    runs = validate_runs(raw)
    tables = analyse(runs, n_boot=50)
    rst = write_summary(runs, tables, tmp_path / "summary.rst")
    text = rst.read_text()
    assert text.index(SHORT_START) < text.index(SHORT_END)
    short = text[text.index(SHORT_START):text.index(SHORT_END)]
    for q in QUESTIONS:
        assert q in short
    assert "4 run(s) did not finish ok" in text  # 2 per mode
    assert ("single\\-digits\\_cnn\\_\\_epochs\\_\\_x5\\-1 (single) **diverged**: loss became NaN at "
            "step 12") in text
    assert "pair\\-digits\\_cnn\\_\\_original\\-2 (pair) **timeout**" in text
    assert "single-digits_cnn__epochs__x5-1 (single) <strong>diverged</strong>" in rst_to_html(
        rst, tmp_path / "s.html").read_text()
    html = rst_to_html(rst, tmp_path / "summary.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "<style" in html and 'class="system-message"' not in html
    for q in QUESTIONS:
        assert q in html
    assert "diverged" in html and "Short answers" in html


def test_summary_all_ok(tmp_path, runs_factory):
    runs = validate_runs(runs_factory(mutants={"epochs": [5.0]}, reps=3))
    text = write_summary(runs, analyse(runs, n_boot=50), tmp_path / "s.rst").read_text()
    assert "Every run finished with status ok." in text


@pytest.mark.parametrize("kw", [
    dict(modes=("single", "pair"), mutants={"epochs": [5.0, 8.0, 13.0, 15.0], "lr": [0.3, 3.0]},
         statuses={("digits_cnn__lr__x3", 0): "failed"}),
    dict(mutants={"lr": [0.3, 3.0]}, energy=lambda hps, mode: 1000.0),
    dict(subjects=("only",), mutants={"lr": [0.1]}, reps=1),
])
def test_summary_is_clean_restructuredtext(tmp_path, runs_factory, kw):
    """No docutils warning or error anywhere in the page (e.g. a stray |x| substitution)."""
    from docutils.core import publish_doctree

    runs = validate_runs(runs_factory(**kw))
    text = write_summary(runs, analyse(runs, n_boot=50), tmp_path / "s.rst").read_text()
    publish_doctree(text, settings_overrides={"halt_level": 2, "report_level": 2,
                                              "warning_stream": False})


def test_find_timeline_reads_only_the_declared_files(tmp_path, runs_factory):
    """issue 22: every file rule plots reads is a declared input; a timeline it was not given is not
    read, nor is a bare header (what a training job writes when no GPU was sampled)."""
    runs = validate_runs(runs_factory(modes=("single", "pair"), mutants={"epochs": [5.0]}, reps=2))
    first = tmp_path / "single" / "digits_cnn__original" / "rep1.timeline.tsv"
    later = tmp_path / "pair" / "digits_cnn__original" / "other__original" / "rep1.timeline.tsv"
    _timeline(first)
    _timeline(later)
    assert plots.find_timeline(runs, tmp_path, declared=[]) == (None, None)
    row, path = plots.find_timeline(runs, tmp_path, declared=[str(later)])
    assert path == later and row["run_id"] == "pair-digits_cnn__original-1"
    first.write_text("t_s\tpower_w\n")  # header only: skipped, the next declared one is shown
    row, path = plots.find_timeline(runs, tmp_path, declared=[str(first), str(later)])
    assert path == later
