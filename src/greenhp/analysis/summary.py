"""A short reStructuredText page answering the study's three questions for this data."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .tables import METHOD_COLUMNS, OK, estimated_methods

#: Markers around the "Short answers" block: the report's front page includes just that block
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


def _v(x) -> str:
    """A hyperparameter value for prose: compact numbers, text as is."""
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return str(x)


def _heading(text: str, ch: str) -> list[str]:
    return [text, ch * len(text), ""]


def _fmt_p(p) -> str:
    return "n/a" if not np.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else "< 1e-4")


def measurement_lines(runs: pd.DataFrame) -> list[str]:
    lines = []
    for col in METHOD_COLUMNS:
        if col in runs:
            counts = runs[col].fillna("(empty)").value_counts()
            desc = ", ".join(f"{m} ({n} runs{', an ESTIMATE' if str(m).startswith('estimate') else ''})"
                             for m, n in counts.items())
            lines.append(f"- {col.split('_')[0].upper()}: {desc or 'none'}")
    est = estimated_methods(runs)
    if est:
        n = int(runs["energy_estimated"].fillna(False).astype(bool).sum())
        lines.append(f"- {n} of {len(runs)} runs include estimated (not measured) energy: "
                     f"{', '.join(est)}. Their totals are estimates, not measurements.")
    else:
        lines.append("- No run's energy is flagged as estimated.")
    if "total_domains" in runs:
        doms = ", ".join(sorted(runs["total_domains"].dropna().astype(str).unique())) or "n/a"
        lines.append(f"- Domains summed into total energy: {doms}.")
    return lines


def _significant_corr(corr: pd.DataFrame, alpha: float, energy_metric: str) -> tuple[pd.DataFrame, int]:
    if corr.empty:
        return corr, 0
    c = corr[(corr["method"] == "spearman") & (corr["metric"] == energy_metric)]
    c = c.dropna(subset=["coefficient"])
    sig = c[c["q_value"].astype(float) < alpha].sort_values("coefficient", key=np.abs, ascending=False)
    return sig, len(c)


def short_answers(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame], alpha: float = 0.05,
                  energy_metric: str = "total_energy_j") -> list[str]:
    """One plain sentence per question, each starting with "Yes", "No" or "Not answerable"."""
    empty = pd.DataFrame()
    corr, recs = tables.get("correlations", empty), tables.get("recommendations", empty)
    sens_tests = tables.get("sensitivity_tests", empty)
    sig, n_tested = _significant_corr(corr, alpha, energy_metric)
    if n_tested == 0:
        a1 = "Not answerable: no correlation with energy could be computed from this data."
    elif sig.empty:
        a1 = (f"No: none of the {n_tested} hyperparameter-energy correlations (Spearman, per subject "
              f"and mode) is significant after Benjamini-Hochberg correction (q < {alpha}).")
    else:
        r = sig.iloc[0]
        hps = ", ".join(sorted(set(sig["hyperparameter"].astype(str))))
        a1 = (f"Yes: {len(sig)} of {n_tested} hyperparameter-energy correlations are significant "
              f"(q < {alpha}; hyperparameters: {hps}); the strongest is {r['hyperparameter']} in "
              f"{r['subject']} ({r['mode']}), rho = {r['coefficient']:.2f}.")
    if recs.empty:
        a2 = ("No: no mutant used significantly less energy while keeping the task metric "
              "(with this data, no saving is statistically supported).")
    else:
        best = recs.sort_values("saving_pct", ascending=False).iloc[0]
        est = " (energy partly estimated)" if str(best["estimated"]).lower() == "true" else ""
        a2 = (f"Yes: {len(recs)} mutant comparison(s) save energy with no significant loss of "
              f"{best['metric_name']}; the largest saving is {best['hyperparameter']} "
              f"{_v(best['original'])} -> {_v(best['value'])} for {best['subject']} ({best['mode']}): "
              f"{best['saving_pct']:.1f} % per run{est}.")
    overall = sens_tests[sens_tests["scope"] == "overall"] if not sens_tests.empty else sens_tests
    if overall.empty or int(overall["n"].iloc[0]) == 0:
        a3 = "Not answerable: no mutant was measured both alone and in pair mode."
    else:
        r = overall.iloc[0]
        p = float(r["wilcoxon_p"]) if pd.notna(r["wilcoxon_p"]) else float("nan")
        more = "more" if r["mean_diff"] > 0 else "less"
        if np.isfinite(p) and p < alpha:
            a3 = (f"Yes: over {int(r['n'])} mutants, energy changed significantly {more} in pair mode "
                  f"than alone (mean difference of absolute changes {100 * r['mean_diff']:.2f} percentage "
                  f"points, Wilcoxon p = {_fmt_p(p)}).")
        else:
            a3 = (f"No: over {int(r['n'])} mutants, energy changes in pair mode were not "
                  f"significantly different from those alone (mean difference of absolute changes "
                  f"{100 * r['mean_diff']:.2f} percentage points, Wilcoxon p = {_fmt_p(p)}).")
    return [a1, a2, a3]


def not_ok_lines(runs: pd.DataFrame) -> list[str]:
    """One bullet per run whose status is not ok (diverged, failed, timeout, ...)."""
    bad = runs[runs["status"] != OK]
    if bad.empty:
        return ["Every run finished with status ok."]
    lines = [f"{len(bad)} run(s) did not finish ok and are excluded from the statistics:", ""]
    for r in bad.sort_values(["mode", "run_id"]).itertuples():
        reason = getattr(r, "reason", None)
        reason = f": {reason}" if isinstance(reason, str) and reason.strip() else ""
        lines.append(f"- ``{r.run_id}`` ({r.mode}) **{r.status}**{reason}")
    return lines


def write_summary(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame], path, alpha: float = 0.05,
                  energy_metric: str = "total_energy_j", window: str | None = None,
                  early_stop_lines: list[str] | None = None) -> Path:
    """Write the summary page to ``path`` and return it. ``window`` (greenhp.analysis.epochs):
    the energy window the statistics used, named on the page; ``early_stop_lines``: the
    "Early stopping (what-if)" section (greenhp.analysis.epochs.summary_lines)."""
    if window is not None:
        from .epochs import describe_window, window_metric

        energy_metric = window_metric("total_energy_j", window)
    empty = pd.DataFrame()
    corr = tables.get("correlations", empty)
    recs = tables.get("recommendations", empty)
    sens_tests = tables.get("sensitivity_tests", empty)
    cv = tables.get("variability", empty)
    out: list[str] = _heading("Hyperparameter-energy study: summary", "=")
    status = runs["status"].value_counts()
    n_ok = int(status.get(OK, 0))
    out += [f"{len(runs)} runs of {runs['subject'].nunique()} subject(s) in mode(s) "
            f"{', '.join(sorted(runs['mode'].dropna().unique())) or 'n/a'}; {n_ok} ok entered the "
            "statistics" + ("; not ok: " + ", ".join(f"{s} {n}" for s, n in status.items() if s != OK)
                            if n_ok < len(runs) else "") + ".", ""]
    if window is not None:
        out += [f"Energy window of the statistics: **{window}** ({describe_window(window)}); "
                f"the answers use ``{energy_metric}``.", ""]
    out += _heading("Short answers", "-")
    out += [SHORT_START, ""]
    for i, a in enumerate(short_answers(runs, tables, alpha, energy_metric), 1):
        out += [f"{i}. *{QUESTIONS[i - 1]}* {a}", ""]
    out += [SHORT_END, ""]

    # Q1
    out += _heading("1. " + QUESTIONS[0], "-")
    c = corr[(corr.get("method") == "spearman") & (corr.get("metric") == energy_metric)] if not corr.empty else corr
    if c.empty or c["coefficient"].notna().sum() == 0:
        out += ["No correlation could be computed (too few configurations or no energy data).", ""]
    else:
        c = c.dropna(subset=["coefficient"]).sort_values("coefficient", key=np.abs, ascending=False)
        out += [f"Spearman correlation with {energy_metric}; significant means BH q < {alpha} "
                "(family: one method within one subject and mode).", ""]
        for r in c.itertuples():
            sig = "significant" if np.isfinite(r.q_value) and r.q_value < alpha else "not significant"
            sign = "positive" if r.coefficient > 0 else "negative"
            out.append(f"- {r.subject} ({r.mode}), **{r.hyperparameter}**: {_strength(r.coefficient)} "
                       f"{sign}, rho = {r.coefficient:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}], "
                       f"n = {r.n}, q = {_fmt_p(r.q_value)} ({sig}).")
        out.append("")

    # Q2
    out += _heading("2. " + QUESTIONS[1], "-")
    if recs.empty:
        out += ["No mutant used significantly less energy while keeping the task metric "
                f"(Welch t-test p <= {alpha} and abs(Cliff's delta) >= threshold).", ""]
    else:
        out += ["Mutants with significantly lower energy and a task metric that is not "
                "significantly worse (best saving first per subject and mode):", ""]
        for r in recs.sort_values(["subject", "mode", "rank"]).itertuples():
            est = " (energy partly estimated)" if str(r.estimated).lower() == "true" else ""
            out.append(f"- {r.subject} ({r.mode}): {r.hyperparameter} {_v(r.original)} -> {_v(r.value)} "
                       f"saves {r.saving_pct:.1f} % ({r.saving_j:.0f} J per run){est}; "
                       f"{r.metric_name} {r.metric_original:.4g} -> {r.metric_mutant:.4g} "
                       f"({r.metric_verdict}).")
        out.append("")

    if early_stop_lines is not None:
        out += _heading("Early stopping (what-if)", "-")
        out += list(early_stop_lines)

    # Q3
    out += _heading("3. " + QUESTIONS[2], "-")
    overall = sens_tests[sens_tests["scope"] == "overall"] if not sens_tests.empty else sens_tests
    if overall.empty or int(overall["n"].iloc[0]) == 0:
        out += ["Not answerable from this data: no mutant was measured in both single and pair mode.", ""]
    else:
        r = overall.iloc[0]
        p = r["wilcoxon_p"]
        larger = "larger" if r["mean_diff"] > 0 else "smaller"
        concl = (f"yes: changes are significantly {larger} in pair mode" if np.isfinite(p) and p < alpha
                 else "no significant difference between the modes")
        out += [f"Over {int(r['n'])} mutants, the absolute relative energy change in pair minus that in single mode has mean "
                f"{100 * r['mean_diff']:.2f} percentage points (Wilcoxon p = {_fmt_p(p)}, paired t "
                f"p = {_fmt_p(r['ttest_p'])}): {concl} (judged by the signed-rank test)."
                + (" With fewer than 6 mutants the two-sided signed-rank test cannot reach "
                   "p < 0.05, so this answer is weak." if int(r["n"]) < 6 else ""), ""]
        for t in sens_tests[sens_tests["scope"] != "overall"].itertuples():
            out.append(f"- {t.scope}: n = {t.n}, mean difference {100 * t.mean_diff:.2f} points, "
                       f"Wilcoxon p = {_fmt_p(t.wilcoxon_p)}.")
        out.append("")
    if not cv.empty:
        e = cv[cv["metric"] == energy_metric]
        for mode, g in e.groupby("mode", sort=True):
            out.append(f"- Repeat-run variation of {energy_metric} ({mode}): median CV "
                       f"{100 * g['cv'].median():.2f} %, max {100 * g['cv'].max():.2f} %.")
        out.append("")

    out += _heading("How energy was measured", "-")
    out += measurement_lines(runs) + [""]
    out += _heading("Runs that did not finish ok", "-")
    out += not_ok_lines(runs) + [""]
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
