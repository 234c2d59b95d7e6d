"""Statistics of a hyperparameter-energy study (the reference study's analyses, made sound).

Conventions (all tested):

* Correlations: the points for hyperparameter *h* of subject *s* in mode *m* are the ``ok`` runs
  of the original plus the ``ok`` runs of every mutant of *h*; x is the ``hp_<h>`` column. In pair
  mode runs beside every partner are pooled.
* Multiple testing: Benjamini-Hochberg q-values per **family = all tests of one method (pearson or
  spearman) within one subject x mode** (every hyperparameter x metric there). The reference study
  did not correct at all.
* Bootstrap: percentile intervals; the random stream of each test is derived from ``seed`` and the
  test's identity (subject, mode, ...), so a result does not depend on which other tests ran.
* Cliff's delta of mutant vs original: P(mutant > original) - P(mutant < original).
* Verdict (the reference rule): "same" when ``p > alpha`` or ``|delta| < delta_threshold``;
  otherwise "higher"/"lower" by the sign of delta. Edges: ``p == alpha`` IS significant and
  ``|delta| == delta_threshold`` IS a difference (both strict inequalities mean "same").
"""
from __future__ import annotations

import math
import warnings
import zlib

import numpy as np
import pandas as pd
from scipy import stats as sps

from .tables import (
    ENERGY_METRICS, HP_PREFIX, METRICS, OK, ORIGINAL, TASK_METRIC, empty_table, metric_sign,
    ok_runs, partner_key,
)

CORRELATION_COLUMNS = [
    "subject", "mode", "hyperparameter", "metric", "method", "coefficient", "p_value", "n",
    "ci_low", "ci_high", "q_value", "n_excluded", "note",
]
COMPARISON_COLUMNS = [
    "subject", "mode", "partner", "mutant_id", "hyperparameter", "operator", "original", "value",
    "metric", "metric_name", "n_original", "n_mutant", "n_excluded_original", "n_excluded_mutant",
    "mean_original", "mean_mutant", "sd_original", "sd_mutant", "rel_change", "rel_change_ci_low",
    "rel_change_ci_high", "t_statistic", "t_p", "mwu_statistic", "mwu_p", "test", "p_value",
    "cliffs_delta", "magnitude", "verdict", "outcome", "note",
]
WTL_COLUMNS = ["subject", "mode", "hyperparameter", "energy_metric", "energy_verdict",
               "performance_verdict", "count"]
SENS_MUTANT_COLUMNS = [
    "subject", "mutant_id", "hyperparameter", "value", "energy_metric", "rel_change_single",
    "rel_change_pair", "abs_change_diff", "verdict_single", "verdict_pair", "n_partners",
]
SENS_TEST_COLUMNS = [
    "scope", "energy_metric", "n", "mean_diff", "median_diff", "wilcoxon_statistic", "wilcoxon_p",
    "ttest_statistic", "ttest_p", "alternative", "note",
]
CV_COLUMNS = ["subject", "mode", "mutant_id", "partner", "metric", "n", "mean", "sd", "cv"]

VERDICTS = ("lower", "same", "higher")
OUTCOMES = ("better", "same", "worse")
UNDETERMINED = "undetermined"
#: Romano et al. (2006) magnitude thresholds for |Cliff's delta|.
CLIFF_THRESHOLDS = ((0.147, "negligible"), (0.33, "small"), (0.474, "medium"))


# ---------------------------------------------------------------- building blocks
def bh_qvalues(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values). NaN p-values stay NaN and are not counted
    in the family size."""
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    mask = np.isfinite(p)
    pv = p[mask]
    m = pv.size
    if m == 0:
        return q
    order = np.argsort(pv, kind="mergesort")
    scaled = pv[order] * m / np.arange(1, m + 1)
    qs = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.clip(qs, 0.0, 1.0)
    q[mask] = out
    return q


def cliffs_delta(x, y) -> float:
    """Cliff's delta of ``x`` over ``y``: P(x > y) - P(x < y) over all pairs (ties count 0)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        return math.nan
    return float(np.sign(x[:, None] - y[None, :]).mean())


def cliffs_magnitude(delta: float) -> str | float:
    """negligible < 0.147 <= small < 0.33 <= medium < 0.474 <= large (Romano et al.)."""
    if delta is None or not np.isfinite(delta):
        return math.nan
    a = abs(delta)
    for bound, label in CLIFF_THRESHOLDS:
        if a < bound:
            return label
    return "large"


