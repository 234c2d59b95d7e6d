"""A short reStructuredText page answering the study's three questions for this data."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .tables import METHOD_COLUMNS, OK, estimated_methods

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


def write_summary(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame], path, alpha: float = 0.05,
                  energy_metric: str = "total_energy_j") -> Path:
    """Write the summary page to ``path`` and return it."""
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
                f"(Welch t-test p <= {alpha} and |Cliff's delta| >= threshold).", ""]
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
        out += [f"Over {int(r['n'])} mutants, |relative energy change| in pair minus single has mean "
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))
    return path
