"""Question 2: does a mutant use more or less energy than its original, and at what cost to the
task? Each mutant against the original of the same subject, mode and partner (compare_mutants),
the reference study's win/tie/loss tables (win_tie_loss), and the repeat-run variability.

Conventions (all tested):

* Two-sample test of a verdict: Welch's t-test (default), Student's t-test (equal variances: what
  the reference study used, scipy's ``ttest_ind`` default) or Mann-Whitney U. The t-test and
  Mann-Whitney U are both always computed; where one is significant at ``alpha`` and the other is
  not, ``tests_disagree`` is true and the note says so. ``mwu_min_p`` is the smallest p the rank
  test could give with those samples' sizes and ties (3 runs a side: 0.1); where it is above
  ``alpha`` the rank test cannot confirm anything, ``tests_disagree`` is empty (not assessable)
  and the note says so where the t-test is significant.
* The task metric's direction is the runs table's ``metric_direction`` (declared by the subject).
* Bootstrap (greenhp.analysis.resampling): a mutant's relative changes share their resamples
  (each side, mutant and original, resampled on its own; the original's resamples serve every
  mutant).
* Cliff's delta of mutant vs original: P(mutant > original) - P(mutant < original).
* Verdict (the reference rule): "same" when ``p > alpha`` or ``|delta| < delta_threshold``;
  otherwise "higher"/"lower" by the sign of delta. Edges: ``p == alpha`` IS significant and
  ``|delta| == delta_threshold`` IS a difference (both strict inequalities mean "same").
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from .groups import metrics_present, run_groups
from .resampling import bootstrap_means, percentile_ci
from .tables import (
    ENERGY_METRICS, METRICS, MINIMIZE, OK, ORIGINAL, TASK_METRIC, direction_of, empty_table,
    ok_runs, partner_key, sort_natural,
)

COMPARISON_COLUMNS = [
    "subject", "mode", "partner", "mutant_id", "hyperparameter", "operator", "original", "value",
    "metric", "metric_name", "metric_direction", "n_original", "n_mutant", "n_excluded_original", "n_excluded_mutant",
    "mean_original", "mean_mutant", "sd_original", "sd_mutant", "rel_change", "rel_change_ci_low",
    "rel_change_ci_high", "t_statistic", "t_p", "mwu_statistic", "mwu_p", "mwu_min_p", "test",
    "p_value", "cliffs_delta", "magnitude", "verdict", "outcome", "tests_disagree", "note",
]
WTL_COLUMNS = ["subject", "mode", "partner", "hyperparameter", "energy_metric", "energy_verdict",
               "performance_verdict", "count"]
CV_COLUMNS = ["subject", "mode", "mutant_id", "partner", "metric", "n", "mean", "sd", "cv"]

VERDICTS = ("lower", "same", "higher")
OUTCOMES = ("better", "same", "worse")
UNDETERMINED = "undetermined"
#: Romano et al. (2006) magnitude thresholds for |Cliff's delta|.
CLIFF_THRESHOLDS = ((0.147, "negligible"), (0.33, "small"), (0.474, "medium"))


def cliffs_delta(x, y) -> float:
    """Cliff's delta of ``x`` over ``y``: P(x > y) - P(x < y) over all pairs (ties count 0)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        return math.nan
    ys = np.sort(y)  # counts by binary search: O((nx + ny) log ny), exact
    below = np.searchsorted(ys, x, side="left").sum()  # pairs with y < x
    above = (ys.size - np.searchsorted(ys, x, side="right")).sum()  # pairs with y > x
    return float((int(below) - int(above)) / (x.size * y.size))


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


def _rel_change_ci(means_orig, means_mut, n_boot: int, ci: float) -> tuple[float, float]:
    """Percentile CI of mean(mut)/mean(orig) - 1 from the two sides' bootstrap means."""
    if means_orig is None or means_mut is None:
        return math.nan, math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return percentile_ci(means_mut / means_orig - 1.0, n_boot, ci)


def _direction(grp: pd.DataFrame) -> str | float:
    """The group's task-metric direction, NaN where it declares none."""
    d = direction_of(grp)
    return d if d is not None else np.nan