def verdict(p: float, delta: float, alpha: float = 0.05, delta_threshold: float = 0.147):
    """The reference rule: "same" if p > alpha or |delta| < threshold, else the sign of delta."""
    if p is None or delta is None or not (np.isfinite(p) and np.isfinite(delta)):
        return math.nan
    if p > alpha or abs(delta) < delta_threshold:
        return "same"
    return "higher" if delta > 0 else "lower"


def outcome(verdict_value, lower_is_better: bool):
    """Map a direction verdict to better/same/worse."""
    if not isinstance(verdict_value, str):
        return math.nan
    if verdict_value == "same":
        return "same"
    good = "lower" if lower_is_better else "higher"
    return "better" if verdict_value == good else "worse"


def rng_for(seed: int, *key) -> np.random.Generator:
    """A generator seeded by ``seed`` and a stable hash of ``key`` (reproducible per test)."""
    h = zlib.crc32("\x1f".join(map(str, key)).encode())
    return np.random.default_rng(np.random.SeedSequence([int(seed), h]))


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xm = x - x.mean(axis=1, keepdims=True)
    ym = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xm * xm).sum(axis=1) * (ym * ym).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xm * ym).sum(axis=1) / den
    r[~(den > 0)] = np.nan
    return np.clip(r, -1.0, 1.0)


def bootstrap_corr_ci(x, y, method: str, n_boot: int, rng: np.random.Generator, ci: float = 0.95):
    """Percentile bootstrap CI of a Pearson/Spearman coefficient (pairs resampled). Resamples with
    constant x or y are dropped; NaN when fewer than half the resamples are usable."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.size
    if n < 3 or n_boot < 1:
        return math.nan, math.nan
    idx = rng.integers(0, n, size=(n_boot, n))
    xb, yb = x[idx], y[idx]
    if method == "spearman":
        xb = sps.rankdata(xb, axis=1)
        yb = sps.rankdata(yb, axis=1)
    r = _rowwise_pearson(xb, yb)
    r = r[np.isfinite(r)]
    if r.size < max(1, n_boot // 2):
        return math.nan, math.nan
    lo, hi = np.percentile(r, [50 * (1 - ci), 50 * (1 + ci)])
    return float(lo), float(hi)


def bootstrap_rel_change_ci(orig, mut, n_boot: int, rng: np.random.Generator, ci: float = 0.95):
    """Percentile bootstrap CI of mean(mut)/mean(orig) - 1 (each side resampled on its own)."""
    a = np.asarray(orig, dtype=float)
    b = np.asarray(mut, dtype=float)
    if a.size < 2 or b.size < 2 or n_boot < 1:
        return math.nan, math.nan
    ma = a[rng.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1)
    mb = b[rng.integers(0, b.size, size=(n_boot, b.size))].mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rc = mb / ma - 1.0
    rc = rc[np.isfinite(rc)]
    if rc.size < max(1, n_boot // 2):
        return math.nan, math.nan
    lo, hi = np.percentile(rc, [50 * (1 - ci), 50 * (1 + ci)])
    return float(lo), float(hi)


def _metrics_present(df: pd.DataFrame, metrics) -> list[str]:
    return [m for m in metrics if m in df.columns]


# ---------------------------------------------------------------- correlations
def correlations(runs: pd.DataFrame, n_boot: int = 1000, seed: int = 0, ci: float = 0.95,
                 metrics=METRICS) -> pd.DataFrame:
    """Pearson and Spearman correlation of each hyperparameter with each metric, per subject x mode.

    One row per subject x mode x hyperparameter x metric x method, with coefficient, p, n, a
    bootstrap percentile CI and the BH q-value (family: method within subject x mode). Constant x
    or y, fewer than 3 points, or a missing ``hp_<h>`` column give NaN with a ``note``.
    """
    rows = []
    for (subject, mode), grp in runs.groupby(["subject", "mode"], sort=True, dropna=False):
        hps = sorted(h for h in grp["hyperparameter"].dropna().unique() if h != ORIGINAL)
        for h in hps:
            pts_all = grp[grp["hyperparameter"].isin([ORIGINAL, h])]
            pts = pts_all[pts_all["status"] == OK]
            n_excl = int(len(pts_all) - len(pts))
            col = HP_PREFIX + str(h)
            for metric in _metrics_present(pts, metrics):
                y_all = pd.to_numeric(pts[metric], errors="coerce")
                if y_all.isna().all():
                    continue  # metric not measured for this group
                base = dict(subject=subject, mode=mode, hyperparameter=h, metric=metric,
                            n_excluded=n_excl)
                if col not in pts.columns:
                    for method in ("pearson", "spearman"):
                        rows.append(dict(base, method=method, n=0, note=f"no column {col}"))
                    continue
                x_all = pd.to_numeric(pts[col], errors="coerce")
                keep = x_all.notna() & y_all.notna()
                x = x_all[keep].to_numpy(float)
                y = y_all[keep].to_numpy(float)
                n = int(x.size)
                note = ""
                if n < 3:
                    note = "fewer than 3 points"
                elif np.ptp(x) == 0:
                    note = "constant hyperparameter value (zero variance)"
                elif np.ptp(y) == 0:
                    note = "constant metric (zero variance)"
                rng = rng_for(seed, subject, mode, h, metric)
                state = rng.bit_generator.state
                for method in ("pearson", "spearman"):
                    row = dict(base, method=method, n=n, note=note or np.nan)
                    if not note:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            res = (sps.pearsonr(x, y) if method == "pearson" else sps.spearmanr(x, y))
                        row["coefficient"] = float(res.statistic)
                        row["p_value"] = float(res.pvalue)
                        rng.bit_generator.state = state  # same resamples for both methods
                        row["ci_low"], row["ci_high"] = bootstrap_corr_ci(x, y, method, n_boot, rng, ci)
                    rows.append(row)
    if not rows:
        return empty_table(CORRELATION_COLUMNS)
    out = pd.DataFrame(rows).reindex(columns=CORRELATION_COLUMNS)
    for c in ("coefficient", "p_value", "ci_low", "ci_high", "q_value"):
        out[c] = out[c].astype(float)
    for _, idx in out.groupby(["subject", "mode", "method"]).groups.items():
        out.loc[idx, "q_value"] = bh_qvalues(out.loc[idx, "p_value"].to_numpy(float))
    return out


# ---------------------------------------------------------------- mutant vs original
def _two_sample(a: np.ndarray, b: np.ndarray):
    """Welch t and Mann-Whitney U of b (mutant) vs a (original); NaN where undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = sps.ttest_ind(b, a, equal_var=False)
        t_stat, t_p = float(t.statistic), float(t.pvalue)
        try:
            u = sps.mannwhitneyu(b, a, alternative="two-sided")
            u_stat, u_p = float(u.statistic), float(u.pvalue)
        except ValueError:
            u_stat, u_p = math.nan, math.nan
    return t_stat, t_p, u_stat, u_p


