"""Statistics of a hyperparameter-energy study (the reference study's analyses, made sound).

Conventions (all tested):

* Groups: every statistic is computed per subject x mode x partner (single mode: partner empty);
  runs beside different partners are never pooled.
* Correlations: the points for hyperparameter *h* of subject *s* in mode *m* beside partner *p* are
  the ``ok`` runs of the original plus the ``ok`` runs of every mutant of *h*; x is the ``hp_<h>``
  column; ``n`` says how many points entered.
* Multiple testing: Benjamini-Hochberg q-values per **family = all tests of one method (pearson or
  spearman) within one subject x mode x partner** (every hyperparameter x metric there). The
  reference study did not correct at all.
* Two-sample test of a verdict: Welch's t-test (default), Student's t-test (equal variances: what
  the reference study used, scipy's ``ttest_ind`` default) or Mann-Whitney U. The t-test and
  Mann-Whitney U are both always computed; where one is significant at ``alpha`` and the other is
  not, ``tests_disagree`` is true and the note says so. ``mwu_min_p`` is the smallest p the rank
  test could give with those samples' sizes and ties (3 runs a side: 0.1); where it is above
  ``alpha`` the rank test cannot confirm anything, ``tests_disagree`` is empty (not assessable)
  and the note says so where the t-test is significant.
* The task metric's direction is the runs table's ``metric_direction`` (declared by the subject).
* Bootstrap: percentile intervals; each random stream is derived from ``seed`` and the identity of
  what it resamples (subject, mode, partner, hyperparameter or mutant, and the runs used), so a
  result does not depend on which other tests ran. The correlations of one hyperparameter with
  every metric share their resamples of the runs; so do a mutant's relative changes (each side,
  mutant and original, resampled on its own; the original's resamples serve every mutant).
* Cliff's delta of mutant vs original: P(mutant > original) - P(mutant < original).
* Verdict (the reference rule): "same" when ``p > alpha`` or ``|delta| < delta_threshold``;
  otherwise "higher"/"lower" by the sign of delta. Edges: ``p == alpha`` IS significant and
  ``|delta| == delta_threshold`` IS a difference (both strict inequalities mean "same").
"""
from __future__ import annotations

import functools
import math
import warnings
import zlib

import numpy as np
import pandas as pd
from scipy import stats as sps

from .tables import (
    ENERGY_METRICS, HP_PREFIX, METRICS, MINIMIZE, OK, ORIGINAL, TASK_METRIC, direction_of,
    empty_table, ok_runs, partner_key, sort_natural,
)

CORRELATION_COLUMNS = [
    "subject", "mode", "partner", "hyperparameter", "metric", "method", "coefficient", "p_value", "n",
    "ci_low", "ci_high", "q_value", "n_excluded", "note",
]
COMPARISON_COLUMNS = [
    "subject", "mode", "partner", "mutant_id", "hyperparameter", "operator", "original", "value",
    "metric", "metric_name", "metric_direction", "n_original", "n_mutant", "n_excluded_original", "n_excluded_mutant",
    "mean_original", "mean_mutant", "sd_original", "sd_mutant", "rel_change", "rel_change_ci_low",
    "rel_change_ci_high", "t_statistic", "t_p", "mwu_statistic", "mwu_p", "mwu_min_p", "test",
    "p_value", "cliffs_delta", "magnitude", "verdict", "outcome", "tests_disagree", "note",
]
WTL_COLUMNS = ["subject", "mode", "partner", "hyperparameter", "energy_metric", "energy_verdict",
               "performance_verdict", "count"]
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


