"""greenhp replay: on a table built so that the answer is known, the lean subset, the decisions and
every verdict that differs are exactly the constructed ones; the CLI writes its files and rejects bad
input with one line and exit 2."""
from pathlib import Path

import pandas as pd
import pytest
import yaml

from greenhp.analysis import validate_runs
from greenhp.cli import main
from greenhp.lean.decide import study_tables
from greenhp.lean.replay import (REPLAY_COLUMNS, SUMMARY_COLUMNS, ReplayError, repetition_order, replay,
                                 replay_settings, verdicts)
from leanutil import ORIGINAL_ACCURACY as ACC, ORIGINAL_ENERGY as E, group, shifted, table

ROOT = Path(__file__).resolve().parents[1]
LEAN = {"enabled": True, "first_wave": 3, "p_band": [0.02, 0.3], "delta_band": None}
PAIR = dict(mode="pair", partner="t__original")


def known_table(reps=None):
    """5 repetitions; first wave 3. x4 (alone) and x5 beside t are grey after 3 and get all 5; x5 and
    x6 alone are decided after 3 by runs that reps 4-5 contradict, so their verdicts differ."""
    def m(lr, energy, accuracy=None, **kw):
        return group(f"s__lr__x{lr}", energy, accuracy, value=float(lr), reps=reps, **kw)
    return table(
        group("s__original", reps=reps), group("s__original", reps=reps, **PAIR),
        m(2, shifted(E, 20)),                         # clearly higher: decided, kept
        m(3, shifted(E, -20)),                        # clearly lower, recommended: decided, kept
        m(4, shifted(E, 3)),                          # grey after 3: extended
        m(5, shifted(E, -20, tail=[140.0, 140.0])),   # lower after 3 (recommended), same after 5
        m(6, shifted(E, -20), shifted(ACC, -0.05, tail=[0.95, 0.95])),  # metric worse after 3, same after 5
        m(5, shifted(E, 3), **PAIR),                  # grey beside t: extended
    )


def settings(**lean):
    return replay_settings({"repetitions": 5, "lean": {**LEAN, **lean}}, 5)


@pytest.fixture(scope="module")
def runs():
    return validate_runs(known_table())


@pytest.fixture(scope="module")
def result(runs):
    return replay(runs, settings(), {})


def lean_ids(runs):
    """The run ids the lean design trains, listed by hand."""
    first = {1, 2, 3}
    keep = []
    for r in runs.itertuples():
        extended = (r.mode, r.mutant_id) in {("single", "s__lr__x4"), ("pair", "s__lr__x5")}
        if r.hyperparameter == "none" or r.repetition in first or extended:
            keep.append(r.run_id)
    return sorted(keep)


def test_lean_subset_is_first_wave_plus_the_opened_groups(runs, result):
    assert sorted(result.lean_runs["run_id"]) == lean_ids(runs)
    opened = result.decisions[result.decisions["extend"]]
    assert set(zip(opened["mode"], opened["partner"], opened["mutant_id"])) == {
        ("single", "", "s__lr__x4"), ("pair", "t__original", "s__lr__x5")}
    s = result.summary.iloc[0]
    assert list(result.summary.columns) == SUMMARY_COLUMNS
    assert (s["runs_full"], s["runs_lean"]) == (40, 32)
    lean = runs[runs["run_id"].isin(lean_ids(runs))]
    assert s["seconds_full"] == pytest.approx(runs["duration_s"].sum())
    assert s["seconds_lean"] == pytest.approx(lean["duration_s"].sum())
    assert s["seconds_kind"] == "GPU-seconds"
    assert (s["groups"], s["groups_extended"]) == (6, 2)


def test_exactly_the_constructed_verdicts_differ(runs, result):
    rows = result.replay
    assert list(rows.columns) == REPLAY_COLUMNS
    assert set(rows["kind"]) == {"energy", "metric", "win_tie_loss", "recommendation", "correlation"}
    differ = rows[~rows["same"] & (rows["kind"] != "correlation")]
    got = {(r.kind, r.mode, r.mutant_id, r.full, r.lean) for r in differ.itertuples()}
    assert got == {
        ("energy", "single", "s__lr__x5", "same", "lower"),
        ("win_tie_loss", "single", "s__lr__x5", "same/same", "lower/same"),
        ("recommendation", "single", "s__lr__x5", "not recommended", "recommended"),
        ("metric", "single", "s__lr__x6", "same", "worse"),
        ("win_tie_loss", "single", "s__lr__x6", "lower/same", "lower/worse"),
        ("recommendation", "single", "s__lr__x6", "recommended", "not recommended"),
    }
    # correlations: the full table's against those of the hand-listed lean runs
    lean = runs[runs["run_id"].isin(lean_ids(runs))]
    corr = rows[rows["kind"] == "correlation"].set_index(["mode", "partner", "mutant_id"])
    want = verdicts(study_tables(lean, {}), 0.05)
    want = want[want["kind"] == "correlation"].set_index(["mode", "partner", "mutant_id"])["verdict"]
    assert len(want) and corr["lean"].to_dict() == want.to_dict()
    assert "lr ~ total_energy_j (spearman)" in set(corr.index.get_level_values("mutant_id"))
    assert result.summary.iloc[0]["verdicts_kept"] == int(rows["same"].sum())


