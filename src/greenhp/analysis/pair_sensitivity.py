"""Question 3: is energy more sensitive to hyperparameter changes in pair mode than alone? Each
pair-mode mutant comparison matched with a single-mode one (match_modes), the tests of the
difference of their absolute relative changes, and the Mann-Whitney U that needs no matching
(sensitivity). Built on question 2's comparisons table (greenhp.analysis.comparison)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from .comparison import COMPARISON_COLUMNS, variability
from .tables import ENERGY_METRICS, empty_table, sort_natural

SENS_MUTANT_COLUMNS = [
    "subject", "partner", "mutant_id", "mutant_id_single", "hyperparameter", "value", "match",
    "energy_metric", "rel_change_single", "rel_change_pair", "abs_change_diff", "verdict_single",
    "verdict_pair",
]
SENS_TEST_COLUMNS = [
    "kind", "scope", "subject", "partner", "hyperparameter", "energy_metric", "n", "n_single",
    "n_pair", "mean_diff", "median_diff", "mean_abs_single", "mean_abs_pair", "wilcoxon_statistic",
    "wilcoxon_p", "ttest_statistic", "ttest_p", "mwu_statistic", "mwu_p", "alternative",
    "n_pair_unmatched", "n_single_unmatched", "note",
]


def match_modes(comparisons: pd.DataFrame, energy_metric: str = "total_energy_j"):
    """Pair each pair-mode mutant comparison (per partner) with a single-mode mutant of the same
    subject and hyperparameter: the same ``mutant_id`` if measured alone, else one whose ``value``
    is equal (relative tolerance 1e-9). Returns ``(matched, pair_unmatched, single_unmatched)``:
    matched rows (SENS_MUTANT_COLUMNS), and the pair / single comparisons that found no
    counterpart."""
    c = comparisons[(comparisons["metric"] == energy_metric) & comparisons["rel_change"].notna()]
    s = sort_natural(c[c["mode"] == "single"].drop_duplicates(["subject", "mutant_id"]),
                     ["subject", "mutant_id"])
    p = sort_natural(c[c["mode"] == "pair"], ["subject", "partner", "mutant_id"])
    by_id = {(r.subject, r.mutant_id): r for r in s.itertuples()}
    by_hp: dict = {}
    for r in s.itertuples():
        by_hp.setdefault((r.subject, r.hyperparameter), []).append(r)
    rows, used, unmatched_p = [], set(), []
    for r in p.itertuples():
        hit, how = by_id.get((r.subject, r.mutant_id)), "same mutant_id"
        if hit is None:
            how = "same value"
            for cand in by_hp.get((r.subject, r.hyperparameter), []):
                try:
                    if np.isclose(float(cand.value), float(r.value), rtol=1e-9, atol=0.0):
                        hit = cand
                        break
                except (TypeError, ValueError):
                    continue
        if hit is None:
            unmatched_p.append(r.Index)
            continue
        used.add((hit.subject, hit.mutant_id))
        rows.append(dict(subject=r.subject, partner=r.partner, mutant_id=r.mutant_id,
                         mutant_id_single=hit.mutant_id, hyperparameter=r.hyperparameter,
                         value=r.value, match=how, energy_metric=energy_metric,
                         rel_change_single=hit.rel_change, rel_change_pair=r.rel_change,
                         abs_change_diff=abs(r.rel_change) - abs(hit.rel_change),
                         verdict_single=hit.verdict, verdict_pair=r.verdict))
    matched = (pd.DataFrame(rows).reindex(columns=SENS_MUTANT_COLUMNS) if rows
               else empty_table(SENS_MUTANT_COLUMNS))
    unmatched_s = s[[(a, b) not in used for a, b in zip(s["subject"], s["mutant_id"])]]
    return matched, p.loc[unmatched_p], unmatched_s, s, p


def _unmatched_counts(p_un: pd.DataFrame, s_un: pd.DataFrame, subject=None,
                      partner=None) -> tuple[int, int]:
    """How many pair comparisons and single-mode mutants of a scope found no counterpart."""
    pu = p_un if subject is None else p_un[p_un["subject"] == subject]
    su = s_un if subject is None else s_un[s_un["subject"] == subject]
    if partner is not None:
        pu = pu[pu["partner"] == partner]
    return len(pu), len(su)


def _matched_test(scope: str, subject, partner, g: pd.DataFrame, unmatched: tuple[int, int],
                  energy_metric: str, alternative: str) -> dict:
    """Wilcoxon signed-rank and paired t-test of one scope's ``abs_change_diff`` against 0."""
    d = g["abs_change_diff"].to_numpy(float) if len(g) else np.array([])
    npu, nsu = unmatched
    row = dict(kind="matched", scope=scope, subject=subject if subject is not None else np.nan,
               partner=partner if partner is not None else np.nan, energy_metric=energy_metric,
               n=int(d.size), alternative=alternative,
               mean_diff=d.mean() if d.size else np.nan,
               median_diff=float(np.median(d)) if d.size else np.nan,
               mean_abs_single=g["rel_change_single"].abs().mean() if d.size else np.nan,
               mean_abs_pair=g["rel_change_pair"].abs().mean() if d.size else np.nan,
               n_pair_unmatched=npu, n_single_unmatched=nsu)
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if d.size >= 2 and np.any(d != 0):
            try:
                w = sps.wilcoxon(d, alternative=alternative)
                row.update(wilcoxon_statistic=float(w.statistic), wilcoxon_p=float(w.pvalue))
            except ValueError as exc:
                notes.append(f"wilcoxon: {exc}")
            t = sps.ttest_1samp(d, 0.0, alternative=alternative)
            row.update(ttest_statistic=float(t.statistic), ttest_p=float(t.pvalue))
        else:
            notes.append("fewer than 2 mutants in both modes" if d.size < 2 else "all differences zero")
    if npu or nsu:
        notes.append(f"{npu} pair comparison(s) had no single-mode mutant of the same subject, "
                     f"hyperparameter and value; {nsu} single-mode mutant(s) had no pair counterpart")
    row["note"] = "; ".join(notes) if notes else np.nan
    return row


