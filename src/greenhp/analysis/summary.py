"""A short reStructuredText page answering the study's three questions for this data.

Presentation layer of greenhp.analysis (docs/architecture.md): each section of the page is one
function here (``*_section`` with its heading, ``*_lines`` without), reading the statistics tables
(greenhp.analysis.stats, .recommend, .epochs) and the runs table; write_summary puts them in
order. Every string from the data is escaped with rst_escape (greenhp.analysis.text). A new
section: its function here and one line in write_summary.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .derived import failed_families, is_derived
from .epochs import DEFAULT_TOLERANCE
from .tables import METHOD_COLUMNS, OK, ORIGINAL, better_word, estimated_methods
from .text import WITH, fmt_p, fmt_value, is_true, rst_escape, setting_label
from .windows import (
    DEFAULT_WINDOW, MIXED, RESOLVED_WINDOWS, describe_window, energy_rows, window_metric, window_plan,
)

#: (``.. include:: ... :start-after: / :end-before:`` in workflow/report/workflow.rst).
SHORT_START = ".. short-answers-start"
SHORT_END = ".. short-answers-end"

QUESTIONS = (
    "Which hyperparameters correlate with energy, and how strongly?",
    "Which changes save energy without a significant loss of the task metric?",
    "Is energy more sensitive to hyperparameter changes when two models train in pair?",
)


def _strength(rho: float) -> str:
    a = abs(rho)
    return "very strong" if a >= 0.8 else "strong" if a >= 0.6 else "moderate" if a >= 0.4 else "weak"


_e = rst_escape


def _heading(text: str, ch: str) -> list[str]:
    return [text, ch * len(text), ""]


def measurement_lines(runs: pd.DataFrame) -> list[str]:
    lines = []
    for col in METHOD_COLUMNS:
        if col in runs:
            counts = runs[col].fillna("(not given)").value_counts()
            desc = ", ".join(f"{_e(m)} ({n} runs{', an ESTIMATE' if str(m).startswith('estimate') else ''})"
                             for m, n in counts.items())
            lines.append(f"- {col.split('_')[0].upper()}: {desc or 'none'}")
    est = estimated_methods(runs)
    if est:
        n = int(runs["energy_estimated"].fillna(False).astype(bool).sum())
        lines.append(f"- {n} of {len(runs)} runs include estimated (not measured) energy: "
                     f"{', '.join(_e(m) for m in est)}. Their totals are estimates, not measurements.")
    else:
        lines.append("- No run's energy is flagged as estimated.")
    if "total_domains" in runs:
        doms = ", ".join(_e(d) for d in sorted(runs["total_domains"].dropna().astype(str).unique())) or "n/a"
        lines.append(f"- Domains summed into total energy: {doms}.")
    return lines


def _significant_corr(corr: pd.DataFrame, alpha: float, energy_metric: str) -> tuple[pd.DataFrame, int]:
    if corr.empty:
        return corr, 0
    c = energy_rows(corr[corr["method"] == "spearman"], "metric", energy_metric)
    c = c.dropna(subset=["coefficient"])
    sig = c[c["q_value"].astype(float) < alpha].sort_values("coefficient", key=np.abs, ascending=False)
    return sig, len(c)


def _test_name(tables) -> str:
    comp = tables.get("comparisons", pd.DataFrame())
    test = comp["test"].dropna().iloc[0] if not comp.empty and comp["test"].notna().any() else "welch"
    return {"welch": "Welch t-test", "student": "Student t-test", "mwu": "Mann-Whitney U"}.get(test, str(test))


def _sens_rows(sens_tests: pd.DataFrame, kind: str) -> pd.DataFrame:
    if sens_tests.empty:
        return sens_tests
    if "kind" not in sens_tests:  # a table written before the two kinds existed
        return sens_tests if kind == "matched" else sens_tests.iloc[0:0]
    return sens_tests[sens_tests["kind"] == kind]


def _mixed(tables: Mapping[str, pd.DataFrame]) -> bool:
    """Whether the statistics hold subjects on different energy windows (their ``window`` column):
    then every line of the page names its row's window."""
    seen = set()
    for name in ("comparisons", "correlations"):
        t = tables.get(name)
        if t is not None and "window" in t:
            seen |= set(t["window"].dropna()) & set(RESOLVED_WINDOWS)
    return len(seen) > 1


def _window_tag(r, mixed: bool) -> str:
    """" [whole-process window]" after a line about a statistics row, where the page mixes windows."""
    w = getattr(r, "window", None) if not isinstance(r, (dict, pd.Series)) else r.get("window")
    if not mixed or not isinstance(w, str):
        return ""
    return " [whole-process window]" if w == "whole" else f" [{_e(w)} window]"