def test_first_wave_follows_the_tables_repetition_numbers():
    # repetitions numbered 0, 2, 4, 6, 8: the first wave is the first three of each group, in order
    runs = validate_runs(known_table(reps=[0, 2, 4, 6, 8]))
    got = replay(runs, settings(), {})
    assert sorted(got.lean_runs["repetition"].astype(int).unique()) == [0, 2, 4, 6, 8]
    first = got.lean_runs[~got.lean_runs["mutant_id"].isin(["s__original", "s__lr__x4", "s__lr__x5"])]
    assert set(first["repetition"].astype(int)) == {0, 2, 4}
    assert got.summary.iloc[0]["runs_lean"] == 32


def test_groups_whose_names_run_together_stay_apart():
    # partner "t__original" + mutant "s__lr__x5" and partner "t__orig" + mutant "inals__lr__x5" spell
    # the same text when joined: they are still two groups, each with its own repetition 1
    runs = pd.DataFrame({"run_id": ["a", "b"], "subject": ["s", "s"], "mode": ["pair", "pair"],
                         "partner": ["t__original", "t__orig"], "mutant_id": ["s__lr__x5", "inals__lr__x5"],
                         "repetition": [1, 1]})
    assert repetition_order(runs).tolist() == [1, 1]


def test_first_wave_of_all_repetitions_keeps_everything(runs):
    got = replay(runs, settings(first_wave=5), {})
    assert got.summary.iloc[0]["runs_lean"] == 40 and got.replay["same"].all()


# --- the command ---------------------------------------------------------------------------------

def write(tmp_path, df, name="runs.tsv"):
    path = tmp_path / name
    df.to_csv(path, sep="\t", index=False)
    return path


def config_file(tmp_path, **lean):
    path = tmp_path / "lean.yaml"
    path.write_text(yaml.safe_dump({"lean": {**LEAN, **lean}}))
    return [str(ROOT / "config.yaml"), str(path)]


