"""The bootstrap shared by the statistics (greenhp.analysis.correlation, .comparison).

Percentile intervals; each random stream is derived from ``seed`` and the identity of what it
resamples (subject, mode, partner, hyperparameter or mutant, and the runs used), so a result does
not depend on which other tests ran. A resample is held as item multiplicities (how often each
item is in it), never as a copy of the data.
"""
from __future__ import annotations

import math
import zlib

import numpy as np


def rng_for(seed: int, *key) -> np.random.Generator:
    """A generator seeded by ``seed`` and a stable hash of ``key`` (reproducible per test)."""
    h = zlib.crc32("\x1f".join(map(str, key)).encode())
    return np.random.default_rng(np.random.SeedSequence([int(seed), h]))


def resample_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Multiplicities of resample indices: counts[b, j] = how often item j is in resample b (an
    n_boot x n array, in the smallest integer type that holds them: reordering and running sums
    then move a byte per item instead of eight). Each resample's items are contiguous, so the
    running sums along a resample, which numpy does one element at a time, read memory in order."""
    nb = idx.shape[0]
    flat = (idx + np.arange(0, nb * n, n, dtype=np.int64)[:, None]).ravel()
    c = np.bincount(flat, minlength=n * nb).reshape(nb, n)
    return c.astype(np.uint8 if c.max() <= np.iinfo(np.uint8).max else np.int64)


def percentile_ci(r: np.ndarray, n_boot: int, ci: float) -> tuple[float, float]:
    """Percentile interval of the finite bootstrap replicates ``r``; NaN when fewer than half of
    the ``n_boot`` resamples gave one."""
    r = r[np.isfinite(r)]
    if r.size < max(1, n_boot // 2):
        return math.nan, math.nan
    lo, hi = np.percentile(r, [50 * (1 - ci), 50 * (1 + ci)])
    return float(lo), float(hi)


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
            resample_counts(rng.integers(0, k, size=(min(step, n_boot - lo), k)), k).astype(float) @ v
            for lo in range(0, n_boot, step)]) / k
        for i, j in enumerate(cols):
            out[j] = means[:, i]
    return out
