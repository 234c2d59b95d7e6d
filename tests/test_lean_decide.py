"""greenhp.lean.decide opens exactly the comparison groups whose energy or task-metric p-value (or
|Cliff's delta|) lies in the band, per mode and partner; a group without a p-value is never open."""
import math

import numpy as np
import pytest
from scipy import stats

from greenhp.analysis import validate_runs
from greenhp.lean.decide import DECISION_COLUMNS, decide
from greenhp.lean.settings import lean_settings
from leanutil import ORIGINAL_ACCURACY as ACC, ORIGINAL_ENERGY as E, group, shifted, table

FIRST = 3  # every mutant below has the first wave only: 3 repetitions


def first_wave_table():
    """Single mode and pair mode beside two partners; mutants' first waves set so that their p-values
    against the original are clear (far below or above any band) or grey (about 0.1)."""
    def mutant(lr, energy_shift=0.0, acc_shift=0.0, **kw):
        return group(f"s__lr__x{lr}", shifted(E[:FIRST], energy_shift), shifted(ACC[:FIRST], acc_shift),
                     value=float(lr), **kw)

    t, u = dict(mode="pair", partner="t__original"), dict(mode="pair", partner="u__original")
    return table(
        group("s__original"), group("s__original", **t), group("s__original", **u),
        mutant(2, 20.0),                              # clear energy difference, same metric: decided
        mutant(3),                                    # the original's values: p = 1, decided
        mutant(4, 3.0),                               # energy grey: open
        mutant(5, 20.0, -0.012),                      # energy clear, metric grey: open
        mutant(6, 3.0, statuses={2: "failed", 3: "failed"}),  # one ok run: no p-value, not open
        mutant(7, statuses={1: "failed", 2: "failed", 3: "failed"}),  # no ok run at all
        mutant(2, 3.0, **t), mutant(2, 20.0, **u),    # per partner: grey beside t, clear beside u
        mutant(4, 20.0, **t), mutant(4, 20.0, **u),   # grey alone, clear in both pairs
    )


def settings(**lean):
    return lean_settings({"repetitions": 5, "lean": {"enabled": True, "first_wave": FIRST, **lean}})


def opened(decisions):
    rows = decisions[decisions["extend"]]
    return {(r.mode, r.partner, r.mutant_id) for r in rows.itertuples()}


def cliffs(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.sign(a[:, None] - b[None, :]).mean())


def expected(runs, p_band, delta_band=None):
    """Open groups computed here, independently of greenhp: Welch's p (the default test) and Cliff's
    delta of each mutant against its original, on energy and on accuracy."""
    ok = runs[runs["status"] == "ok"]
    out = set()
    for (mode, partner, mutant_id), g in ok.groupby(["mode", ok["partner"].fillna(""), "mutant_id"]):
        if mutant_id.endswith("__original") or len(g) < 2:
            continue
        o = ok[(ok["mode"] == mode) & (ok["partner"].fillna("") == partner) & (ok["mutant_id"] == "s__original")]
        for col in ("total_energy_j", "metric_value"):
            p = stats.ttest_ind(g[col], o[col], equal_var=False).pvalue
            d = abs(cliffs(g[col], o[col]))
            if p_band[0] <= p < p_band[1] or (delta_band and delta_band[0] <= d < delta_band[1]):
                out.add((mode, partner, mutant_id))
    return out


@pytest.fixture(scope="module")
def runs():
    return validate_runs(first_wave_table())


def test_opens_exactly_the_grey_groups_per_mode_and_partner(runs):
    decisions = decide(runs, settings(p_band=[0.02, 0.3]), {})
    assert list(decisions.columns) == DECISION_COLUMNS
    assert opened(decisions) == {("single", "", "s__lr__x4"), ("single", "", "s__lr__x5"),
                                 ("pair", "t__original", "s__lr__x2")}
    assert opened(decisions) == expected(runs, (0.02, 0.3))
    by = decisions.set_index(["mode", "partner", "mutant_id"])
    assert by.loc[("single", "", "s__lr__x4"), "reason"].startswith("open: energy p=")
    assert by.loc[("single", "", "s__lr__x5"), "reason"].startswith("open: metric p=")
    assert by.loc[("single", "", "s__lr__x2"), "reason"].startswith("decided: energy p=")
    assert (decisions["n_mutant"] <= FIRST).all()


def test_a_group_without_p_value_is_never_open(runs):
    # a band that takes every p-value, and every delta: the groups with fewer than 2 ok runs stay closed
    decisions = decide(runs, settings(p_band=[0.0, 1.01], delta_band=[0.0, 1.01]), {})
    by = decisions.set_index(["mode", "partner", "mutant_id"])
    for mutant in ("s__lr__x6", "s__lr__x7"):
        row = by.loc[("single", "", mutant)]
        assert not row["extend"] and math.isnan(row["energy_p"]) and "no p-value" in row["reason"]
    assert len(opened(decisions)) == 8  # every other mutant group


def test_band_is_half_open(runs):
    decisions = decide(runs, settings(p_band=[0.02, 0.3]), {})
    p = float(decisions.set_index(["mode", "mutant_id"]).loc[("single", "s__lr__x4"), "energy_p"])
    assert ("single", "", "s__lr__x4") in opened(decide(runs, settings(p_band=[p, 0.9]), {}))
    assert ("single", "", "s__lr__x4") not in opened(decide(runs, settings(p_band=[1e-6, p]), {}))


def test_delta_band_opens_by_effect_size(runs):
    # a p band no group falls into: only |Cliff's delta| in [0.5, 0.9) opens a group
    lean = dict(p_band=[0.5, 0.51], delta_band=[0.5, 0.9])
    got = opened(decide(runs, settings(**lean), {}))
    assert got == expected(runs, (0.5, 0.51), (0.5, 0.9))
    assert ("single", "", "s__lr__x4") in got  # energy delta 0.8
    assert all(r.startswith("open: energy |delta|") or "metric |delta|" in r
               for r in decide(runs, settings(**lean), {}).query("extend")["reason"])


def test_student_test_setting_reaches_the_decision(runs):
    # the study's own test decides: with Student's t the p-values differ from Welch's
    welch = decide(runs, settings(), {})
    student = decide(runs, settings(), {"test": "student"})
    assert not np.allclose(welch["energy_p"].fillna(-1), student["energy_p"].fillna(-1))