TESTS = ("welch", "student", "mwu")


def _two_sample(a: np.ndarray, b: np.ndarray, equal_var: bool = False):
    """t-test (Welch, or Student with ``equal_var``) and Mann-Whitney U of b (mutant) vs a
    (original); NaN where undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = sps.ttest_ind(b, a, equal_var=equal_var)
        t_stat, t_p = float(t.statistic), float(t.pvalue)
        try:
            u = sps.mannwhitneyu(b, a, alternative="two-sided")
            u_stat, u_p = float(u.statistic), float(u.pvalue)
        except ValueError:
            u_stat, u_p = math.nan, math.nan
    return t_stat, t_p, u_stat, u_p


def _two_sample_many(a: np.ndarray, bs: list[np.ndarray], equal_var: bool = False) -> list[tuple]:
    """_two_sample(a, b) for every b in ``bs``. Samples of one size above 8 go to scipy as one
    stacked array (one call per test instead of one per mutant; scipy picks its asymptotic
    Mann-Whitney p for every row alike only when both sizes exceed 8, so smaller ones go alone)."""
    out: list = [None] * len(bs)
    by_size: dict[int, list[int]] = {}
    for i, b in enumerate(bs):
        if a.size > 8 and b.size > 8:
            by_size.setdefault(b.size, []).append(i)
        else:
            out[i] = _two_sample(a, b, equal_var)
    for rows in by_size.values():
        stack = np.vstack([bs[i] for i in rows])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = sps.ttest_ind(stack, a[None, :], axis=1, equal_var=equal_var)
            u = sps.mannwhitneyu(stack, a[None, :], axis=1, alternative="two-sided")
        for j, i in enumerate(rows):
            out[i] = (float(t.statistic[j]), float(t.pvalue[j]), float(u.statistic[j]),
                      float(u.pvalue[j]))
    return out


@functools.lru_cache(maxsize=4096)
def _mwu_split_p(n_low: int, ranks: tuple) -> float:
    """Two-sided Mann-Whitney p (as _two_sample asks scipy) of the pooled values whose sorted
    midranks are ``ranks``, split into the ``n_low`` lowest and the rest."""
    r = np.asarray(ranks, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(sps.mannwhitneyu(r[:n_low], r[n_low:], alternative="two-sided").pvalue)
        except ValueError:
            return math.nan


def mwu_min_p(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest two-sided p Mann-Whitney U can give for samples the sizes of ``a`` and ``b``
    with their pooled ties, by the method scipy's ``mannwhitneyu`` uses for them (as _two_sample
    calls it: exact when there are no ties and one size is at most 8, else the normal
    approximation with tie and continuity corrections): the p of the most extreme assignment of
    the pooled values, the ``len(b)`` lowest or highest to one side. Without ties and by the exact
    method that is 2 / C(n_a + n_b, n_a): 0.1 for 3 and 3 runs, 0.029 for 4 and 4. NaN for an
    empty side."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        return math.nan
    pooled = np.sort(np.concatenate([a, b]))
    if np.unique(pooled).size == pooled.size:  # no ties: depends on the sizes alone
        ranks = tuple(range(1, pooled.size + 1))
    else:
        ranks = tuple(sps.rankdata(pooled).tolist())
    return min(_mwu_split_p(b.size, ranks), _mwu_split_p(a.size, ranks))


@dataclass(frozen=True)
class _Options:
    """The settings of one compare_mutants call."""
    alpha: float
    delta_threshold: float
    n_boot: int
    seed: int
    ci: float
    test: str

    @property
    def equal_var(self) -> bool:
        return self.test == "student"

    @property
    def t_name(self) -> str:
        return "Student t" if self.equal_var else "Welch t"


@dataclass
class _Group:
    """One subject x mode x partner, ready to compare: the original's ok values and bootstrap
    means per metric, and each mutant's (id, runs, ok values as runs x metrics, ok values per
    metric)."""
    key: tuple
    metric_name: object
    direction: object
    present: list
    has_original: bool
    n_excluded_original: int
    o_vals: dict
    o_means: dict
    mutants: list


def _finite_by_metric(present: list, mat: np.ndarray) -> dict:
    """Each metric's finite values (the columns of ``mat``, runs x metrics)."""
    return {m: v[np.isfinite(v)] for m, v in zip(present, mat.T)}


