"""The analysis in layers (issue 23): one label function for "subject (mode, partner)", question 3
answered once for both places of the summary, and the names and text helpers without matplotlib."""
import subprocess
import sys

import pandas as pd

from greenhp.analysis import analyse, summary
from greenhp.analysis.text import BESIDE, PANEL, WITH, setting_label

from conftest import make_runs
from testutil import subprocess_env


def test_setting_label_keeps_each_pages_words():
    # the summary's lines (escaped), the early-stop lines, the figures' panel titles, the epoch curves
    assert setting_label("a_b", "pair", "c_d") == "a\\_b (pair, beside c\\_d)"
    assert setting_label("a_b", "single") == "a\\_b (single)"
    assert setting_label("a_b", "pair", "c_d", WITH, pair_only=False) == "a\\_b (pair, with c\\_d)"
    assert setting_label("a_b", "pair", "c_d", PANEL, escape=None) == "a_b (pair)\nbeside c_d"
    assert setting_label("a_b", "pair", "c_d", WITH, escape=None, pair_only=False) == "a_b (pair, with c_d)"
    # no partner (NaN, "", None): the subject and mode alone, in every form
    for partner in (float("nan"), "", None):
        for form in (BESIDE, WITH, PANEL):
            assert setting_label("s", "pair", partner, form, escape=None) == "s (pair)"
    # a partner outside pair mode: named only where the page always named it
    assert setting_label("s", "single", "p", escape=None) == "s (single)"
    assert setting_label("s", "single", "p", WITH, escape=None, pair_only=False) == "s (single, with p)"


def test_question_3_is_worked_out_once_for_both_places(tmp_path, monkeypatch):
    """The short answer and section 3 both take question 3's verdict from summary.pair_answer:
    a verdict it gives reaches both (here, a significant one the data would not give)."""
    runs = make_runs(subjects=("s",), modes=("single", "pair"), reps=3, mutants={"lr": [0.1, 3.0]})
    tables = analyse(runs, n_boot=30)
    real = summary.pair_answer(tables["sensitivity_tests"], 0.05)
    assert real.kind == "matched" and not real.significant
    forced = summary.PairAnswer(real.kind, real.row, 0.001, True, True)
    monkeypatch.setattr(summary, "pair_answer", lambda sens_tests, alpha: forced)
    assert summary.short_answers(runs, tables)[2].startswith(
        "Yes: over 2 mutant comparisons matched across the modes, energy changed significantly more")
    text = summary.write_summary(runs, tables, tmp_path / "s.rst").read_text()
    assert "yes: changes are significantly larger in pair mode" in text
    assert "Wilcoxon p = 0.001" in text


def test_question_3_not_answerable_without_sensitivity_tests():
    answer = summary.pair_answer(pd.DataFrame(), 0.05)
    assert answer.kind is None and not answer.significant


def test_names_text_windows_and_summary_load_without_matplotlib():
    """The workflow reads its output names at parse time, and the statistics and the summary need
    no figure: none of them loads matplotlib (the figures do, when drawn)."""
    code = ("import sys; import greenhp.analysis, greenhp.analysis.outputs, greenhp.analysis.text, "
            "greenhp.analysis.windows, greenhp.analysis.epochs, greenhp.analysis.summary; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=subprocess_env())
    assert out.stdout.strip() == "[]"
