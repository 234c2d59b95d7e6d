"""Question 1: does a hyperparameter's value go with the energy? Pearson and Spearman correlations
of each hyperparameter with each metric, their bootstrap intervals and q-values.

Conventions (all tested):

* The points for hyperparameter *h* of subject *s* in mode *m* beside partner *p* are the ``ok``
  runs of the original plus the ``ok`` runs of every mutant of *h*; x is the ``hp_<h>`` column;
  ``n`` says how many points entered (greenhp.analysis.groups: runs beside different partners are
  never pooled).
* Derived rows (the lean design's epochs mutants read from a longer run's marks, column
  ``derived``) are left out: each shares its source run's noise, so counting it as a point of its
  own would overstate ``n`` and the significance; ``note`` says how many were left out. Only
  trained runs enter (greenhp.analysis.derived.trained).
* Multiple testing: Benjamini-Hochberg q-values per **family = all tests of one method (pearson or
  spearman) within one subject x mode x partner** (every hyperparameter x metric there). The
  reference study did not correct at all.
* Bootstrap (greenhp.analysis.resampling): percentile intervals; the correlations of one
  hyperparameter with every metric share their resamples of the runs.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from .derived import is_derived
from .groups import metrics_present, run_groups
from .resampling import percentile_ci, resample_counts, rng_for
from .tables import HP_PREFIX, METRICS, OK, ORIGINAL, empty_table, partner_key

CORRELATION_COLUMNS = [
    "subject", "mode", "partner", "hyperparameter", "metric", "method", "coefficient", "p_value", "n",
    "ci_low", "ci_high", "q_value", "n_excluded", "note",
]


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
        c = resample_counts(idx[lo:lo + chunk], n)
        w = c.astype(float)
        for acc, rsp, rp in zip(rs, plan.chunk(c, w), _pearson_chunk(terms, w)):
            acc["pearson"].append(np.where(np.isnan(rsp), np.nan, rp))  # same constant resamples
            acc["spearman"].append(rsp)
    return [{method: percentile_ci(np.concatenate(parts), n_boot, ci)
             for method, parts in acc.items()} for acc in rs]


def bootstrap_corr_cis(x, y, n_boot: int, rng: np.random.Generator, ci: float = 0.95,
                       chunk: int | None = None) -> dict[str, tuple[float, float]]:
    """Pearson and Spearman bootstrap CIs of x with one y (see bootstrap_corr_cis_many)."""
    return bootstrap_corr_cis_many(x, [y], n_boot, rng, ci, chunk)[0]


def bootstrap_corr_ci(x, y, method: str, n_boot: int, rng: np.random.Generator, ci: float = 0.95):
    """Percentile bootstrap CI of a Pearson/Spearman coefficient (see bootstrap_corr_cis_many)."""
    return bootstrap_corr_cis(x, y, n_boot, rng, ci)[method]


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
    for subject, mode, partner, grp in run_groups(runs):
        hps = sorted(h for h in grp["hyperparameter"].dropna().unique() if h != ORIGINAL)
        for h in hps:
            pts_all = grp[grp["hyperparameter"].isin([ORIGINAL, h])]
            derived = is_derived(pts_all) & (pts_all["status"] == OK)
            pts = pts_all[(pts_all["status"] == OK) & ~derived]
            n_excl = int(len(pts_all) - len(pts) - derived.sum())
            left_out = (f"{int(derived.sum())} derived row(s) left out (not independent of the runs "
                        "they are read from)") if derived.any() else ""
            col = HP_PREFIX + str(h)
            x_all = pd.to_numeric(pts[col], errors="coerce").to_numpy(float) if col in pts else None
            todo: dict[bytes, list] = {}  # metrics by the set of points they use
            for metric in metrics_present(pts, metrics):
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
                    row = dict(base, method=method, n=n,
                               note="; ".join(t for t in (note, left_out) if t) or np.nan)
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