def _prepare_group(subject, mode, partner, grp: pd.DataFrame, metrics, opts: _Options) -> _Group:
    """Split one subject x mode x partner into its original and its mutants (ok values per metric;
    the original's bootstrap means, which serve every mutant)."""
    originals = grp[grp["hyperparameter"] == ORIGINAL]
    mutants = grp[grp["hyperparameter"] != ORIGINAL]
    metric_name = grp["metric_name"].dropna()
    metric_name = metric_name.iloc[0] if not metric_name.empty else np.nan
    present = metrics_present(grp, metrics)
    o_mat = originals[originals["status"] == OK][present].to_numpy(float)
    o_means = dict(zip(present, bootstrap_means(o_mat, opts.n_boot, opts.seed,
                                                (subject, mode, partner, "original"))))
    by_mutant = []
    for mutant_id, mgrp in mutants.groupby("mutant_id", sort=False):
        m_mat = mgrp[mgrp["status"] == OK][present].to_numpy(float)
        by_mutant.append((mutant_id, mgrp, m_mat, _finite_by_metric(present, m_mat)))
    return _Group(key=(subject, mode, partner), metric_name=metric_name,
                  direction=_direction(grp), present=present,
                  has_original=not originals.empty,
                  n_excluded_original=int((originals["status"] != OK).sum()),
                  o_vals=_finite_by_metric(present, o_mat), o_means=o_means, mutants=by_mutant)


def _test_group(g: _Group, equal_var: bool) -> dict:
    """(mutant id, metric) -> (t statistic, t p, U, U p) for every mutant with 2 ok runs or more
    against an original with as many, one batch per metric."""
    tested = {}
    if not g.has_original:
        return tested
    for metric in g.present:
        a = g.o_vals[metric]
        todo = [(mid, vals[metric]) for mid, _, _, vals in g.mutants
                if a.size >= 2 and vals[metric].size >= 2]
        for (mid, _), res in zip(todo, _two_sample_many(a, [b for _, b in todo], equal_var)):
            tested[mid, metric] = res
    return tested


def _describe(g: _Group, mutant_id, first: pd.Series, mgrp: pd.DataFrame, metric: str,
              a: np.ndarray, b: np.ndarray, test: str) -> dict:
    """One comparison's identity, run counts, means and sds, and the relative change of the means."""
    subject, mode, partner = g.key
    task = metric == TASK_METRIC
    row = dict(
        subject=subject, mode=mode, partner=partner if mode == "pair" else np.nan,
        mutant_id=mutant_id, hyperparameter=first["hyperparameter"],
        operator=first["operator"], original=first["original"], value=first["value"],
        metric=metric, metric_name=g.metric_name if task else np.nan,
        metric_direction=g.direction if task else MINIMIZE,
        n_original=int(a.size), n_mutant=int(b.size),
        n_excluded_original=g.n_excluded_original,
        n_excluded_mutant=int((mgrp["status"] != OK).sum()),
        mean_original=a.mean() if a.size else np.nan,
        mean_mutant=b.mean() if b.size else np.nan,
        sd_original=a.std(ddof=1) if a.size > 1 else np.nan,
        sd_mutant=b.std(ddof=1) if b.size > 1 else np.nan, test=test,
    )
    if a.size and b.size and row["mean_original"] != 0:
        row["rel_change"] = row["mean_mutant"] / row["mean_original"] - 1.0
    return row