@dataclass(frozen=True)
class PairAnswer:
    """Question 3's answer, worked out once from sensitivity_tests.tsv for both the short answers
    and section 3: the overall test that answers it, its p-value, whether it is significant at
    alpha and which way the modes differ."""
    kind: str | None  # "matched" (Wilcoxon), "unmatched" (Mann-Whitney U) or None: not answerable
    row: pd.Series | None  # the overall row of sensitivity_tests of that kind
    p: float
    significant: bool
    larger: bool  # the changes are larger in pair mode (mean_diff > 0)


def pair_answer(sens_tests: pd.DataFrame, alpha: float) -> PairAnswer:
    """The Wilcoxon signed-rank test over the mutant comparisons matched across the modes when any
    entered it; else Mann-Whitney U of every pair-mode against every single-mode comparison when
    each side has at least two; else not answerable."""
    matched = _sens_rows(sens_tests, "matched")
    overall = matched[matched["scope"] == "overall"] if not matched.empty else matched
    unm = _sens_rows(sens_tests, "unmatched")
    unm = unm[unm["scope"] == "overall"] if not unm.empty else unm
    if not overall.empty and int(overall["n"].iloc[0]) > 0:
        kind, r, column = "matched", overall.iloc[0], "wilcoxon_p"
    elif not unm.empty and int(unm["n_pair"].iloc[0]) >= 2 and int(unm["n_single"].iloc[0]) >= 2:
        kind, r, column = "unmatched", unm.iloc[0], "mwu_p"
    else:
        return PairAnswer(None, None, float("nan"), False, False)
    p = float(r[column]) if pd.notna(r[column]) else float("nan")
    return PairAnswer(kind, r, p, bool(np.isfinite(p) and p < alpha), bool(r["mean_diff"] > 0))


def _pair_short_answer(answer: PairAnswer) -> str:
    """Question 3's short answer from pair_answer."""
    r, p = answer.row, answer.p
    if answer.kind == "matched":
        more = "more" if answer.larger else "less"
        if answer.significant:
            return (f"Yes: over {int(r['n'])} mutant comparisons matched across the modes, energy "
                    f"changed significantly {more} in pair mode than alone (mean difference of absolute "
                    f"changes {100 * r['mean_diff']:.2f} percentage points, Wilcoxon p = {fmt_p(p)}).")
        return (f"No: over {int(r['n'])} mutant comparisons matched across the modes, energy changes "
                f"in pair mode were not significantly different from those alone (mean difference "
                f"of absolute changes {100 * r['mean_diff']:.2f} percentage points, Wilcoxon "
                f"p = {fmt_p(p)}).")
    if answer.kind == "unmatched":
        bigger = "larger" if answer.larger else "smaller"
        verdict = (f"Yes: absolute energy changes are significantly {bigger} in pair mode"
                   if answer.significant else "No: absolute energy changes in pair mode are "
                   "not significantly different from those alone")
        return (f"{verdict} (no mutant was measured in both modes; Mann-Whitney U of "
                f"{int(r['n_pair'])} pair against {int(r['n_single'])} single comparisons, "
                f"p = {fmt_p(p)}).")
    return "Not answerable: no mutant was measured both alone and in pair mode."


def short_answers(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame], alpha: float = 0.05,
                  energy_metric: str = "total_energy_j") -> list[str]:
    """One plain sentence per question, each starting with "Yes", "No" or "Not answerable"."""
    empty = pd.DataFrame()
    corr, recs = tables.get("correlations", empty), tables.get("recommendations", empty)
    sens_tests = tables.get("sensitivity_tests", empty)
    sig, n_tested = _significant_corr(corr, alpha, energy_metric)
    mixed = _mixed(tables)
    if n_tested == 0:
        a1 = "Not answerable: no correlation with energy could be computed from this data."
    elif sig.empty:
        a1 = (f"No: none of the {n_tested} hyperparameter-energy correlations (Spearman, per subject, "
              f"mode and partner) is significant after Benjamini-Hochberg correction (q < {alpha}).")
    else:
        r = sig.iloc[0]
        hps = ", ".join(_e(h) for h in sorted(set(sig["hyperparameter"].astype(str))))
        a1 = (f"Yes: {len(sig)} of {n_tested} hyperparameter-energy correlations (per subject, mode "
              f"and partner) are significant (q < {alpha}; hyperparameters: {hps}); the strongest is "
              f"{_e(r['hyperparameter'])} in {setting_label(r['subject'], r['mode'], r.get('partner'))}"
              f"{_window_tag(r, mixed)}, rho = {r['coefficient']:.2f} (n = {int(r['n'])}).")
    if recs.empty:
        a2 = ("No: no mutant used significantly less energy while keeping the task metric "
              "(with this data, no saving is statistically supported).")
    else:
        best = recs.sort_values("saving_pct", ascending=False).iloc[0]
        est = " (energy partly estimated)" if is_true(best["estimated"]) else ""
        cav = f" Caveat: {_e(best['caveats'])}." if isinstance(best.get("caveats"), str) else ""
        a2 = (f"Yes: {len(recs)} mutant comparison(s) save energy with no significant loss of "
              f"{_e(best['metric_name'])}; the largest saving is {_e(best['hyperparameter'])} "
              f"{fmt_value(best['original'])} -> {fmt_value(best['value'])} for "
              f"{setting_label(best['subject'], best['mode'], best.get('partner'))}{_window_tag(best, mixed)}: "
              f"{best['saving_pct']:.1f} % per run{est}.{cav}")
    return [a1, a2, _pair_short_answer(pair_answer(sens_tests, alpha))]


