"""How often the lean design's two-stage decision calls a difference, against the fixed-n test (docs/lean.md,
"What it can get wrong").

One comparison of a mutant with its original, simulated: the original has all ``repetitions`` runs,
the mutant ``first_wave`` first. Stage 1 tests them (Welch's or Student's t, two-sided): p below the
band is a difference (the lean study stops there, and its verdict at alpha is "different" as long as
the band's low end is at most alpha), p at or above the band's high end no difference, p inside the
band gets the mutant's remaining runs and the test at ``alpha`` on all of them. The fixed-n design tests
all ``repetitions`` at once. With ``other_metric`` the study's second comparison (the task metric,
independent of the energy under the null) is simulated too, and a group is extended when either
comparison is in the band, as greenhp.lean.decide does; the rate reported is the first comparison's.

Values are normal with sd 1; ``effect`` is the mutant's mean shift in sds (0: the null, the rate is the
false-positive rate; otherwise it is the power). The delta threshold of a verdict is left out: it only
lowers both designs' rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class ErrorRate:
    first_wave: int
    repetitions: int
    p_band: tuple[float, float]
    effect: float
    rate_lean: float      # share of comparisons the two-stage design calls different at alpha
    rate_fixed: float     # the same for the fixed-n test on all repetitions
    extended: float       # share of groups extended after the first wave
    mutant_runs: float    # mean mutant runs per group, as a share of the fixed design's


def t_pvalues(a: np.ndarray, b: np.ndarray, test: str = "welch") -> np.ndarray:
    """Two-sided p-values of the two-sample t-test, row by row (a, b: simulations x runs)."""
    na, nb = a.shape[1], b.shape[1]
    ma, mb = a.mean(axis=1), b.mean(axis=1)
    va, vb = a.var(axis=1, ddof=1), b.var(axis=1, ddof=1)
    if test == "welch":
        se2 = va / na + vb / nb
        df = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    elif test == "student":
        pooled = ((na - 1) * va + (nb - 1) * vb) / (na + nb - 2)
        se2, df = pooled * (1 / na + 1 / nb), np.full(len(a), na + nb - 2.0)
    else:
        raise ValueError(f"test {test!r}: only welch and student are simulated")
    t = (ma - mb) / np.sqrt(se2)
    return 2.0 * stats.t.sf(np.abs(t), df)


def _stage(rng, n_sim, first_wave, repetitions, effect, test):
    original = rng.standard_normal((n_sim, repetitions))
    mutant = rng.standard_normal((n_sim, repetitions)) + effect
    return t_pvalues(mutant[:, :first_wave], original, test), t_pvalues(mutant, original, test)


def simulate(first_wave: int, repetitions: int, p_band: tuple[float, float], effect: float = 0.0,
             alpha: float = 0.05, n_sim: int = 20000, seed: int = 0, test: str = "welch",
             other_metric: bool = True) -> ErrorRate:
    """The two-stage design's rate of "different" verdicts against the fixed-n test's (module doc)."""
    rng = np.random.default_rng(seed)
    low, high = p_band
    p1, p_full = _stage(rng, n_sim, first_wave, repetitions, effect, test)
    grey = (p1 >= low) & (p1 < high)
    if other_metric:  # the task metric under the null: independent, and it opens groups too
        q1, _ = _stage(rng, n_sim, first_wave, repetitions, 0.0, test)
        grey_any = grey | ((q1 >= low) & (q1 < high))
    else:
        grey_any = grey
    p_final = np.where(grey_any, p_full, p1)
    extended = float(grey_any.mean())
    return ErrorRate(first_wave, repetitions, (low, high), effect,
                     rate_lean=float((p_final <= alpha).mean()), rate_fixed=float((p_full <= alpha).mean()),
                     extended=extended,
                     mutant_runs=(first_wave + extended * (repetitions - first_wave)) / repetitions)
