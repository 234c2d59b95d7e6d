"""The summary names every run whose phase marks leave something out (runs.tsv ``marks_note``), per
subject (issue 22: a run of 3 epochs that marks only 1 must not be analysed "without a word")."""

import pandas as pd

from greenhp.analysis.summary import marks_note_lines, rst_escape, write_summary

NOTE = "epoch marks cover 1 of 3 epochs (last marked: 1): no training window"


def runs():
    return pd.DataFrame({
        "run_id": [f"r{i}" for i in range(6)], "mode": "single", "status": "ok",
        "subject": ["a", "a", "a", "b", "b", "c"],
        "marks_note": [NOTE, NOTE, None, "", "2 mark(s) rejected (duplicate epoch: 2)", None],
    })


def test_marks_note_lines_group_per_subject_and_note():
    lines = marks_note_lines(runs())
    assert lines[0].startswith("3 run(s) have phase marks that leave something out")
    body = "\n".join(lines)
    assert "- a: 2 of 3 run(s)." in body and "- a, 2 run(s): epoch marks cover 1 of 3 epochs" in body
    assert "- b: 1 of 2 run(s)." in body and rst_escape("2 mark(s) rejected (duplicate epoch: 2)") in body
    assert "- c" not in body
    assert marks_note_lines(runs().assign(marks_note=None)) == []
    assert marks_note_lines(runs().drop(columns="marks_note")) == []


def test_the_summary_page_shows_them(tmp_path):
    page = write_summary(runs(), {}, tmp_path / "summary.rst").read_text()
    assert "Runs whose phase marks are incomplete" in page and "epoch marks cover 1 of 3 epochs" in page