def not_ok_lines(runs: pd.DataFrame) -> list[str]:
    """One bullet per run whose status is not ok (diverged, failed, timeout, ...)."""
    bad = runs[runs["status"] != OK]
    if bad.empty:
        return ["Every run finished with status ok."]
    lines = [f"{len(bad)} run(s) did not finish ok and are excluded from the statistics:", ""]
    for r in bad.sort_values(["mode", "run_id"]).itertuples():
        reason = getattr(r, "reason", None)
        reason = f": {_e(reason)}" if isinstance(reason, str) and reason.strip() else ""
        lines.append(f"- {_e(r.run_id)} ({_e(r.mode)}) **{_e(r.status)}**{reason}")
    return lines


def marks_note_lines(runs: pd.DataFrame, limit: int = 5) -> list[str]:
    """Per subject, the runs whose phase marks leave something out (runs.tsv ``marks_note``, written
    by greenhp.marks.settle: no training window, epochs not covered, marks rejected), grouped by
    note with the number of runs; at most ``limit`` notes per subject. Empty when no run has one."""
    if "marks_note" not in runs:
        return []
    notes = runs["marks_note"].where(runs["marks_note"].notna(), "").astype(str).str.strip()
    has = notes != ""
    if not has.any():
        return []
    out = [f"{int(has.sum())} run(s) have phase marks that leave something out (``marks_note`` in "
           "runs.tsv); their training window or epoch rows are incomplete as noted:", ""]
    total = runs.groupby("subject").size()
    for subject, g in notes[has].groupby(runs.loc[has, "subject"], sort=True):
        counts = g.value_counts()
        out.append(f"- {_e(subject)}: {len(g)} of {int(total[subject])} run(s).")
        for note, n in counts.head(limit).items():
            out.append(f"- {_e(subject)}, {n} run(s): {_e(note)}.")
        if len(counts) > limit:
            out.append(f"- {_e(subject)}: ... and {len(counts) - limit} other note(s) (``marks_note`` in runs.tsv).")
    return out


def derived_section(runs: pd.DataFrame, check: pd.DataFrame | None = None) -> list[str]:
    """The lean design's epochs mutants read from longer runs (runs.tsv ``derived``) and the check of
    derived against measured (``results/lean/derive_check.tsv``, greenhp.lean.derive.CHECK_COLUMNS):
    per check row the energy error against the run-to-run spread and the metric error; a family with
    a failing row was trained in full, and the line says why. Empty when nothing was derived or checked."""
    flag = is_derived(runs)
    if not flag.any() and (check is None or check.empty):
        return []
    out = _heading("Epochs mutants read from longer runs", "-")
    d = runs[flag]
    ok = d[d["status"] == OK]
    out += [f"{len(d)} row(s) of {d['mutant_id'].nunique()} configuration(s) were not trained but read from the "
            "epoch marks of a longer run of the same family, repetition and seed (runs.tsv ``derived``, "
            f"``derived_from``); {len(ok)} are ok. They share their source run's noise: the correlations use "
            "only trained runs, and a derived configuration is compared with its (trained) original as an "
            "independent sample.", ""]
    if check is None or check.empty:
        return out + ["No derived configuration was also trained as a check (``lean.derive_check``).", ""]
    out += ["Derived against measured (configurations trained for real as a check; error = mean of derived "
            "minus measured over paired repetitions, spread = SD of the measured repetitions):", ""]
    for r in check.itertuples():
        verdict = {"true": "ok", "false": "**larger than the spread**"}.get(str(r.ok).strip().lower(), "nothing to check")
        err = (f"energy error {fmt_value(r.energy_error)} J ({fmt_value(r.energy_error_pct)} %) against a spread of "
               f"{fmt_value(r.spread)} J, metric error {fmt_value(r.metric_error)}"
               if isinstance(r.energy_error, (int, float)) and math.isfinite(r.energy_error) else "")
        note = r.note if isinstance(r.note, str) and r.note else ""
        out.append(f"- {_e(r.family)}: {_e(r.configuration)} ({_e(r.energy_column)}): "
                   + "; ".join(_e(t) for t in (err, note) if t) + f": {verdict}.")
    out.append("")
    failed = failed_families(check)
    for fam, why in failed.items():
        out.append(f"- Family {_e(fam)} was trained in full: {_e(why)}.")
    return out + ([""] if failed else [])