def compare_mutants(runs: pd.DataFrame, alpha: float = 0.05, delta_threshold: float = 0.147,
                    n_boot: int = 1000, seed: int = 0, ci: float = 0.95, test: str = "welch",
                    metrics=METRICS) -> pd.DataFrame:
    """Each mutant vs the original of the same subject and mode (and same partner in pair mode).

    Per metric: Welch's t-test, Mann-Whitney U, Cliff's delta (mutant over original) and its
    magnitude, relative change of the mean (mutant/original - 1) with a bootstrap CI, and the
    verdict lower/same/higher (see module doc; ``test`` picks the p-value: "welch" as the reference
    study, or "mwu"). ``outcome`` turns the verdict into better/same/worse: lower is better for
    energies and duration, and for the task metric unless its name is in LOWER_IS_BETTER_METRICS.
    Fewer than 2 ok runs on a side: verdict NaN with a note.
    """
    if test not in ("welch", "mwu"):
        raise ValueError(f"test must be 'welch' or 'mwu', not {test!r}")
    rows = []
    runs = runs.assign(_partner=partner_key(runs["partner"]))
    for (subject, mode), grp in runs.groupby(["subject", "mode"], sort=True, dropna=False):
        pair = mode == "pair"
        originals = grp[grp["hyperparameter"] == ORIGINAL]
        mutants = grp[grp["hyperparameter"] != ORIGINAL]
        metric_name = grp["metric_name"].dropna()
        metric_name = metric_name.mode().iloc[0] if not metric_name.empty else np.nan
        lower_better_task = metric_sign(metric_name) < 0
        keys = ["mutant_id", "_partner"] if pair else ["mutant_id"]
        for key, mgrp in mutants.groupby(keys, sort=True, dropna=False):
            mutant_id = key[0] if isinstance(key, tuple) else key
            partner = key[1] if pair else ""
            ogrp = originals[originals["_partner"] == partner] if pair else originals
            first = mgrp.iloc[0]
            m_ok, o_ok = mgrp[mgrp["status"] == OK], ogrp[ogrp["status"] == OK]
            for metric in _metrics_present(grp, metrics):
                a = pd.to_numeric(o_ok[metric], errors="coerce").dropna().to_numpy(float)
                b = pd.to_numeric(m_ok[metric], errors="coerce").dropna().to_numpy(float)
                if a.size == 0 and b.size == 0:
                    continue  # metric not measured here
                row = dict(
                    subject=subject, mode=mode, partner=partner if pair else np.nan,
                    mutant_id=mutant_id, hyperparameter=first["hyperparameter"],
                    operator=first["operator"], original=first["original"], value=first["value"],
                    metric=metric, metric_name=metric_name if metric == TASK_METRIC else np.nan,
                    n_original=int(a.size), n_mutant=int(b.size),
                    n_excluded_original=int((ogrp["status"] != OK).sum()),
                    n_excluded_mutant=int((mgrp["status"] != OK).sum()),
                    mean_original=a.mean() if a.size else np.nan,
                    mean_mutant=b.mean() if b.size else np.nan,
                    sd_original=a.std(ddof=1) if a.size > 1 else np.nan,
                    sd_mutant=b.std(ddof=1) if b.size > 1 else np.nan, test=test,
                )
                if a.size and b.size and row["mean_original"] != 0:
                    row["rel_change"] = row["mean_mutant"] / row["mean_original"] - 1.0
                if ogrp.empty:
                    row["note"] = "no original run" + (f" with partner {partner!r}" if pair else "")
                    rows.append(row)
                    continue
                if a.size < 2 or b.size < 2:
                    row["note"] = f"fewer than 2 ok runs (original {a.size}, mutant {b.size})"
                    row["cliffs_delta"] = cliffs_delta(b, a)
                    row["magnitude"] = cliffs_magnitude(row["cliffs_delta"])
                    rows.append(row)
                    continue
                t_stat, t_p, u_stat, u_p = _two_sample(a, b)
                d = cliffs_delta(b, a)
                p = t_p if test == "welch" else u_p
                note = np.nan
                if not np.isfinite(p) and np.ptp(a) == 0 and np.ptp(b) == 0 and a[0] == b[0]:
                    v, note = "same", "identical constant samples"
                else:
                    v = verdict(p, d, alpha, delta_threshold)
                    if not isinstance(v, str):
                        note = "test undefined (zero variance)"
                rng = rng_for(seed, subject, mode, partner, mutant_id, metric)
                lo, hi = bootstrap_rel_change_ci(a, b, n_boot, rng, ci)
                lower_better = lower_better_task if metric == TASK_METRIC else True
                row.update(t_statistic=t_stat, t_p=t_p, mwu_statistic=u_stat, mwu_p=u_p,
                           p_value=p, cliffs_delta=d, magnitude=cliffs_magnitude(d), verdict=v,
                           outcome=outcome(v, lower_better), rel_change_ci_low=lo,
                           rel_change_ci_high=hi, note=note)
                rows.append(row)
    if not rows:
        return empty_table(COMPARISON_COLUMNS)
    return pd.DataFrame(rows).reindex(columns=COMPARISON_COLUMNS)


