"""The runs table's derived rows (greenhp.analysis.derived): checked by validate_runs, left out of
the correlations, kept as independent samples in the mutant-vs-original comparisons."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from greenhp.analysis.comparison import compare_mutants
from greenhp.analysis.correlation import correlations
from greenhp.analysis.derived import is_derived, trained
from greenhp.analysis.tables import validate_runs

REPS = (1, 2, 3)


def table(derived=True):
    """Subject s: original (8 epochs) and source s__epochs__12 trained, 3 reps each; s__epochs__4
    and s__epochs__6 derived from the source's reps (each rep k from source rep k: the energy is a
    prefix of the source's, so the derived rows carry the source's noise)."""
    rng = np.random.default_rng(7)
    rows = []

    def add(mid, epochs, k, energy, metric, source=""):
        hp = "none" if mid.endswith("original") else "epochs"
        rows.append({"run_id": f"single__{mid}__rep{k}", "mode": "single", "subject": "s", "mutant_id": mid,
                     "hyperparameter": hp, "value": "" if hp == "none" else epochs, "original": "" if hp == "none" else 8,
                     "repetition": k, "status": "ok", "total_energy_j": energy, "metric_value": metric,
                     "metric_name": "accuracy", "hp_epochs": epochs, "hp_lr": 0.1,
                     "derived": "true" if source else "false", "derived_from": source})
    for k in REPS:
        add("s__original", 8, k, 800 + rng.normal(0, 30), 0.9 + rng.normal(0, 0.01))
        noise = rng.normal(0, 40)
        add("s__epochs__12", 12, k, 1200 + noise, 0.92)
        if derived:
            for e in (4, 6):
                add(f"s__epochs__{e}", e, k, (1200 + noise) * e / 12, 0.8, source=f"single__s__epochs__12__rep{k}")
    return pd.DataFrame(rows)


def test_a_table_without_the_columns_has_nothing_derived():
    t = table(derived=False).drop(columns=["derived", "derived_from"])
    runs = validate_runs(t)
    assert not is_derived(runs).any() and len(trained(runs)) == len(runs) and "derived" not in runs


def test_validate_reads_and_checks_the_columns():
    runs = validate_runs(table())
    assert runs["derived"].dtype == bool and int(runs["derived"].sum()) == 6
    assert runs.loc[runs["derived"], "derived_from"].str.startswith("single__s__epochs__12__rep").all()
    assert runs.loc[~runs["derived"], "derived_from"].isna().all()
    bad = table()
    bad.loc[bad["derived"] == "true", "derived_from"] = [f"single__s__original__rep{k}" for k in REPS for _ in (4, 6)]
    with pytest.raises(ValueError, match="an original is never a source"):
        validate_runs(bad)
    bad = table()
    bad.loc[bad["mutant_id"] == "s__epochs__4", "derived_from"] = "single__s__epochs__12__rep1"
    with pytest.raises(ValueError, match="same run"):
        validate_runs(bad)
    bad = table()
    bad.loc[0, "derived"] = "maybe"
    with pytest.raises(ValueError, match="derived = 'maybe' in row"):
        validate_runs(bad)
    bad = table()
    bad.loc[0, "derived_from"] = "single__s__epochs__12__rep1"
    with pytest.raises(ValueError, match="not derived"):
        validate_runs(bad)


def test_correlations_use_only_trained_runs():
    """With the derived rows counted as points, epochs~energy would look significant on 12 points
    whose noise comes from 3 runs; the table uses the 6 trained runs and says what it left out."""
    with_derived = correlations(validate_runs(table()), n_boot=50)
    trained_only = correlations(validate_runs(table()[lambda t: t["derived"] == "false"]), n_boot=50)
    a = with_derived[with_derived["metric"] == "total_energy_j"].reset_index(drop=True)
    b = trained_only[trained_only["metric"] == "total_energy_j"].reset_index(drop=True)
    assert list(a["n"]) == list(b["n"]) == [6, 6]
    for c in ("coefficient", "p_value", "q_value", "ci_low", "ci_high"):
        assert np.allclose(a[c], b[c], equal_nan=True), c
    assert a["note"].str.contains("6 derived row\\(s\\) left out").all()
    # what counting them would claim: a far smaller p-value from the same 3 runs of noise
    rows = validate_runs(table())
    naive = sps.spearmanr(rows["hp_epochs"], rows["total_energy_j"]).pvalue
    assert naive < a.loc[a["method"] == "spearman", "p_value"].iloc[0]


def test_a_derived_mutant_is_compared_with_the_original_as_two_independent_samples():
    """The original is never a source and each derived rep comes from a different source run: the
    comparison is the plain two-sample test of the derived rows against the original's runs."""
    runs = validate_runs(table())
    comp = compare_mutants(runs, n_boot=50)
    row = comp[(comp["mutant_id"] == "s__epochs__4") & (comp["metric"] == "total_energy_j")].iloc[0]
    mine = runs.loc[runs["mutant_id"] == "s__epochs__4", "total_energy_j"]
    orig = runs.loc[runs["mutant_id"] == "s__original", "total_energy_j"]
    assert row["n_mutant"] == 3 and row["n_original"] == 3
    assert row["p_value"] == pytest.approx(sps.ttest_ind(mine, orig, equal_var=False).pvalue)