def mwu_runs_needed(alpha: float) -> int:
    """Runs on each side that let Mann-Whitney U reach two-sided p <= ``alpha`` at all: the smallest
    n with 2 / C(2n, n) <= alpha (its exact smallest p without ties; 4 for alpha 0.05, 5 for 0.01)."""
    n = 1
    while 2.0 / math.comb(2 * n, n) > alpha and n < 1000:
        n += 1
    return n


def _p_range(values) -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    return fmt_p(lo) if fmt_p(lo) == fmt_p(hi) else f"{fmt_p(lo)}-{fmt_p(hi)}"


def disagreement_lines(comparisons: pd.DataFrame, alpha: float, limit: int = 30,
                       energy_metric: str = "total_energy_j") -> list[str]:
    """Task-metric and energy verdicts on which the t-test and Mann-Whitney U disagree. Comparisons
    whose samples are too small for the rank test to reach ``alpha`` at all (``mwu_min_p``) are not
    listed one by one: one paragraph says how many there are and how many runs it would need."""
    if comparisons.empty or "tests_disagree" not in comparisons:
        return []
    energy = energy_rows(comparisons, "metric", energy_metric)
    rel = comparisons[(comparisons["metric"] == "metric_value") | comparisons.index.isin(energy.index)]
    d = rel[rel["tests_disagree"].map(is_true)]
    out: list[str] = []
    min_p = pd.to_numeric(rel["mwu_min_p"], errors="coerce") if "mwu_min_p" in rel else None
    blind = rel[min_p > alpha] if min_p is not None else rel.iloc[0:0]
    if not blind.empty:
        need = mwu_runs_needed(alpha)
        sizes = blind.assign(_p=min_p[blind.index]).groupby(["n_mutant", "n_original"], sort=True)["_p"]
        what = "; ".join(f"{int(nm)} and {int(no)} runs: smallest p {_p_range(g)}" for (nm, no), g in sizes)
        out += [f"With the repetitions of this study Mann-Whitney U cannot reach p <= {alpha} in "
                f"{len(blind)} of {len(rel)} comparisons of the task metric and {_e(energy_metric)} "
                f"({what}), so it can neither confirm nor question their t-test verdicts; they are "
                f"not listed here (``mwu_min_p`` in comparisons.tsv). It needs at least {need} runs "
                f"of each configuration (``repetitions: {need}``; smallest p "
                f"{fmt_p(2.0 / math.comb(2 * need, need))}).", ""]
    if d.empty:
        if len(blind) < len(rel):
            out.append(f"For the task metric and {_e(energy_metric)}, the t-test and Mann-Whitney U agree "
                       f"on every comparison{' where the rank test can reach alpha' if len(blind) else ''} "
                       f"(both significant or both not at alpha = {alpha}).")
        return out
    out += [f"{len(d)} verdict(s) on the task metric or {_e(energy_metric)} where the t-test and "
            f"Mann-Whitney U disagree at alpha = {alpha} (the verdict is not robust; a task metric "
            "called \"same\" may hide a run far off, for example at chance level):", ""]
    for r in d.head(limit).itertuples():
        metric = _e(r.metric_name) if r.metric == "metric_value" and isinstance(r.metric_name, str) else _e(r.metric)
        out.append(f"- {setting_label(r.subject, r.mode, r.partner)}, {_e(r.mutant_id)}, {metric}: verdict "
                   f"{_e(r.verdict)} (t p = {fmt_p(r.t_p)}, Mann-Whitney p = {fmt_p(r.mwu_p)}).")
    if len(d) > limit:
        out.append(f"- ... and {len(d) - limit} more (``tests_disagree`` in comparisons.tsv).")
    return out


def footprint_lines(record_paths, carbon: Mapping | None, estimate_path=None, *, lean=None, runs_path=None,
                    decisions_path=None) -> list[str]:
    """The study's own footprint section (greenhp.cost.summary_footprint: the same rows, under the
    same current ``carbon`` settings, as results/footprint.tsv) from the run records at
    ``record_paths`` and the estimate at ``estimate_path`` when there is one; with ``lean`` (the
    study's LeanSettings), the runs table and the lean decisions (when given), which design ran and
    what it saved against the full design; nothing for a re-analysis (no records)."""
    from greenhp.cost import summary_footprint

    lines = summary_footprint(record_paths, carbon=carbon, estimate_path=estimate_path, lean=lean,
                              runs_path=runs_path, decisions_path=decisions_path)
    return _heading("The study's own footprint", "-") + lines + [""] if lines else []