def _second_opinion(t_p: float, u_p: float, u_min: float, n_mutant: int, n_original: int,
                    opts: _Options, notes: list) -> bool | float:
    """Whether the t-test and Mann-Whitney U fall on different sides of alpha (NaN where that is
    not assessable: a p undefined, or the rank test unable to reach alpha); adds the note."""
    alpha = opts.alpha
    if np.isfinite(t_p) and np.isfinite(u_p) and not u_min > alpha:
        disagree = bool((t_p <= alpha) != (u_p <= alpha))
        if disagree:
            notes.append(f"the tests disagree: {opts.t_name} p = {t_p:.3g}, Mann-Whitney "
                         f"p = {u_p:.3g} (alpha {alpha:g}); the verdict uses {opts.test}")
        return disagree
    if np.isfinite(t_p) and t_p <= alpha:  # the rank test could not have agreed
        notes.append(f"Mann-Whitney U cannot reach p <= {alpha:g} with {n_mutant} and "
                     f"{n_original} runs (smallest p {u_min:.2g}): no second opinion")
    return np.nan


def _judge(a: np.ndarray, b: np.ndarray, tested: tuple, metric: str, direction,
           opts: _Options) -> dict:
    """The tests, Cliff's delta, the verdict and its outcome of one comparison with at least 2
    ok runs a side."""
    t_stat, t_p, u_stat, u_p = tested
    d = cliffs_delta(b, a)
    p = u_p if opts.test == "mwu" else t_p
    notes = []
    if not np.isfinite(p) and np.ptp(a) == 0 and np.ptp(b) == 0 and a[0] == b[0]:
        v = "same"
        notes.append("identical constant samples")
    else:
        v = verdict(p, d, opts.alpha, opts.delta_threshold)
        if not isinstance(v, str):
            notes.append("test undefined (zero variance)")
    u_min = mwu_min_p(a, b)
    disagree = _second_opinion(t_p, u_p, u_min, b.size, a.size, opts, notes)
    lower_better = direction == MINIMIZE if metric == TASK_METRIC else True
    return dict(t_statistic=t_stat, t_p=t_p, mwu_statistic=u_stat, mwu_p=u_p, mwu_min_p=u_min,
                p_value=p, cliffs_delta=d, magnitude=cliffs_magnitude(d), verdict=v,
                outcome=outcome(v, lower_better) if direction in ("maximize", "minimize")
                or metric != TASK_METRIC else np.nan,
                tests_disagree=disagree, note="; ".join(notes) if notes else np.nan)


def _compare_group(g: _Group, opts: _Options) -> list[dict]:
    """The comparison rows of one subject x mode x partner: each mutant, each metric measured."""
    tested = _test_group(g, opts.equal_var)
    rows = []
    for mutant_id, mgrp, m_mat, m_vals in g.mutants:
        first = mgrp.iloc[0]
        m_means = None  # drawn only when a comparison needs them
        for metric in g.present:
            a, b = g.o_vals[metric], m_vals[metric]
            if a.size == 0 and b.size == 0:
                continue  # metric not measured here
            row = _describe(g, mutant_id, first, mgrp, metric, a, b, opts.test)
            if not g.has_original:
                row["note"] = "no original run" + (
                    f" with partner {g.key[2]!r}" if g.key[1] == "pair" else "")
            elif a.size < 2 or b.size < 2:
                row["note"] = f"fewer than 2 ok runs (original {a.size}, mutant {b.size})"
                row["cliffs_delta"] = cliffs_delta(b, a)
                row["magnitude"] = cliffs_magnitude(row["cliffs_delta"])
            else:
                if m_means is None:
                    m_means = dict(zip(g.present, bootstrap_means(
                        m_mat, opts.n_boot, opts.seed, g.key + ("mutant", mutant_id))))
                row.update(_judge(a, b, tested[mutant_id, metric], metric, g.direction, opts))
                row["rel_change_ci_low"], row["rel_change_ci_high"] = _rel_change_ci(
                    g.o_means[metric], m_means[metric], opts.n_boot, opts.ci)
            rows.append(row)
    return rows


