import numpy as np
import pytest

from greenhp.analysis.tables import (
    REQUIRED_COLUMNS, estimate_note, load_runs, metric_sign, validate_runs,
)


def test_load_runs_roundtrip_dtypes_and_nan(tmp_path, runs):
    runs = runs.copy()
    runs.loc[0, "gpu_energy_j"] = np.nan
    path = tmp_path / "runs.tsv"
    runs.to_csv(path, sep="\t", index=False)
    text = path.read_text()
    assert "\t\t" in text  # empty cells really are empty in the file
    df = load_runs(path)
    assert len(df) == len(runs)
    assert np.isnan(df.loc[0, "gpu_energy_j"])  # never 0
    assert df["total_energy_j"].dtype == float
    assert str(df["repetition"].dtype) == "Int64"
    assert str(df["energy_estimated"].dtype) == "boolean"
    assert df["hp_lr"].dtype == float
    assert df.loc[df["mode"] == "single", "partner"].isna().all()
    assert (df.loc[df["hyperparameter"] == "none", "operator"] == "none").all()  # "none" is not NA
    np.testing.assert_allclose(df["total_energy_j"].dropna(), runs["total_energy_j"].dropna())


def test_missing_columns_are_named(tmp_path, runs):
    path = tmp_path / "runs.tsv"
    runs.drop(columns=["gpu_method", "total_energy_j"]).to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match="total_energy_j, gpu_method"):
        load_runs(path)


def test_non_numeric_energy_rejected(runs):
    bad = runs.astype({"cpu_energy_j": object}).copy()
    bad.loc[3, "cpu_energy_j"] = "lots"
    with pytest.raises(ValueError, match="cpu_energy_j"):
        validate_runs(bad)


def test_required_columns_cover_contract():
    for c in ("run_id", "partner", "energy_estimated", "total_share_j", "metric_name", "cpu_model"):
        assert c in REQUIRED_COLUMNS


def test_metric_sign_and_estimate_note(runs_factory):
    assert metric_sign("accuracy") == 1 and metric_sign("loss") == -1 and metric_sign(np.nan) == 1
    df = validate_runs(runs_factory(estimated=True))
    assert estimate_note(df) == "(estimated: estimate_cpu_time)"
    assert estimate_note(validate_runs(runs_factory())) == ""