def window_lines(plan: pd.DataFrame, window: str) -> list[str]:
    """The page's opening line on the energy window: the one asked for (``analysis.window``), and
    the subjects analysed on another (greenhp.analysis.windows.window_plan)."""
    used = plan[plan["n_ok"] > 0] if not plan.empty else plan
    other = used[used["window"] != ("whole" if window == "whole" else "training")]
    if other.empty:
        return [f"Energy window of the statistics: **{_e(window)}** ({_e(describe_window(window))}); "
                f"the answers use ``{window_metric('total_energy_j', window)}``.", ""]
    every = len(other) == len(used)
    who = "every subject" if every else "subject(s) " + "; ".join(
        f"{_e(r.subject)} ({_e(r.reason)})" for r in other.itertuples())
    why = f" ({_e(other['reason'].iloc[0])})" if every and other["reason"].nunique() == 1 else ""
    return [f"Energy window of the statistics: **{_e(window)}** asked ({_e(describe_window(window))}); "
            f"{who}{why} analysed on the **whole-process** window instead, named on every row of the "
            "tables (column ``window``) and below (\"Subjects analysed\"). Each subject's answers use "
            "its own window: ``train_total_energy_j`` on the training window, ``total_energy_j`` on "
            "the whole-process one.", ""]


def subjects_lines(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame], plan: pd.DataFrame) -> list[str]:
    """The "Subjects analysed" section: one bullet per subject of the runs table with its runs (ok
    and not, by status), the energy window it was analysed on and why, and its mutant comparisons
    on total energy (how many reached a verdict; the notes of those that did not), or why it was
    not analysed at all."""
    comp = energy_rows(tables.get("comparisons", pd.DataFrame()), "metric", "total_energy_j")
    out = []
    for p in plan.itertuples():
        mine = runs[runs["subject"] == p.subject]
        bad = mine.loc[mine["status"] != OK, "status"].value_counts()
        not_ok = ", ".join(f"{n} {_e(st)}" for st, n in bad.items())
        head = f"- **{_e(p.subject)}**: {p.n_runs} run(s), {p.n_ok} ok" + (f" (not ok: {not_ok})" if not_ok else "")
        if p.n_ok == 0:
            out.append(f"{head}; not analysed: no ok run.")
            continue
        if p.window == "training":
            win = "analysed on the training window"
        elif p.requested == "whole":
            win = "analysed on the whole-process window (``analysis.window: whole``)"
        else:
            win = f"analysed on the **whole-process** window: {_e(p.reason)}"
        c = comp[comp["subject"] == p.subject] if not comp.empty else comp
        if c.empty:
            mutants = "hyperparameter" in mine and (mine["hyperparameter"].astype(str) != ORIGINAL).any()
            what = ("no mutant to compare with the original" if not mutants else
                    "no mutant comparison on total energy (no ok run of the original, or no energy "
                    "measured in its ok runs: see \"How energy was measured\")")
        else:
            verdicts = c["verdict"].notna()
            what = f"{len(c)} mutant comparison(s) on ``{c['metric'].iloc[0]}``, {int(verdicts.sum())} with a verdict"
            notes = c.loc[~verdicts, "note"].fillna("no note").astype(str).value_counts()
            if not notes.empty:
                what += "; without one: " + "; ".join(f"{_e(n)} ({k})" for n, k in notes.items())
        out.append(f"{head}; {win}; {what}.")
    return out or ["No subject in the runs table."]


def intro_lines(runs: pd.DataFrame) -> list[str]:
    """The page's opening line: how many runs of how many subjects, in which modes, how many ok."""
    status = runs["status"].value_counts()
    n_ok = int(status.get(OK, 0))
    return [f"{len(runs)} runs of {runs['subject'].nunique()} subject(s) in mode(s) "
            f"{', '.join(_e(m) for m in sorted(runs['mode'].dropna().unique())) or 'n/a'}; {n_ok} ok "
            "entered the statistics" + ("; not ok: " + ", ".join(f"{_e(s)} {n}" for s, n in status.items() if s != OK)
                                        if n_ok < len(runs) else "") + ". In pair mode every statistic "
            "is kept per partner.", ""]


def short_answers_section(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame], alpha: float,
                          energy_metric: str) -> list[str]:
    """"Short answers": short_answers numbered after their questions, between the markers the
    report's front page includes (SHORT_START, SHORT_END)."""
    out = _heading("Short answers", "-") + [SHORT_START, ""]
    for i, a in enumerate(short_answers(runs, tables, alpha, energy_metric), 1):
        out += [f"{i}. *{QUESTIONS[i - 1]}* {a}", ""]
    return out + [SHORT_END, ""]


