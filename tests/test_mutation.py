import math

import numpy as np
import pytest
from scipy import stats

from greenhp.mutation import (
    MutationError, build_mutants, draw, mutate, normalise_operator, read_tsv, stable_seed, to_tsv,
)
from greenhp.study import subject_defaults


def test_same_config_gives_identical_table_bytes(default_config):
    a = to_tsv(build_mutants(default_config, subject_defaults(default_config)))
    b = to_tsv(build_mutants(default_config, subject_defaults(default_config)))
    assert a == b
    default_config["seed"] += 1
    c = to_tsv(build_mutants(default_config, subject_defaults(default_config)))
    assert c != a


def test_table_has_originals_and_mutants(default_config):
    default_config["mutants_per_hyperparameter"] = 2
    rows = build_mutants(default_config, subject_defaults(default_config))
    per_subject = 1 + 2 + 2 * 2   # original, epochs at its 2 fixed values, lr and gamma drawn twice each
    assert len(rows) == 2 * per_subject
    originals = [m for m in rows if m.operator == "none"]
    assert [m.mutant_id for m in originals] == ["digits_cnn__original", "digits_mlp__original"]
    for m in rows:
        if m.hyperparameter != "none":
            changed = [k for k in m.hp if m.hp[k] != subject_defaults(default_config)[m.subject][k]]
            assert changed == [m.hyperparameter]
    assert len({m.mutant_id for m in rows}) == len(rows)


def test_adding_a_subject_leaves_others_unchanged(default_config):
    one = dict(default_config, subjects={"digits_cnn": default_config["subjects"]["digits_cnn"]})
    a = [m for m in build_mutants(one, subject_defaults(one))]
    b = [m for m in build_mutants(default_config, subject_defaults(default_config)) if m.subject == "digits_cnn"]
    assert a == b


def test_table_round_trips(tmp_path, default_config):
    rows = build_mutants(default_config, subject_defaults(default_config))
    path = tmp_path / "m.tsv"
    path.write_text(to_tsv(rows))
    assert read_tsv(path) == rows


@pytest.mark.parametrize("original", [1, 4, 14, 200])
def test_epochs_operator_bounds(original):
    rng = np.random.default_rng(0)
    for _ in range(500):
        v = draw("epochs_ref", original, rng, {})
        assert original - int(original * 0.25) <= v <= original + int(original * 0.25)
        assert v == int(v)


def test_epochs_mutants_valid_and_distinct():
    values = mutate("s", "epochs", 14, {"operator": "epochs_ref"}, 5, seed=1)
    assert len(set(values)) == 5 and 14 not in values
    assert all(isinstance(v, int) and 11 <= v <= 17 for v in values)


def test_epochs_operator_without_room_fails_clearly():
    with pytest.raises(MutationError, match=r"subjects\.s\.hyperparameters\.epochs.*only 0 distinct"):
        mutate("s", "epochs", 2, {"operator": "epochs_ref"}, 1, seed=1)


def test_lr_log10_follows_its_distribution():
    """lr * 10**(+-U): log10(value/lr) is uniform on [-1, 1]; a KS test on many draws must not reject."""
    rng = np.random.default_rng(123)
    logs = np.array([math.log10(draw("lr_log10", 0.1, rng, {}) / 0.1) for _ in range(4000)])
    assert logs.min() >= -1 and logs.max() <= 1
    assert stats.kstest(logs, stats.uniform(loc=-1, scale=2).cdf).pvalue > 0.001


def test_lr_log10_ks_detects_a_wrong_distribution():
    """The same KS check rejects draws from another operator (so the test above can fail)."""
    rng = np.random.default_rng(123)
    logs = np.array([math.log10(draw("scale_ref", 0.1, rng, {}) / 0.1) for _ in range(4000)])
    assert stats.kstest(logs, stats.uniform(loc=-1, scale=2).cdf).pvalue < 0.001


def test_scale_ref_bounds():
    rng = np.random.default_rng(1)
    for _ in range(1000):
        v = draw("scale_ref", 1e-4, rng, {})
        assert 1e-4 / 5 - 1e-18 <= v <= 3e-4 + 1e-18


def test_gamma_stays_in_range():
    values = mutate("s", "gamma", 0.7, {"operator": "scale_ref"}, 5, seed=3)
    assert all(0 < v <= 1 for v in values)


def test_fixed_operators():
    assert mutate("s", "lr", 0.1, {"operator": "factors", "factors": [0.5, 2]}, 99, seed=0) == [0.05, 0.2]
    assert mutate("s", "epochs", 10, {"operator": "values", "values": [5, 20]}, 99, seed=0) == [5, 20]
    with pytest.raises(ValueError, match="epochs"):
        mutate("s", "epochs", 10, {"operator": "values", "values": [0]}, 1, seed=0)


def test_unknown_operator_named():
    with pytest.raises(MutationError, match="unknown operator 'bogus'.*allowed: epochs_ref"):
        normalise_operator("s", "lr", "bogus")


def test_stable_seed_is_stable():
    assert stable_seed(1, "a", "b") == stable_seed(1, "a", "b") != stable_seed(1, "a", "c")


def test_user_table_rows_checked_against_schema(tmp_path, default_config):
    rows = build_mutants(default_config, subject_defaults(default_config))
    text = to_tsv(rows)
    bad = text.replace("\tlr_log10\t", "\tlr_magic\t", 1)
    path = tmp_path / "m.tsv"
    path.write_text(bad)
    with pytest.raises(MutationError, match=r"line \d+, column operator: 'lr_magic' unknown; allowed: none, epochs_ref"):
        read_tsv(path)
    path.write_text(text.replace("\tlr\tlr_log10\t0.05\t", "\tlr\tlr_log10\tfast\t", 1))
    with pytest.raises(MutationError, match=r"column original: expected a number, got 'fast'"):
        read_tsv(path)