def test_the_summary_reports_the_check_and_why_a_family_was_trained_in_full():
    from greenhp.analysis.summary import derived_section

    runs = validate_runs(table())
    check = pd.DataFrame([
        dict(family="s__original", subject="s", configuration="s__epochs__4", source="s__epochs__12",
             energy_column="train_total_energy_j", n_pairs=3, energy_error=3.0, energy_error_pct=3.0, spread=2.0,
             metric_error=0.0, ok=False, note="energy error 3 J exceeds the run-to-run spread (SD) 2 J"),
        dict(family="t__original", subject="t", configuration="t__epochs__2", source="t__epochs__9",
             energy_column="train_total_energy_j", n_pairs=3, energy_error=1.0, energy_error_pct=1.0, spread=2.0,
             metric_error=0.0, ok=True, note=None)])
    text = "\n".join(derived_section(runs, check)).replace("\\", "")  # rst escapes removed
    assert "6 row(s) of 2 configuration(s) were not trained" in text
    assert "s__epochs__4 (train_total_energy_j): energy error 3 J (3 %) against a spread of 2 J" in text
    assert "Family s__original was trained in full: s__epochs__4 (train_total_energy_j): energy error 3 J exceeds" in text
    assert "Family t__original" not in text and "t__epochs__2 (train_total_energy_j): energy error 1 J" in text
    assert derived_section(validate_runs(table(derived=False)), None) == []


def test_epoch_predictions_compare_with_trained_runs_only():
    """A derived configuration has no measurement of its own: no prediction is compared with it."""
    from greenhp.analysis.epochs import epoch_predictions, prepare_epochs

    runs = validate_runs(table())
    rows = []
    for r in runs[~runs["derived"]].itertuples():
        for e in range(1, int(r.hp_epochs) + 1):
            rows.append(dict(run_id=r.run_id, mode="single", subject="s", mutant_id=r.mutant_id, partner="",
                             repetition=r.repetition, status="ok", process="main", epoch=e, epochs=int(r.hp_epochs),
                             total_energy_j=r.total_energy_j * e / r.hp_epochs, metric_value=0.8,
                             energy_estimated="false", schedule_depends_on_epochs="false"))
    pred = epoch_predictions(prepare_epochs(pd.DataFrame(rows).astype(str)), runs).set_index("mutant_id")
    assert "s__epochs__4" not in pred.index and "s__epochs__6" not in pred.index
    assert pred.loc["s__original", "n_runs"] == 3 and pred.loc["s__original", "n_prefix_runs"] == 3
