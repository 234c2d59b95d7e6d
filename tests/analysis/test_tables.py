import numpy as np
import pandas as pd
import pytest

from greenhp.analysis.tables import (
    COLUMN_DOCS, REQUIRED_COLUMNS, estimate_note, known_direction, load_runs, natural_key,
    resolve_direction, validate_runs,
)
from greenhp.record import RUN_COLUMNS

from testutil import ROOT

MINIMAL = ["run_id", "subject", "mutant_id", "hyperparameter", "status", "mode", "partner",
           "duration_s", "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "accuracy",
           "hp_epochs", "hp_lr", "hp_gamma"]


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
    energies = ["gpu_energy_j", "cpu_energy_j", "dram_energy_j", "total_energy_j"]
    runs.drop(columns=["status", "run_id"] + energies).to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError) as err:
        load_runs(path)
    assert str(err.value) == (
        "runs table is missing required column(s): run_id, status; one of total_energy_j, "
        "gpu_energy_j, cpu_energy_j, dram_energy_j (energy)")


def test_non_numeric_energy_rejected(runs):
    bad = runs.astype({"cpu_energy_j": object}).copy()
    bad.loc[3, "cpu_energy_j"] = "lots"
    with pytest.raises(ValueError, match="cpu_energy_j"):
        validate_runs(bad)


def test_every_column_is_documented():
    """COLUMN_DOCS covers every runs.tsv column and docs/analysis.md's import table lists each."""
    doc = (ROOT / "docs" / "analysis.md").read_text()
    for c in RUN_COLUMNS:
        key = "hp_<h>" if c.startswith("hp_") else c
        assert key in COLUMN_DOCS, c
        assert f"| `{key}` |" in doc, c
    assert set(REQUIRED_COLUMNS) == {"run_id", "subject", "mutant_id", "hyperparameter", "status"}


def test_known_direction_and_estimate_note(runs_factory):
    assert known_direction("accuracy") == "maximize" and known_direction("loss") == "minimize"
    assert known_direction("test_mse") is None and resolve_direction("test_mse") is None
    assert resolve_direction("loss", declared="maximize") == "maximize"  # declared wins over the list
    df = validate_runs(runs_factory(estimated=True))
    assert estimate_note(df) == "(estimated: estimate_cpu_time)"
    assert estimate_note(validate_runs(runs_factory())) == ""


def _minimal(full):
    m = full[MINIMAL].copy()
    m.loc[m.hyperparameter == "none", ["hp_epochs", "hp_lr", "hp_gamma"]] = np.nan
    return m


def test_minimal_table_is_completed_like_the_full_one(runs):
    full = validate_runs(runs)
    mini = validate_runs(_minimal(runs))
    for c in ("total_energy_j", "metric_value", "hp_epochs", "hp_lr", "hp_gamma", "value",
              "original", "duration_s"):
        np.testing.assert_allclose(mini[c].astype(float), full[c].astype(float), err_msg=c)
    assert (mini["metric_name"] == "accuracy").all() and (mini["metric_direction"] == "maximize").all()
    assert (mini.loc[mini.hyperparameter == "none", "operator"] == "none").all()
    assert set(mini["total_domains"].dropna()) == {"gpu+cpu+dram"}


def test_empty_hp_of_originals_without_a_source_is_rejected(runs_factory):
    raw = runs_factory(mutants={"lr": [0.1, 3.0]})[MINIMAL[:-3] + ["hp_lr"]]
    raw.loc[raw.hyperparameter == "none", "hp_lr"] = np.nan
    with pytest.raises(ValueError, match="hp_lr is empty for the original runs of subject 'digits_cnn'"):
        validate_runs(raw)
    raw["original"] = np.where(raw.hyperparameter == "lr", 1.0, np.nan)  # now it has a source
    assert (validate_runs(raw).query("hyperparameter == 'none'")["hp_lr"] == 1.0).all()