def correlation_section(tables: Mapping[str, pd.DataFrame], alpha: float, energy_metric: str,
                        mixed: bool) -> list[str]:
    """Question 1: every Spearman correlation of a hyperparameter with energy, strongest first."""
    corr = tables.get("correlations", pd.DataFrame())
    out = _heading("1. " + QUESTIONS[0], "-")
    c = energy_rows(corr[corr["method"] == "spearman"], "metric", energy_metric) if not corr.empty else corr
    if c.empty or c["coefficient"].notna().sum() == 0:
        return out + ["No correlation could be computed (too few configurations or no energy data).", ""]
    c = c.dropna(subset=["coefficient"]).sort_values("coefficient", key=np.abs, ascending=False)
    with_ = " or ".join(sorted(set(c["metric"].astype(str)))) + (" (each subject's window)" if mixed else "")
    out += [f"Spearman correlation with {with_}, strongest first; significant means BH "
            f"q < {alpha} (family: one method within one subject, mode and partner); n is the "
            "number of runs (points) used.", ""]
    for r in c.itertuples():
        sig = "significant" if np.isfinite(r.q_value) and r.q_value < alpha else "not significant"
        sign = "positive" if r.coefficient > 0 else "negative"
        out.append(f"- {setting_label(r.subject, r.mode, getattr(r, 'partner', None))}{_window_tag(r, mixed)}, "
                   f"**{_e(r.hyperparameter)}**: {_strength(r.coefficient)} "
                   f"{sign}, rho = {r.coefficient:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}], "
                   f"n = {r.n}, q = {fmt_p(r.q_value)} ({sig}).")
    return out + [""]


def saving_section(tables: Mapping[str, pd.DataFrame], alpha: float, energy_metric: str,
                   mixed: bool) -> list[str]:
    """Question 2: the recommendations, best saving first, and the verdicts the two tests
    disagree on (disagreement_lines)."""
    recs = tables.get("recommendations", pd.DataFrame())
    out = _heading("2. " + QUESTIONS[1], "-")
    test = _test_name(tables)
    if recs.empty:
        out += ["No mutant used significantly less energy while keeping the task metric "
                f"({test} p <= {alpha} and abs(Cliff's delta) >= threshold).", ""]
    else:
        out += [f"Mutants with significantly lower energy ({test}) and a task metric that is not "
                "significantly worse, best saving first:", ""]
        for r in recs.sort_values("saving_pct", ascending=False, kind="mergesort").itertuples():
            est = " (energy partly estimated)" if is_true(r.estimated) else ""
            cav = f" Caveat: {_e(r.caveats)}." if isinstance(getattr(r, "caveats", None), str) else ""
            out.append(f"- {setting_label(r.subject, r.mode, r.partner)}{_window_tag(r, mixed)}: "
                       f"{_e(r.hyperparameter)} "
                       f"{fmt_value(r.original)} -> {fmt_value(r.value)} saves {r.saving_pct:.1f} % "
                       f"({r.saving_j:.0f} J per run){est}; {_e(r.metric_name)} "
                       f"{r.metric_original:.4g} -> {r.metric_mutant:.4g} ({_e(r.metric_verdict)}).{cav}")
        out.append("")
    lines = disagreement_lines(tables.get("comparisons", pd.DataFrame()), alpha, energy_metric=energy_metric)
    if lines:
        out += _heading("Verdicts the two tests disagree on", "~") + lines + [""]
    return out


def pair_section(tables: Mapping[str, pd.DataFrame], alpha: float, energy_metric: str) -> list[str]:
    """Question 3: the matched (Wilcoxon, judged by pair_answer) and unmatched (Mann-Whitney U)
    single-vs-pair tests, then the repeat-run variation (variability_lines)."""
    sens_tests = tables.get("sensitivity_tests", pd.DataFrame())
    out = _heading("3. " + QUESTIONS[2], "-")
    matched = _sens_rows(sens_tests, "matched")
    overall = matched[matched["scope"] == "overall"] if not matched.empty else matched
    unm = _sens_rows(sens_tests, "unmatched")
    if overall.empty and unm.empty:
        out += ["Not answerable from this data: no mutant was measured in both single and pair mode.", ""]
    if not overall.empty:
        out += _matching_lines(overall.iloc[0])
        answer = pair_answer(sens_tests, alpha)
        if answer.kind == "matched":
            r, p = answer.row, answer.p
            concl = (f"yes: changes are significantly {'larger' if answer.larger else 'smaller'} in pair mode"
                     if answer.significant else "no significant difference between the modes")
            out += [f"Over {int(r['n'])} matched comparisons, the absolute relative energy change in "
                    f"pair minus that in single mode has mean {100 * r['mean_diff']:.2f} percentage "
                    f"points (Wilcoxon p = {fmt_p(p)}, paired t p = {fmt_p(r['ttest_p'])}): {concl} "
                    "(judged by the signed-rank test)."
                    + (" With fewer than 6 mutants the two-sided signed-rank test cannot reach "
                       "p < 0.05, so this answer is weak." if int(r["n"]) < 6 else ""), ""]
            for t in matched[matched["scope"] != "overall"].itertuples():
                out.append(f"- {_e(t.scope)}: n = {t.n}, mean difference {100 * t.mean_diff:.2f} "
                           f"points, Wilcoxon p = {fmt_p(t.wilcoxon_p)}.")
            out.append("")
    if not unm.empty and (unm["n_pair"].fillna(0) > 0).any():
        out += ["Without matching: Mann-Whitney U of the absolute relative energy changes of every "
                "pair-mode comparison against those of every single-mode mutant (overall, and per "
                "subject, partner and hyperparameter):", ""]
        for t in unm[unm["n_pair"].fillna(0) > 0].itertuples():
            out.append(f"- {_e(t.scope)}: mean absolute change {100 * t.mean_abs_pair:.2f} % in pair "
                       f"(n = {int(t.n_pair)}) vs {100 * t.mean_abs_single:.2f} % alone "
                       f"(n = {int(t.n_single)}), Mann-Whitney p = {fmt_p(t.mwu_p)}.")
        out.append("")
    return out + variability_lines(tables.get("variability", pd.DataFrame()), energy_metric)