# ---------------------------------------------------------------- win / tie / loss
def win_tie_loss(comparisons: pd.DataFrame, energy_metrics=ENERGY_METRICS) -> pd.DataFrame:
    """The reference study's 3x3 tables in long form: per subject x mode x hyperparameter x energy
    metric, how many mutant comparisons (mutant x partner in pair mode) had each energy verdict
    (lower/same/higher) and performance verdict (better/same/worse, from the task metric). All 9
    cells are listed (count 0 included); comparisons without a verdict on either side are counted
    under "undetermined", so the counts always add up to the number of mutant comparisons."""
    if comparisons.empty:
        return empty_table(WTL_COLUMNS)
    c = comparisons.assign(_partner=partner_key(comparisons["partner"]))
    keys = ["subject", "mode", "_partner", "mutant_id"]
    perf = (c[c["metric"] == TASK_METRIC][keys + ["outcome"]]
            .rename(columns={"outcome": "performance_verdict"}).drop_duplicates(keys))
    en = c[c["metric"].isin(list(energy_metrics))][keys + ["hyperparameter", "metric", "verdict"]]
    if en.empty:
        return empty_table(WTL_COLUMNS)
    en = en.rename(columns={"metric": "energy_metric", "verdict": "energy_verdict"})
    m = en.merge(perf, on=keys, how="left")
    m["energy_verdict"] = m["energy_verdict"].where(m["energy_verdict"].isin(VERDICTS), UNDETERMINED)
    m["performance_verdict"] = m["performance_verdict"].where(
        m["performance_verdict"].isin(OUTCOMES), UNDETERMINED)
    gkeys = ["subject", "mode", "hyperparameter", "energy_metric"]
    grid = [(e, p) for e in VERDICTS for p in OUTCOMES]
    rows = []
    for g, sub in m.groupby(gkeys, sort=True):
        pairs = list(zip(sub["energy_verdict"], sub["performance_verdict"]))
        for e, p in grid + sorted(set(pairs) - set(grid)):
            rows.append(dict(zip(gkeys, g), energy_verdict=e, performance_verdict=p,
                             count=sum(1 for x in pairs if x == (e, p))))
    return pd.DataFrame(rows).reindex(columns=WTL_COLUMNS)