@pytest.mark.parametrize("column,value,match", [
    ("total_energy_j", "inf", "total_energy_j = inf in run 'single-digits_cnn__original-1' \\(row 2\\)"),
    ("gpu_energy_j", "1e308", "gpu_energy_j = 1e\\+308 .*below 1e\\+15"),
    ("cpu_energy_j", "-5", "cpu_energy_j = -5.0 .*non-negative"),
    ("duration_s", "-1", "duration_s = -1.0"),
    ("mode", "triple", "mode 'triple' in run .*allowed: single, pair"),
    ("run_id", "single-digits_cnn__original-0", "run_id 'single-digits_cnn__original-0' appears 2 times \\(rows 1, 2\\)"),
    ("hp_lr", "0.5", "is a mutant of lr with value 0.1 but hp_lr = 0.5"),
    ("metric_direction", "up", "metric_direction 'up'"),
])
def test_bad_values_are_rejected_in_one_line(runs_factory, column, value, match):
    raw = runs_factory(mutants={"lr": [0.1]}).astype(str)
    raw["metric_direction"] = "maximize"
    row = 1 if column != "hp_lr" else int(np.flatnonzero(raw.hyperparameter == "lr")[0])
    raw.loc[row, column] = value
    with pytest.raises(ValueError, match=match) as err:
        validate_runs(raw)
    assert "\n" not in str(err.value)


def test_metric_direction_must_be_declared(runs_factory):
    raw = runs_factory(metric_name="test_mse", mutants={"lr": [0.1]})
    with pytest.raises(ValueError, match="direction of task metric 'test_mse' is not declared.*"
                                         "metric_directions: {test_mse: minimize}"):
        validate_runs(raw)
    assert set(validate_runs(raw, {"test_mse": "minimize"})["metric_direction"]) == {"minimize"}
    raw["metric_direction"] = "minimize"
    assert set(validate_runs(raw)["metric_direction"]) == {"minimize"}
    with pytest.raises(ValueError, match="analysis.metric_directions says 'maximize'"):
        validate_runs(raw, {"test_mse": "maximize"})


def test_natural_key_orders_numbers_by_value():
    ids = ["m__lr__x1070", "m__lr__x823", "m__lr__x0.5", "m__original"]
    assert sorted(ids, key=natural_key) == ["m__lr__x0.5", "m__lr__x823", "m__lr__x1070", "m__original"]


# The loader parses and strips each distinct cell once (tables._to_numeric, _text); these check it
# against the cell-by-cell reference (_to_numeric_slow, and _text written out cell by cell).
NUMERIC_CASES = {
    "padded": [" 1.5", "1.5 ", "\t2", "", "  ", "3e2", "\u00a07\u2003"],
    "na words": ["NA", "N/A", " null ", "None", "<NA>", "nan", "NaN", "4"],
    "ints, no gap": ["1", "2", " 3 ", "2"],
    "ints with a gap": ["1", "", "3", "2"],
    "big ints": ["9007199254740993", "", "18446744073709551615", "-9223372036854775808"],
    "beyond int64": ["18446744073709551616", "1"],
    "non-finite": ["inf", "-inf", " Infinity", "1e400"],
    "many distinct": [f" {i * 0.001!r} " for i in range(2000)] + [""] * 50,
    "all empty": ["", "", ""],
    "none and nan": [None, "5", np.nan, " 5"],
    "bad text": ["1", "2", "lots", "3", "lots"],
    "bad late": ["1"] * 10 + ["x1"],
}


@pytest.mark.parametrize("case", list(NUMERIC_CASES))
@pytest.mark.parametrize("dtype", [object, "str"])
def test_distinct_value_numbers_agree_with_cell_by_cell(case, dtype):
    import pandas as pd

    from greenhp.analysis.tables import _to_numeric, _to_numeric_slow

    s = pd.Series(NUMERIC_CASES[case], dtype=dtype, index=range(10, 10 + len(NUMERIC_CASES[case])))
    try:
        want = _to_numeric_slow(s, "c")
    except ValueError as exc:
        with pytest.raises(ValueError) as err:
            _to_numeric(s, "c")
        assert str(err.value) == str(exc)  # the same message, row position included
        return
    got = _to_numeric(s, "c")
    assert got.dtype == want.dtype == float
    assert got.index.equals(want.index)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())  # bit for bit, NaN where NaN