def compare_mutants(runs: pd.DataFrame, alpha: float = 0.05, delta_threshold: float = 0.147,
                    n_boot: int = 1000, seed: int = 0, ci: float = 0.95, test: str = "welch",
                    metrics=METRICS) -> pd.DataFrame:
    """Each mutant vs the original of the same subject, mode and partner.

    Per metric: a t-test (``test`` "welch" or "student"; "mwu" reports Welch's), Mann-Whitney U,
    Cliff's delta (mutant over original) and its magnitude, relative change of the mean
    (mutant/original - 1) with a bootstrap CI, and the verdict lower/same/higher (see module doc;
    ``test`` picks the p-value of the verdict: "welch" (default), "student" (the reference study's
    test) or "mwu"). ``tests_disagree``: the t-test and Mann-Whitney U fall on different sides of
    ``alpha``; empty where the rank test cannot reach ``alpha`` with these samples
    (``mwu_min_p``, see mwu_min_p) and so cannot disagree in any informative way. ``outcome``
    turns the verdict into better/same/worse: lower is better for energies and duration; for the
    task metric it follows ``metric_direction``. Fewer than 2 ok runs on a side: verdict NaN with a
    note. Rows are sorted by subject, mode, partner, natural mutant id, metric.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}, not {test!r}")
    opts = _Options(alpha, delta_threshold, n_boot, seed, ci, test)
    rows = []
    for subject, mode, partner, grp in run_groups(runs):
        rows += _compare_group(_prepare_group(subject, mode, partner, grp, metrics, opts), opts)
    if not rows:
        return empty_table(COMPARISON_COLUMNS)
    out = pd.DataFrame(rows).reindex(columns=COMPARISON_COLUMNS)
    return sort_natural(out, ["subject", "mode", "partner", "mutant_id", "metric"],
                        order={"metric": metrics})


def win_tie_loss(comparisons: pd.DataFrame, energy_metrics=ENERGY_METRICS) -> pd.DataFrame:
    """The reference study's 3x3 tables in long form: per subject x mode x partner x hyperparameter
    x energy metric, how many mutant comparisons had each energy verdict (lower/same/higher) and
    performance verdict (better/same/worse, from the task metric). All 9 cells are listed (count 0
    included); comparisons without a verdict on either side are counted under "undetermined", so
    the counts always add up to the number of mutant comparisons."""
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
    gkeys = ["subject", "mode", "_partner", "hyperparameter", "energy_metric"]
    grid = [(e, p) for e in VERDICTS for p in OUTCOMES]
    rows = []
    for g, sub in m.groupby(gkeys, sort=True):
        pairs = list(zip(sub["energy_verdict"], sub["performance_verdict"]))
        base = dict(zip(gkeys, g))
        base["partner"] = base.pop("_partner") or np.nan
        for e, p in grid + sorted(set(pairs) - set(grid)):
            rows.append(dict(base, energy_verdict=e, performance_verdict=p,
                             count=sum(1 for x in pairs if x == (e, p))))
    return pd.DataFrame(rows).reindex(columns=WTL_COLUMNS)


def variability(runs: pd.DataFrame, metrics=ENERGY_METRICS + ("duration_s",)) -> pd.DataFrame:
    """Repeat-run coefficient of variation (sd/mean, ddof=1) per configuration, mode, partner and
    metric, over ok runs (CV_COLUMNS)."""
    cv_rows = []
    ok = ok_runs(runs).assign(_partner=partner_key(runs["partner"]))
    for (subject, mode, mutant_id, partner), g in ok.groupby(
            ["subject", "mode", "mutant_id", "_partner"], sort=True):
        for metric in metrics_present(g, metrics):
            v = g[metric].to_numpy(float)
            v = v[np.isfinite(v)]
            if v.size == 0:
                continue
            mean = v.mean()
            sd = v.std(ddof=1) if v.size > 1 else np.nan
            cv_rows.append(dict(subject=subject, mode=mode, mutant_id=mutant_id,
                                partner=partner or np.nan, metric=metric, n=int(v.size), mean=mean,
                                sd=sd, cv=sd / mean if mean != 0 else np.nan))
    cv = pd.DataFrame(cv_rows).reindex(columns=CV_COLUMNS) if cv_rows else empty_table(CV_COLUMNS)
    return sort_natural(cv, ["subject", "mode", "partner", "mutant_id", "metric"],
                        order={"metric": metrics})