def _matching_lines(r: pd.Series) -> list[str]:
    """How the matched single-vs-pair test paired its comparisons (``r``: its overall row)."""
    npu = int(r["n_pair_unmatched"]) if pd.notna(r.get("n_pair_unmatched")) else 0
    nsu = int(r["n_single_unmatched"]) if pd.notna(r.get("n_single_unmatched")) else 0
    out = ["Matching: each pair-mode mutant comparison (one per partner) is paired with the "
           "single-mode mutant of the same subject and mutant id, else of the same subject, "
           f"hyperparameter and value. {int(r['n'])} comparison(s) entered; {npu} pair-mode "
           f"comparison(s) had no single-mode counterpart and {nsu} single-mode mutant(s) no "
           "pair-mode one (left out of the paired test, kept in the unmatched test below).", ""]
    if r.get("window") == MIXED:
        out += ["The overall tests pool subjects analysed on different energy windows (column "
                "``window`` of sensitivity_tests.tsv): each change is within one subject on its "
                "own window.", ""]
    return out


def variability_lines(cv: pd.DataFrame, energy_metric: str) -> list[str]:
    """The repeat-run variation (coefficient of variation) of energy, per mode; none without a
    variability table."""
    if cv.empty:
        return []
    out = []
    e = energy_rows(cv, "metric", energy_metric)
    for (mode, metric), g in e.groupby(["mode", "metric"], sort=True):
        out.append(f"- Repeat-run variation of {_e(metric)} ({_e(mode)}): median CV "
                   f"{100 * g['cv'].median():.2f} %, max {100 * g['cv'].max():.2f} %.")
    return out + [""]


def what_if_lines(early: pd.DataFrame, predictions: pd.DataFrame, tolerance: float) -> list[str]:
    """The "Early stopping (what-if)" section's lines from the early-stop table and the epochs-mutant
    predictions (greenhp.analysis.epochs); ``tolerance``: ``analysis.early_stop_tolerance``."""
    tolerance = DEFAULT_TOLERANCE if tolerance is None else tolerance
    if early is None or early.empty:
        return ["No per-epoch energy in this study (the runs sent no phase marks), so no what-if.", ""]
    e = early[early["hyperparameter"].astype(str) == ORIGINAL] if "hyperparameter" in early else early
    e = e if not e.empty else early
    out = [f"Stopping each configuration at the first epoch whose mean metric is within "
           f"{100 * float(tolerance):g} % of its curve's span (best minus worst epoch) of its final "
           "value, by the direction its subject declares (means over its ok runs; table "
           "``stats/early_stop.tsv`` has every configuration):", ""]
    out += [_what_if_line(r) for r in e.sort_values(["subject", "mode"], kind="mergesort").itertuples()]
    stop = pd.to_numeric(early["stop_epoch"], errors="coerce")
    n_save = int((stop < pd.to_numeric(early["epochs"], errors="coerce")).sum())
    n_none = int(stop.isna().sum())
    out += ["", f"{n_save} of {len(early)} configurations could stop early within the tolerance"
            + (f"; {n_none} have no what-if (the table's note says why)" if n_none else "") + ".", ""]
    return out + prediction_lines(predictions)