def _matched_tests(per: pd.DataFrame, p_un: pd.DataFrame, s_un: pd.DataFrame,
                   energy_metric: str, alternative: str) -> list[dict]:
    """``kind`` "matched" rows: overall, per subject and per subject x partner."""
    scopes = [("overall", None, None, per)]
    scopes += [(str(sj), sj, None, g) for sj, g in per.groupby("subject", sort=True)]
    scopes += [(f"{sj} beside {pt}", sj, pt, g)
               for (sj, pt), g in per.groupby(["subject", "partner"], sort=True)]
    return [_matched_test(scope, subject, partner, g,
                          _unmatched_counts(p_un, s_un, subject, partner), energy_metric,
                          alternative)
            for scope, subject, partner, g in scopes]


def _unmatched_test(scope: str, subject, partner, h, s_rows: pd.DataFrame, p_rows: pd.DataFrame,
                    energy_metric: str, alternative: str) -> dict:
    """Mann-Whitney U of the absolute relative changes of one scope's pair comparisons against
    those of its single-mode ones."""
    a = s_rows["rel_change"].abs().to_numpy(float)
    b = p_rows["rel_change"].abs().to_numpy(float)
    row = dict(kind="unmatched", scope=scope, subject=subject, partner=partner,
               hyperparameter=h, energy_metric=energy_metric, n=int(a.size + b.size),
               n_single=int(a.size), n_pair=int(b.size), alternative=alternative,
               mean_abs_single=a.mean() if a.size else np.nan,
               mean_abs_pair=b.mean() if b.size else np.nan,
               mean_diff=(b.mean() - a.mean()) if a.size and b.size else np.nan,
               median_diff=(float(np.median(b) - np.median(a))) if a.size and b.size else np.nan)
    if a.size >= 2 and b.size >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                u = sps.mannwhitneyu(b, a, alternative=alternative)
                row.update(mwu_statistic=float(u.statistic), mwu_p=float(u.pvalue))
            except ValueError as exc:
                row["note"] = f"mannwhitneyu: {exc}"
    else:
        row["note"] = "fewer than 2 comparisons in a mode"
    return row


def _unmatched_tests(s_all: pd.DataFrame, p_all: pd.DataFrame, energy_metric: str,
                     alternative: str) -> list[dict]:
    """``kind`` "unmatched" rows: overall, and per subject x partner x hyperparameter."""
    if not (len(p_all) or len(s_all)):
        return []
    rows = [_unmatched_test("overall", np.nan, np.nan, np.nan, s_all, p_all, energy_metric,
                            alternative)]
    for (sj, pt, h), g in p_all.groupby(["subject", "partner", "hyperparameter"], sort=True):
        sg = s_all[(s_all["subject"] == sj) & (s_all["hyperparameter"] == h)]
        rows.append(_unmatched_test(f"{sj} beside {pt}, {h}", sj, pt, h, sg, g, energy_metric,
                                    alternative))
    return rows


def sensitivity(runs: pd.DataFrame, comparisons: pd.DataFrame,
                energy_metric: str = "total_energy_j", alternative: str = "two-sided",
                cv_metrics=ENERGY_METRICS + ("duration_s",)):
    """Is energy more sensitive to hyperparameter changes in pair mode than alone?

    Returns ``(per_mutant, tests, cv)``:

    * per_mutant: each pair-mode mutant comparison (one per partner) matched with a single-mode
      mutant (match_modes: same mutant_id, else same subject, hyperparameter and value), with both
      relative ``energy_metric`` changes vs their own originals and
      ``abs_change_diff = |change_pair| - |change_single|``.
    * tests, ``kind`` "matched": Wilcoxon signed-rank and paired t-test of that difference (against
      0; ``alternative`` as in SciPy, "greater" asks "larger in pair mode"), overall, per subject and
      per subject x partner; ``n_pair_unmatched`` / ``n_single_unmatched`` count the comparisons
      left out for want of a counterpart. ``kind`` "unmatched": Mann-Whitney U of the absolute
      changes in pair mode (every pair comparison) against those alone (every single comparison),
      needing no matching: overall, and per subject x partner x hyperparameter.
    * cv: greenhp.analysis.comparison.variability: repeat-run coefficient of variation (sd/mean,
      ddof=1) per configuration, mode, partner and ``cv_metrics``, over ok runs.
    """
    per = empty_table(SENS_MUTANT_COLUMNS)
    s_all = p_all = p_un = s_un = empty_table(COMPARISON_COLUMNS)
    if not comparisons.empty:
        per, p_un, s_un, s_all, p_all = match_modes(comparisons, energy_metric)
    tests = (_matched_tests(per, p_un, s_un, energy_metric, alternative)
             + _unmatched_tests(s_all, p_all, energy_metric, alternative))
    tests_df = pd.DataFrame(tests).reindex(columns=SENS_TEST_COLUMNS)
    return per, tests_df, variability(runs, cv_metrics)