@pytest.mark.parametrize("values", [
    [" a", "a", "a ", "", "  ", None, np.nan, "b\u2003", "\u00a0"],
    [1, 1.0, " 2", 2, None, "x"],  # mixed objects: str() of the first seen of equal values
    ["only"] * 5,
    [],
])
def test_distinct_value_text_agrees_with_cell_by_cell(values):
    import pandas as pd

    from greenhp.analysis.tables import _text

    s = pd.Series(values, dtype=object, index=range(3, 3 + len(values)))
    codes, uniques = pd.factorize(s, use_na_sentinel=True)  # the former _text, cell by cell
    stripped = np.array([str(u).strip() for u in uniques] + [np.nan], dtype=object)
    ref = pd.Series(stripped[codes], index=s.index, dtype=object)
    want = ref.where(ref.notna() & (ref != ""), np.nan).astype(object)
    got = _text(s)
    assert got.dtype == object
    pd.testing.assert_series_equal(got, want, check_exact=True)


def test_padded_table_loads_as_the_clean_one(tmp_path, runs):
    """Spaces around text and numbers and NA words in numeric cells load as the clean table."""
    import pandas as pd

    clean_path, padded_path = tmp_path / "clean.tsv", tmp_path / "padded.tsv"
    runs.to_csv(clean_path, sep="\t", index=False)
    raw = pd.read_csv(clean_path, sep="\t", dtype=str, keep_default_na=False)
    padded = raw.copy()
    for c in padded.columns:
        padded[c] = [f" {v}" if i % 3 == 0 and v else f"{v}  " if i % 3 == 1 and v else v
                     for i, v in enumerate(padded[c])]
    empty = (raw == "") & raw.columns.str.endswith("_j")[None, :]
    padded = padded.mask(empty, "NA")
    assert empty.to_numpy().any()
    padded.to_csv(padded_path, sep="\t", index=False)
    pd.testing.assert_frame_equal(load_runs(padded_path), load_runs(clean_path), check_exact=True)


def test_import_writes_what_plain_to_csv_writes(tmp_path, runs):
    """import_runs writes all-empty number columns as text (faster): the same bytes."""
    from greenhp.analysis.tables import import_runs

    src, dst = tmp_path / "in.tsv", tmp_path / "runs.tsv"
    runs.assign(co2e_g=np.nan, seed=1.5).to_csv(src, sep="\t", index=False)
    checked = import_runs(src, dst)
    written = dst.read_text()
    header = written.split("\n", 1)[0].split("\t")
    plain = checked.reindex(columns=header)
    empty_numbers = [c for c in header if plain[c].dtype.kind == "f" and plain[c].isna().all()]
    assert "co2e_g" in empty_numbers and "seed" not in empty_numbers
    assert written == plain.to_csv(sep="\t", index=False)


@pytest.mark.parametrize("quoted", [False, True])
def test_write_tsv_writes_what_to_csv_writes(tmp_path, quoted):
    from greenhp.analysis.tables import write_tsv

    n = 7
    df = pd.DataFrame({
        "f": [0.1, -0.0, 1e16, 1.5e-300, np.inf, np.nan, 21600.0],
        "all_nan": np.nan,
        "i": pd.array([1, None, 3, 4, 5, 6, 7], dtype="Int64"),
        "b": pd.array([True, False, None, True, True, False, None], dtype="boolean"),
        "o": ["a", None, 2.5, "é ü", np.nan, "x y", "1e-05"],
        "s": pd.Series(["p", "q", None, "r", "s", "t", "u"], dtype=object),
    })
    if quoted:
        df.loc[2, "s"] = 'say "hi"\tand\nbye'
    assert len(df) == n
    for frame in (df, df.iloc[0:0], df[["f"]]):
        want, got = tmp_path / "want.tsv", tmp_path / "got.tsv"
        frame.to_csv(want, sep="\t", index=False)
        write_tsv(frame, got)
        assert got.read_bytes() == want.read_bytes()