def _what_if_line(r) -> str:
    """One configuration's early-stop bullet (``r``: a row of the early-stop table)."""
    est = " (energy estimated)" if is_true(r.estimated) else ""
    where = setting_label(r.subject, r.mode, r.partner, WITH, pair_only=False)
    better = better_word(getattr(r, "metric_direction", None))
    if not np.isfinite(float(r.stop_epoch)):
        note = getattr(r, "note", None)
        return (f"- {where}, {_e(r.mutant_id)}: no what-if"
                + (f" ({_e(note)})." if isinstance(note, str) else "."))
    if r.stop_epoch < r.epochs:
        return (f"- {where}, {_e(r.mutant_id)}: epoch {int(r.stop_epoch)} of {int(r.epochs)} "
                f"({_e(r.metric_name)} {r.metric_at_stop:.4g} vs {r.final_metric:.4g}, tolerance "
                f"{getattr(r, 'tolerance_abs', np.nan):.3g}" + (f", {better}" if better else "")
                + ") would save "
                f"{r.saving_j:.3g} J per run, {r.saving_pct_training:.1f} % of the training energy, "
                f"{r.saving_pct_run:.1f} % of the whole run{est}.")
    return (f"- {where}, {_e(r.mutant_id)}: only the last epoch ({int(r.epochs)}) reaches that; "
            "no early-stop saving.")


def prediction_lines(predictions: pd.DataFrame) -> list[str]:
    """How well the epochs mutants were predicted from the prefixes of longer runs (the
    epoch-predictions table), or why none was; nothing without the table."""
    if predictions is None or predictions.empty:
        return []
    p = predictions.dropna(subset=["energy_error_pct"]) if "energy_error_pct" in predictions else predictions
    if p.empty:
        notes = sorted(set(predictions["note"].dropna().astype(str)))
        return ["No epochs mutant could be predicted from prefixes: " + "; ".join(_e(n) for n in notes) + ".", ""]
    metric = "; ".join(  # each subject's metric in its own units
        f"{_e(subject)} ({_e(g['metric_name'].iloc[0])}) {g['metric_error'].abs().median():.3g}"
        for subject, g in p.groupby("subject", sort=True))
    return [f"Epochs mutants predicted from the prefixes of longer runs "
            f"(``stats/epoch_predictions.tsv``, {len(p)} configurations): energy error median "
            f"{p['energy_error_pct'].abs().median():.1f} % (max {p['energy_error_pct'].abs().max():.1f} %); "
            f"metric error median: {metric}.", ""]


def write_summary(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame], path, alpha: float = 0.05,
                  energy_metric: str = "total_energy_j", window: str = DEFAULT_WINDOW,
                  early_stop_lines: list[str] | None = None, footprint: list[str] | None = None,
                  derive_check: pd.DataFrame | None = None) -> Path:
    """Write the summary page to ``path`` and return it. Every string from the data (subjects,
    mutant ids, partners, reasons, metric names, methods) is escaped with rst_escape. ``window``
    (greenhp.analysis.windows): the ``analysis.window`` the statistics were computed with, named on
    the page with the subjects analysed on another window; energy lines use each row's own window
    (its ``window`` column; a table without one is read as on ``window``);
    ``early_stop_lines``: the "Early stopping (what-if)" section (:func:`what_if_lines`);
    ``footprint``: the study's own footprint section (:func:`footprint_lines`), none when not given;
    ``derive_check``: the lean design's check of derived against measured (:func:`derived_section`)."""
    plan = window_plan(runs, window)
    energy_metric = window_metric(energy_metric, window)
    mixed = _mixed(tables)
    out: list[str] = _heading("Hyperparameter-energy study: summary", "=")
    out += intro_lines(runs)
    out += window_lines(plan, window)
    out += short_answers_section(runs, tables, alpha, energy_metric)
    out += correlation_section(tables, alpha, energy_metric, mixed)
    out += saving_section(tables, alpha, energy_metric, mixed)
    if early_stop_lines is not None:
        out += _heading("Early stopping (what-if)", "-") + list(early_stop_lines)
    out += pair_section(tables, alpha, energy_metric)
    out += _heading("Subjects analysed", "-") + subjects_lines(runs, tables, plan) + [""]
    out += _heading("How energy was measured", "-") + measurement_lines(runs) + [""]
    out += derived_section(runs, derive_check)
    out += _heading("Runs that did not finish ok", "-") + not_ok_lines(runs) + [""]
    lines = marks_note_lines(runs)
    if lines:
        out += _heading("Runs whose phase marks are incomplete", "-") + lines + [""]
    out += list(footprint or [])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out).replace("= < 1e-4", "< 1e-4"))
    return path


def rst_to_html(rst_path, html_path, title: str = "greenhp study summary") -> Path:
    """Render the summary page (reStructuredText) to a standalone HTML file (docutils' html5
    writer, stylesheet embedded) that the Snakemake report shows in place."""
    import warnings

    from docutils.core import publish_string

    with warnings.catch_warnings():  # docutils >= 0.22 prefers writer= to writer_name=
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        html = publish_string(
            Path(rst_path).read_text(), writer_name="html5",
            settings_overrides={"embed_stylesheet": True, "report_level": 5, "halt_level": 5,
                                "file_insertion_enabled": False, "raw_enabled": False,
                                "title": title, "output_encoding": "utf-8"})
    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_bytes(html)
    return html_path