def test_cli_writes_the_tables_and_lists_every_difference(tmp_path, capsys):
    out = tmp_path / "replay"
    code = main(["replay", "--runs-table", str(write(tmp_path, known_table())),
                 "--configfile", *config_file(tmp_path), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    rows = pd.read_csv(out / "replay.tsv", sep="\t", keep_default_na=False)
    summary = pd.read_csv(out / "replay_summary.tsv", sep="\t")
    assert list(rows.columns) == REPLAY_COLUMNS and list(summary.columns) == SUMMARY_COLUMNS
    assert len(summary) == 1 and summary.loc[0, "runs_lean"] == 32 and summary.loc[0, "runs_full"] == 40
    assert (out / "decisions.tsv").is_file()
    differ = rows[rows["same"].astype(str) == "False"]
    assert len(differ) >= 6
    for r in differ.itertuples():
        assert f"differs: {r.kind} " in text and r.mutant_id in text
    assert "runs: 32 of 40 (80.0 %)" in text and "derived-epochs" in text


def test_cli_replays_a_disabled_lean_section_and_says_so(tmp_path, capsys):
    code = main(["replay", "--runs-table", str(write(tmp_path, known_table())),
                 "--configfile", *config_file(tmp_path, enabled=False), "--out", str(tmp_path / "o")])
    assert code == 0 and "lean.enabled is false" in capsys.readouterr().out


@pytest.mark.parametrize("case, message", [
    ("missing", "runs table {path}: not found"),
    ("no_repetition", "no 'repetition' column"),
    ("few_reps", "at most 2 repetition(s) per configuration: lean.first_wave: 3 is more than repetitions (2)"),
    ("duplicate", "are both repetition 1 of s__lr__x2"),
    ("no_config", "config file nope.yaml: not found"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, case, message):
    df = known_table()
    if case == "no_repetition":
        df = df.drop(columns="repetition")
    if case == "few_reps":
        df = df[df["repetition"].astype(int) <= 2]
    if case == "duplicate":
        df = pd.concat([df, df[(df["mutant_id"] == "s__lr__x2") & (df["repetition"] == "1")].assign(run_id="again")])
    path = tmp_path / "absent.tsv" if case == "missing" else write(tmp_path, df)
    configs = ["nope.yaml"] if case == "no_config" else config_file(tmp_path)
    code = main(["replay", "--runs-table", str(path), "--configfile", *configs, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("greenhp replay: ")
    assert message.format(path=path) in err
    assert not (tmp_path / "o" / "replay.tsv").exists()


def test_replay_error_is_a_value_error():
    assert issubclass(ReplayError, ValueError)


def test_derived_rows_are_not_counted_as_trained_runs():
    # rows read from another run's epoch marks (column derived, issue 24) cost no training
    df = known_table()
    df["derived"], df["derived_from"] = "false", ""
    x2 = (df["mutant_id"] == "s__lr__x2") & (df["mode"] == "single")
    df.loc[x2, "derived"] = "true"  # each read from the trained x3 run of its repetition
    df.loc[x2, "derived_from"] = "single-s__lr__x3-alone-" + df.loc[x2, "repetition"]
    got = replay(validate_runs(df), settings(), {})
    s = got.summary.iloc[0]
    assert (s["runs_full"], s["runs_lean"]) == (35, 29)  # 5 and 3 derived rows of x2 left out
    trained = df[df["derived"] == "false"]
    assert s["seconds_full"] == pytest.approx(trained["duration_s"].astype(float).sum())


def test_cli_reads_a_published_csv_in_the_minimal_import_format(tmp_path, capsys):
    # no duration_s, no device, no hp_ columns: runs and verdicts replayed, seconds said to be missing
    df = known_table()[["run_id", "subject", "mode", "partner", "mutant_id", "hyperparameter", "original",
                        "value", "status", "repetition", "total_energy_j", "metric_name", "metric_value"]]
    path = tmp_path / "published.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "o"
    code = main(["replay", "--runs-table", str(path), "--configfile", *config_file(tmp_path), "--out", str(out)])
    text = capsys.readouterr().out
    summary = pd.read_csv(out / "replay_summary.tsv", sep="\t")
    assert code == 0 and summary.loc[0, "runs_lean"] == 32
    assert summary.loc[0, "runs_without_duration"] == 40 and summary.loc[0, "seconds_kind"] == "seconds"
    assert "40 run(s) without duration_s not counted" in text
    rows = pd.read_csv(out / "replay.tsv", sep="\t", keep_default_na=False)
    assert (rows["same"].astype(str) == "False").sum() >= 6


def test_an_incomplete_table_is_replayed_and_said_to_be_incomplete(tmp_path, capsys):
    df = known_table()
    df = df[~((df["mutant_id"] == "s__lr__x2") & (df["repetition"].astype(int) > 3))]  # x2 has 3 of 5
    out = tmp_path / "o"
    assert main(["replay", "--runs-table", str(write(tmp_path, df)), "--configfile", *config_file(tmp_path),
                 "--out", str(out)]) == 0
    assert "note: 1 group(s) have fewer than 5 repetitions" in capsys.readouterr().out
    assert pd.read_csv(out / "replay_summary.tsv", sep="\t").loc[0, "groups_short"] == 1


# --- the bound: the best any choice of groups to extend could keep (greenhp.lean.oracle) ----------

def test_bound_finds_the_groups_that_keep_every_verdict(runs):
    from greenhp.lean.oracle import best_extensions

    # x4 and x5 beside t are grey after 3; x5 and x6 alone are contradicted by reps 4-5: all four are
    # needed to keep every verdict, and x2, x3 (clear after 3) are not: 28 + 4 x 2 runs
    got = best_extensions(runs, 3, 1.0, {})
    assert (got.best_kept, got.verdicts, got.best_runs, got.subsets) == (32, 32, 36, 64)
    assert got.best_groups == ("pair s__lr__x5 t__original", "single s__lr__x4", "single s__lr__x5",
                               "single s__lr__x6")
    # a budget of the first wave alone: the one subset is none, and it keeps what no extension keeps
    none = best_extensions(runs, 3, 0.7, {})
    assert (none.subsets, none.best_groups, none.best_runs) == (1, (), 28)
    first_only = replay(runs, settings(p_band=[0.0, 1e-9]), {})
    assert none.best_kept == int(first_only.replay["same"].sum()) < 32


def test_bound_says_when_it_tried_nothing(runs):
    from greenhp.lean.oracle import best_extensions

    assert not best_extensions(runs, 3, 0.5, {}).complete           # below the first wave's own runs
    assert not best_extensions(runs, 3, 1.0, {}, limit=10).complete  # 64 subsets > 10