def rng_for(seed: int, *key) -> np.random.Generator:
    """A generator seeded by ``seed`` and a stable hash of ``key`` (reproducible per test)."""
    h = zlib.crc32("\x1f".join(map(str, key)).encode())
    return np.random.default_rng(np.random.SeedSequence([int(seed), h]))


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Multiplicities of resample indices: counts[b, j] = how often item j is in resample b (an
    n_boot x n array, in the smallest integer type that holds them: reordering and running sums
    then move a byte per item instead of eight). Each resample's items are contiguous, so the
    running sums along a resample, which numpy does one element at a time, read memory in order."""
    nb = idx.shape[0]
    flat = (idx + np.arange(0, nb * n, n, dtype=np.int64)[:, None]).ravel()
    c = np.bincount(flat, minlength=n * nb).reshape(nb, n)
    return c.astype(np.uint8 if c.max() <= np.iinfo(np.uint8).max else np.int64)


class _Ties:
    """The tie groups of a sample: sorted order, group of each sorted item, group starts."""

    def __init__(self, v: np.ndarray):
        self.order = np.argsort(v, kind="mergesort")
        vs = v[self.order]
        new = np.r_[True, vs[1:] != vs[:-1]]
        self.starts = np.flatnonzero(new)
        self.group_sorted = np.cumsum(new) - 1
        self.group = np.empty(v.size, dtype=np.int64)
        self.group[self.order] = self.group_sorted
        self.k = int(self.starts.size)
        self.no_ties = self.k == v.size


class _Cells:
    """The cells (y tie group h, x tie group g) that hold items, in y order: the cross term of a
    tied y's rank correlation needs only each cell's weight."""

    def __init__(self, tx: _Ties, ty: _Ties):
        self.order = np.lexsort((tx.group, ty.group))  # by y group, then x group
        key = ty.group[self.order] * tx.k + tx.group[self.order]
        new = np.r_[True, key[1:] != key[:-1]]
        self.starts = np.flatnonzero(new)
        self.g = tx.group[self.order][self.starts]
        self.h = ty.group[self.order][self.starts]
        self.h_starts = np.flatnonzero(np.r_[True, self.h[1:] != self.h[:-1]])
        self.merged = self.starts.size < self.order.size


def _avg_ranks(wg: np.ndarray) -> np.ndarray:
    """Average rank (as scipy.stats.rankdata) of each tie group (columns, in order), given its
    weight in each resample (rows): the weight below it plus (weight + 1) / 2."""
    r = np.cumsum(wg, axis=1, dtype=float)
    r -= 0.5 * wg
    r += 0.5
    return r


def _cubes(wg: np.ndarray) -> np.ndarray:
    """Sum of the cubed tie-group weights of each resample (row)."""
    return np.einsum("ij,ij,ij->i", wg, wg, wg)


class _RankPlan:
    """Spearman rho of x with each y for every weighted resample, chunk by chunk (see ``chunk``):
    what does not depend on the resamples (orders, tie cells, the x group of each item in each
    y's order) is prepared once, and the working arrays are reused from chunk to chunk."""

    def __init__(self, tx: _Ties, tys: list[_Ties]):
        self.tx = tx
        self.small = tx.k <= 64
        n = tx.group.size
        if self.small:
            self.onehot = np.zeros((n, tx.k))
            self.onehot[np.arange(n), tx.group] = 1.0  # x group of each item
        self.ys = []
        for ty in tys:
            if not ty.no_ties:
                self.ys.append(("tied", _Cells(tx, ty)))
            elif self.small:
                self.ys.append(("free", (ty.order, self.onehot[ty.order])))
            else:
                self.ys.append(("free", (ty.order, tx.group[ty.order])))
        self._buf: dict = {}

    def _work(self, shape, dtype) -> np.ndarray:
        key = (shape, np.dtype(dtype))
        if key not in self._buf:
            self._buf[key] = np.empty(shape, dtype)
        return self._buf[key]

    def chunk(self, c: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
        """Spearman rho for every resample of a chunk (row b of the counts ``c``, and of the same
        as floats ``w``, holds w[b, j] copies of item j), without copying or sorting any resample.

        In a resample, item j's w_j copies tie, so the average rank of a tie group of weight W
        whose predecessors weigh C in all is C + (W + 1) / 2, and the sum of squared deviations of
        the ranks from their mean (n + 1) / 2 is (n^3 - sum W^3) / 12 (the usual tie correction).
        Only the cross term sum_j w_j rx_j ry_j needs y's order:
        - y without ties: ry_j = Cy_j - w_j / 2 + 1/2, Cy the running weight in y order, so the
          cross term is sum_g rx_g * (sum_{j in g} w_j Cy_j + sum_{j in g} w_j (1 - w_j) / 2), x
          in k <= 64 groups g: one integer running sum and one (n x k) matrix product per y, the
          second part shared by all y (x in more groups: each item's x rank instead);
        - tied y: sum over the cells (h, g) that hold items of W_hg rx_g ry_h.
        All terms are integers or halves, so the sums are exact in float64 for n up to ~10^5.
        Resamples with constant x or y give NaN."""
        tx, small = self.tx, self.small
        n = c.shape[1]
        n3 = float(n) ** 3
        m2 = n * ((n + 1) / 2.0) ** 2
        if small:
            wx = w @ self.onehot
        else:
            wx = np.add.reduceat(c[:, tx.order], tx.starts, axis=1, dtype=float)
        rx = _avg_ranks(wx)
        sxx = (n3 - _cubes(wx)) / 12.0
        shared = None
        acc_t = np.int64 if n * int(c.max()) >= 2 ** 31 else np.int32
        out = []
        for kind, plan in self.ys:
            if kind == "free":  # y without ties
                order, by_x = plan
                if shared is None:  # once per chunk: what every y without ties shares
                    shared = ((n3 - _cubes(w)) / 12.0,
                              (0.5 * (w - w * w)) @ self.onehot if small else None)
                syy = shared[0]
                cs = np.take(c, order, axis=1, out=self._work(c.shape, c.dtype))  # in y order
                ry = np.cumsum(cs, axis=1, dtype=acc_t, out=self._work(c.shape, acc_t))  # Cy_j
                if small:
                    ry *= cs
                    cross = np.einsum("ij,ij->i", rx, ry.astype(float) @ by_x + shared[1])
                else:
                    ryf = ry - 0.5 * cs + 0.5
                    cross = np.einsum("ij,ij,ij->i", cs, rx[:, by_x], ryf)
            else:
                cells = plan
                cw = c[:, cells.order]
                cw = (np.add.reduceat(cw, cells.starts, axis=1, dtype=float) if cells.merged
                      else cw.astype(float))  # weight of each cell
                wy = np.add.reduceat(cw, cells.h_starts, axis=1)
                syy = (n3 - _cubes(wy)) / 12.0
                cross = np.einsum("ij,ij,ij->i", cw, rx[:, cells.g], _avg_ranks(wy)[:, cells.h])
            with np.errstate(invalid="ignore", divide="ignore"):
                r = (cross - m2) / np.sqrt(sxx * syy)
            r[~((sxx > 0) & (syy > 0))] = np.nan  # constant x or y
            out.append(np.clip(r, -1.0, 1.0))
        return out


def _pearson_terms(xc: np.ndarray, ycs: list[np.ndarray]) -> np.ndarray:
    """The rows (x, x^2, and y, y^2, xy per y) whose weighted sums give every Pearson r (x and y
    centred on the sample mean)."""
    rows = [xc, xc * xc]
    for yc in ycs:
        rows += [yc, yc * yc, xc * yc]
    return np.vstack(rows)


def _pearson_chunk(terms: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
    """Pearson r of x with each y for every weighted resample (rows of ``w``), from one matrix
    product of the weights with the _pearson_terms."""
    sums = (terms @ w.T) / w.shape[1]
    mx = sums[0]
    vx = sums[1] - mx * mx
    out = []
    for i in range((terms.shape[0] - 2) // 3):
        my, syy, sxy = sums[2 + 3 * i: 5 + 3 * i]
        vy = syy - my * my
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (sxy - mx * my) / np.sqrt(vx * vy)
        out.append(np.clip(r, -1.0, 1.0))
    return out


def _percentile_ci(r: np.ndarray, n_boot: int, ci: float) -> tuple[float, float]:
    """Percentile interval of the finite bootstrap replicates ``r``; NaN when fewer than half of
    the ``n_boot`` resamples gave one."""
    r = r[np.isfinite(r)]
    if r.size < max(1, n_boot // 2):
        return math.nan, math.nan
    lo, hi = np.percentile(r, [50 * (1 - ci), 50 * (1 + ci)])
    return float(lo), float(hi)


def bootstrap_corr_cis_many(x, ys, n_boot: int, rng: np.random.Generator, ci: float = 0.95,
                            chunk: int | None = None) -> list[dict[str, tuple[float, float]]]:
    """Percentile bootstrap CIs of the Pearson and the Spearman coefficient of ``x`` with each
    sample in ``ys`` (same length as x), all from the same resamples of the points (pairs
    resampled: the resamples are those of ``rng.integers(0, n, (n_boot, n))``, and the intervals
    equal those of copying them). Resamples with constant x or y are dropped; NaN when fewer than
    half the resamples are usable. Each resample is handled through item multiplicities (no copy of
    the data per resample), in chunks of ``chunk`` resamples (default: about 128k resampled items
    at a time, so that the passes over a chunk stay in the processor's cache; the intervals do not
    depend on it)."""
    x = np.asarray(x, dtype=float)
    ys = [np.asarray(y, dtype=float) for y in ys]
    n = x.size
    nan = (math.nan, math.nan)
    if n < 3 or n_boot < 1:
        return [{"pearson": nan, "spearman": nan} for _ in ys]
    idx = rng.integers(0, n, size=(n_boot, n))
    chunk = chunk or max(8, min(250, (1 << 17) // n))
    xc = x - x.mean()
    tx = _Ties(x)
    terms = _pearson_terms(xc, [y - y.mean() for y in ys])
    plan = _RankPlan(tx, [_Ties(y) for y in ys])
    rs = [{"pearson": [], "spearman": []} for _ in ys]
    for lo in range(0, n_boot, chunk):
        c = _counts(idx[lo:lo + chunk], n)
        w = c.astype(float)
        for acc, rsp, rp in zip(rs, plan.chunk(c, w), _pearson_chunk(terms, w)):
            acc["pearson"].append(np.where(np.isnan(rsp), np.nan, rp))  # same constant resamples
            acc["spearman"].append(rsp)
    return [{method: _percentile_ci(np.concatenate(parts), n_boot, ci)
             for method, parts in acc.items()} for acc in rs]


def bootstrap_corr_cis(x, y, n_boot: int, rng: np.random.Generator, ci: float = 0.95,
                       chunk: int | None = None) -> dict[str, tuple[float, float]]:
    """Pearson and Spearman bootstrap CIs of x with one y (see bootstrap_corr_cis_many)."""
    return bootstrap_corr_cis_many(x, [y], n_boot, rng, ci, chunk)[0]


def bootstrap_corr_ci(x, y, method: str, n_boot: int, rng: np.random.Generator, ci: float = 0.95):
    """Percentile bootstrap CI of a Pearson/Spearman coefficient (see bootstrap_corr_cis_many)."""
    return bootstrap_corr_cis(x, y, n_boot, rng, ci)[method]


def _rel_change_ci(means_orig, means_mut, n_boot: int, ci: float) -> tuple[float, float]:
    """Percentile CI of mean(mut)/mean(orig) - 1 from the two sides' bootstrap means."""
    if means_orig is None or means_mut is None:
        return math.nan, math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return _percentile_ci(means_mut / means_orig - 1.0, n_boot, ci)


#: Most resample weights (resamples x runs) held at once by bootstrap_means.
_BOOT_CELLS = 1 << 21


def bootstrap_means(values: np.ndarray, n_boot: int, seed: int, key: tuple) -> list:
    """Bootstrap means of each column of ``values`` (runs x metrics; NaN = not measured): the
    runs are resampled with replacement, ``n_boot`` times. Columns measured on the same runs share
    one set of resamples (so a mutant's relative changes in energy, duration and the metric come
    from the same resampled runs), drawn from a stream seeded by ``seed``, ``key`` and those runs:
    a column's means depend only on the runs it uses. None for a column with fewer than 2 runs."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    by_runs: dict[bytes, list[int]] = {}
    for j in range(values.shape[1]):
        by_runs.setdefault(np.packbits(finite[:, j]).tobytes(), []).append(j)
    out: list = [None] * values.shape[1]
    for runs_key, cols in by_runs.items():
        v = values[finite[:, cols[0]]][:, cols]
        k = v.shape[0]
        if k < 2 or n_boot < 1:
            continue
        rng = rng_for(seed, *key, k, zlib.crc32(runs_key))
        step = max(1, _BOOT_CELLS // k)
        means = np.concatenate([
            _counts(rng.integers(0, k, size=(min(step, n_boot - lo), k)), k).astype(float) @ v
            for lo in range(0, n_boot, step)]) / k
        for i, j in enumerate(cols):
            out[j] = means[:, i]
    return out


def _metrics_present(df: pd.DataFrame, metrics) -> list[str]:
    return [m for m in metrics if m in df.columns]


def _groups(runs: pd.DataFrame):
    """(subject, mode, partner, rows) per subject x mode x partner; partner "" in single mode."""
    r = runs.assign(_partner=partner_key(runs["partner"]).where(runs["mode"] == "pair", ""))
    for (subject, mode, partner), grp in r.groupby(["subject", "mode", "_partner"], sort=True,
                                                    dropna=False):
        yield subject, mode, partner, grp


def _direction(grp: pd.DataFrame) -> str | float:
    d = direction_of(grp)
    return d if d is not None else np.nan


# ---------------------------------------------------------------- correlations
def correlations(runs: pd.DataFrame, n_boot: int = 1000, seed: int = 0, ci: float = 0.95,
                 metrics=METRICS) -> pd.DataFrame:
    """Pearson and Spearman correlation of each hyperparameter with each metric, per subject x
    mode x partner.

    One row per subject x mode x partner x hyperparameter x metric x method, with coefficient, p,
    the number of points ``n``, a bootstrap percentile CI and the BH q-value (family: method within
    subject x mode x partner). Constant x or y, fewer than 3 points, or a missing ``hp_<h>`` column
    give NaN with a ``note``.
    """
    rows = []
    for subject, mode, partner, grp in _groups(runs):
        hps = sorted(h for h in grp["hyperparameter"].dropna().unique() if h != ORIGINAL)
        for h in hps:
            pts_all = grp[grp["hyperparameter"].isin([ORIGINAL, h])]
            pts = pts_all[pts_all["status"] == OK]
            n_excl = int(len(pts_all) - len(pts))
            col = HP_PREFIX + str(h)
            x_all = pd.to_numeric(pts[col], errors="coerce").to_numpy(float) if col in pts else None
            todo: dict[bytes, list] = {}  # metrics by the set of points they use
            for metric in _metrics_present(pts, metrics):
                y_all = pts[metric].to_numpy(float)
                if np.isnan(y_all).all():
                    continue  # metric not measured for this group
                base = dict(subject=subject, mode=mode, partner=partner or np.nan, hyperparameter=h,
                            metric=metric, n_excluded=n_excl)
                if x_all is None:
                    for method in ("pearson", "spearman"):
                        rows.append(dict(base, method=method, n=0, note=f"no column {col}"))
                    continue
                keep = np.isfinite(x_all) & np.isfinite(y_all)
                x, y = x_all[keep], y_all[keep]
                n = int(x.size)
                note = ""
                if n < 3:
                    note = "fewer than 3 points"
                elif np.ptp(x) == 0:
                    note = "constant hyperparameter value (zero variance)"
                elif np.ptp(y) == 0:
                    note = "constant metric (zero variance)"
                pair_rows = []
                for method in ("pearson", "spearman"):
                    row = dict(base, method=method, n=n, note=note or np.nan)
                    if not note:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            res = (sps.pearsonr(x, y) if method == "pearson" else sps.spearmanr(x, y))
                        row["coefficient"] = float(res.statistic)
                        row["p_value"] = float(res.pvalue)
                    rows.append(row)
                    pair_rows.append(row)
                if not note:
                    todo.setdefault(keep.tobytes(), []).append((x, y, pair_rows))
            for group in todo.values():
                # one set of resamples per subject x mode x partner x hyperparameter (and set of
                # points): every metric's interval comes from the same resampled runs
                x = group[0][0]
                key = (subject, mode, h) if not partner else (subject, mode, partner, h)
                cis = bootstrap_corr_cis_many(x, [y for _, y, _ in group], n_boot,
                                              rng_for(seed, *key, x.size), ci)
                for (_, _, pair_rows), c in zip(group, cis):
                    for row in pair_rows:
                        row["ci_low"], row["ci_high"] = c[row["method"]]
    if not rows:
        return empty_table(CORRELATION_COLUMNS)
    out = pd.DataFrame(rows).reindex(columns=CORRELATION_COLUMNS)
    for c in ("coefficient", "p_value", "ci_low", "ci_high", "q_value"):
        out[c] = out[c].astype(float)
    fam = out.assign(_p=partner_key(out["partner"]))
    for _, idx in fam.groupby(["subject", "mode", "_p", "method"]).groups.items():
        out.loc[idx, "q_value"] = bh_qvalues(out.loc[idx, "p_value"].to_numpy(float))
    return out


# ---------------------------------------------------------------- mutant vs original
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
    equal_var = test == "student"
    t_name = "Student t" if equal_var else "Welch t"
    rows = []
    for subject, mode, partner, grp in _groups(runs):
        pair = mode == "pair"
        originals = grp[grp["hyperparameter"] == ORIGINAL]
        mutants = grp[grp["hyperparameter"] != ORIGINAL]
        metric_name = grp["metric_name"].dropna()
        metric_name = metric_name.iloc[0] if not metric_name.empty else np.nan
        direction = _direction(grp)
        lower_better_task = direction == MINIMIZE
        present = _metrics_present(grp, metrics)
        o_ok = originals[originals["status"] == OK]
        o_mat = o_ok[present].to_numpy(float)
        o_vals = {m: v[np.isfinite(v)] for m, v in zip(present, o_mat.T)}
        n_excl_o = int((originals["status"] != OK).sum())
        o_means = dict(zip(present, bootstrap_means(o_mat, n_boot, seed,
                                                    (subject, mode, partner, "original"))))
        by_mutant = []  # (mutant id, its runs, its ok values per metric)
        for mutant_id, mgrp in mutants.groupby("mutant_id", sort=False):
            m_ok = mgrp[mgrp["status"] == OK]
            m_mat = m_ok[present].to_numpy(float)
            by_mutant.append((mutant_id, mgrp, m_mat,
                              {m: v[np.isfinite(v)] for m, v in zip(present, m_mat.T)}))
        tested = {}  # (mutant id, metric) -> the two tests, one batch per metric
        if not originals.empty:
            for metric in present:
                a = o_vals[metric]
                todo = [(mid, vals[metric]) for mid, _, _, vals in by_mutant
                        if a.size >= 2 and vals[metric].size >= 2]
                for (mid, _), res in zip(todo, _two_sample_many(a, [b for _, b in todo], equal_var)):
                    tested[mid, metric] = res
        for mutant_id, mgrp, m_mat, m_vals in by_mutant:
            first = mgrp.iloc[0]
            m_means = None  # drawn only when a comparison needs them
            for metric in present:
                a = o_vals[metric]
                b = m_vals[metric]
                if a.size == 0 and b.size == 0:
                    continue  # metric not measured here
                row = dict(
                    subject=subject, mode=mode, partner=partner if pair else np.nan,
                    mutant_id=mutant_id, hyperparameter=first["hyperparameter"],
                    operator=first["operator"], original=first["original"], value=first["value"],
                    metric=metric, metric_name=metric_name if metric == TASK_METRIC else np.nan,
                    metric_direction=direction if metric == TASK_METRIC else MINIMIZE,
                    n_original=int(a.size), n_mutant=int(b.size),
                    n_excluded_original=n_excl_o,
                    n_excluded_mutant=int((mgrp["status"] != OK).sum()),
                    mean_original=a.mean() if a.size else np.nan,
                    mean_mutant=b.mean() if b.size else np.nan,
                    sd_original=a.std(ddof=1) if a.size > 1 else np.nan,
                    sd_mutant=b.std(ddof=1) if b.size > 1 else np.nan, test=test,
                )
                if a.size and b.size and row["mean_original"] != 0:
                    row["rel_change"] = row["mean_mutant"] / row["mean_original"] - 1.0
                if originals.empty:
                    row["note"] = "no original run" + (f" with partner {partner!r}" if pair else "")
                    rows.append(row)
                    continue
                if a.size < 2 or b.size < 2:
                    row["note"] = f"fewer than 2 ok runs (original {a.size}, mutant {b.size})"
                    row["cliffs_delta"] = cliffs_delta(b, a)
                    row["magnitude"] = cliffs_magnitude(row["cliffs_delta"])
                    rows.append(row)
                    continue
                t_stat, t_p, u_stat, u_p = tested[mutant_id, metric]
                d = cliffs_delta(b, a)
                p = u_p if test == "mwu" else t_p
                notes = []
                if not np.isfinite(p) and np.ptp(a) == 0 and np.ptp(b) == 0 and a[0] == b[0]:
                    v = "same"
                    notes.append("identical constant samples")
                else:
                    v = verdict(p, d, alpha, delta_threshold)
                    if not isinstance(v, str):
                        notes.append("test undefined (zero variance)")
                disagree = np.nan
                u_min = mwu_min_p(a, b)
                if np.isfinite(t_p) and np.isfinite(u_p) and not u_min > alpha:
                    disagree = bool((t_p <= alpha) != (u_p <= alpha))
                    if disagree:
                        notes.append(f"the tests disagree: {t_name} p = {t_p:.3g}, Mann-Whitney "
                                     f"p = {u_p:.3g} (alpha {alpha:g}); the verdict uses {test}")
                elif np.isfinite(t_p) and t_p <= alpha:  # the rank test could not have agreed
                    notes.append(f"Mann-Whitney U cannot reach p <= {alpha:g} with {b.size} and "
                                 f"{a.size} runs (smallest p {u_min:.2g}): no second opinion")
                if m_means is None:
                    m_means = dict(zip(present, bootstrap_means(
                        m_mat, n_boot, seed, (subject, mode, partner, "mutant", mutant_id))))
                lo, hi = _rel_change_ci(o_means[metric], m_means[metric], n_boot, ci)
                lower_better = lower_better_task if metric == TASK_METRIC else True
                row.update(t_statistic=t_stat, t_p=t_p, mwu_statistic=u_stat, mwu_p=u_p,
                           mwu_min_p=u_min,
                           p_value=p, cliffs_delta=d, magnitude=cliffs_magnitude(d), verdict=v,
                           outcome=outcome(v, lower_better) if direction in ("maximize", "minimize")
                           or metric != TASK_METRIC else np.nan,
                           rel_change_ci_low=lo, rel_change_ci_high=hi, tests_disagree=disagree,
                           note="; ".join(notes) if notes else np.nan)
                rows.append(row)
    if not rows:
        return empty_table(COMPARISON_COLUMNS)
    out = pd.DataFrame(rows).reindex(columns=COMPARISON_COLUMNS)
    return sort_natural(out, ["subject", "mode", "partner", "mutant_id", "metric"],
                        order={"metric": metrics})


# ---------------------------------------------------------------- win / tie / loss
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


# ---------------------------------------------------------------- single vs pair
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
    * cv: repeat-run coefficient of variation (sd/mean, ddof=1) per configuration, mode, partner
      and metric, over ok runs.
    """
    per = empty_table(SENS_MUTANT_COLUMNS)
    s_all = p_all = p_un = s_un = empty_table(COMPARISON_COLUMNS)
    if not comparisons.empty:
        per, p_un, s_un, s_all, p_all = match_modes(comparisons, energy_metric)
    tests = []

    def counts(subject=None, partner=None):
        pu = p_un if subject is None else p_un[p_un["subject"] == subject]
        su = s_un if subject is None else s_un[s_un["subject"] == subject]
        if partner is not None:
            pu = pu[pu["partner"] == partner]
        return len(pu), len(su)

    scopes = [("overall", None, None, per)]
    scopes += [(str(sj), sj, None, g) for sj, g in per.groupby("subject", sort=True)]
    scopes += [(f"{sj} beside {pt}", sj, pt, g)
               for (sj, pt), g in per.groupby(["subject", "partner"], sort=True)]
    for scope, subject, partner, g in scopes:
        d = g["abs_change_diff"].to_numpy(float) if len(g) else np.array([])
        npu, nsu = counts(subject, partner)
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
        tests.append(row)

    def unmatched(scope, subject, partner, h, s_rows, p_rows):
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
        tests.append(row)

    if len(p_all) or len(s_all):
        unmatched("overall", np.nan, np.nan, np.nan, s_all, p_all)
        for (sj, pt, h), g in p_all.groupby(["subject", "partner", "hyperparameter"], sort=True):
            sg = s_all[(s_all["subject"] == sj) & (s_all["hyperparameter"] == h)]
            unmatched(f"{sj} beside {pt}, {h}", sj, pt, h, sg, g)
    tests_df = pd.DataFrame(tests).reindex(columns=SENS_TEST_COLUMNS)

    cv_rows = []
    ok = ok_runs(runs).assign(_partner=partner_key(runs["partner"]))
    for (subject, mode, mutant_id, partner), g in ok.groupby(
            ["subject", "mode", "mutant_id", "_partner"], sort=True):
        for metric in _metrics_present(g, cv_metrics):
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
    cv = sort_natural(cv, ["subject", "mode", "partner", "mutant_id", "metric"],
                      order={"metric": cv_metrics})
    return per, tests_df, cv