# ---------------------------------------------------------------- single vs pair
def sensitivity(runs: pd.DataFrame, comparisons: pd.DataFrame,
                energy_metric: str = "total_energy_j", alternative: str = "two-sided",
                cv_metrics=ENERGY_METRICS + ("duration_s",)):
    """Is energy more sensitive to hyperparameter changes in pair mode than alone?

    Returns ``(per_mutant, tests, cv)``:

    * per_mutant: each mutant with a relative ``energy_metric`` change vs its own original in both
      modes (pair: mean over partners), and ``abs_change_diff = |change_pair| - |change_single|``.
    * tests: Wilcoxon signed-rank and paired t-test of that difference (against 0; ``alternative``
      as in SciPy, "greater" asks "larger in pair mode"), per subject and ``overall``.
    * cv: repeat-run coefficient of variation (sd/mean, ddof=1) per configuration, mode, partner
      and metric, over ok runs.
    """
    per = empty_table(SENS_MUTANT_COLUMNS)
    if not comparisons.empty:
        c = comparisons[(comparisons["metric"] == energy_metric) & comparisons["rel_change"].notna()]
        s = c[c["mode"] == "single"].drop_duplicates(["subject", "mutant_id"])
        p = (c[c["mode"] == "pair"].groupby(["subject", "mutant_id"], as_index=False)
             .agg(rel_change_pair=("rel_change", "mean"), n_partners=("rel_change", "size"),
                  verdict_pair=("verdict", lambda v: v.iloc[0] if v.nunique(dropna=False) == 1 else "mixed")))
        if not s.empty and not p.empty:
            per = s.rename(columns={"rel_change": "rel_change_single", "verdict": "verdict_single"}).merge(
                p, on=["subject", "mutant_id"], how="inner")
            per["energy_metric"] = energy_metric
            per["abs_change_diff"] = per["rel_change_pair"].abs() - per["rel_change_single"].abs()
            per = per.reindex(columns=SENS_MUTANT_COLUMNS).reset_index(drop=True)
    tests = []
    scopes = [(str(sj), g) for sj, g in per.groupby("subject", sort=True)] + [("overall", per)]
    for scope, g in scopes:
        d = g["abs_change_diff"].to_numpy(float) if len(g) else np.array([])
        row = dict(scope=scope, energy_metric=energy_metric, n=int(d.size), alternative=alternative,
                   mean_diff=d.mean() if d.size else np.nan,
                   median_diff=float(np.median(d)) if d.size else np.nan)
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
        row["note"] = "; ".join(notes) if notes else np.nan
        tests.append(row)
    tests_df = pd.DataFrame(tests).reindex(columns=SENS_TEST_COLUMNS)

    cv_rows = []
    ok = ok_runs(runs).assign(_partner=partner_key(runs["partner"]))
    for (subject, mode, mutant_id, partner), g in ok.groupby(
            ["subject", "mode", "mutant_id", "_partner"], sort=True):
        for metric in _metrics_present(g, cv_metrics):
            v = pd.to_numeric(g[metric], errors="coerce").dropna().to_numpy(float)
            if v.size == 0:
                continue
            mean = v.mean()
            sd = v.std(ddof=1) if v.size > 1 else np.nan
            cv_rows.append(dict(subject=subject, mode=mode, mutant_id=mutant_id,
                                partner=partner or np.nan, metric=metric, n=int(v.size), mean=mean,
                                sd=sd, cv=sd / mean if mean != 0 else np.nan))
    cv = pd.DataFrame(cv_rows).reindex(columns=CV_COLUMNS) if cv_rows else empty_table(CV_COLUMNS)
    return per, tests_df, cv
