"""The lean: section is checked in one place (greenhp.lean.settings) and splits the jobs into waves."""
import pytest

from greenhp.study import StudyError, load_config_files, load_study, validate_config


def study_config(**lean):
    config = load_config_files(["config.yaml"])
    config["repetitions"] = 5
    config["lean"] = lean
    validate_config(config)
    return config


def test_off_by_default_every_job_is_in_the_first_wave():
    study = load_study(study_config())
    assert study.first_wave_single_jobs() == study.single_jobs()
    assert study.first_wave_pair_jobs() == study.pair_jobs()


def test_originals_get_every_repetition_mutants_the_first_wave():
    study = load_study(study_config(enabled=True, first_wave=2))
    wave = study.first_wave_single_jobs()
    originals = [j for j in wave if j.mutant_id.endswith("__original")]
    assert sorted({j.repetition for j in originals}) == [1, 2, 3, 4, 5]
    assert {j.repetition for j in wave if not j.mutant_id.endswith("__original")} == {1, 2}
    assert len(wave) == 2 * 5 + 8 * 2  # 2 originals x 5, 8 mutants x 2


@pytest.mark.parametrize("lean, message", [
    ({"enabled": True, "first_wave": 6}, "lean.first_wave: 6 is more than repetitions (5)"),
    ({"p_band": [0.3, 0.02]}, "lean.p_band: [0.3, 0.02] is not a band"),
    ({"delta_band": [0.5, 0.5]}, "lean.delta_band"),
])
def test_bad_settings_name_the_key(lean, message):
    with pytest.raises(StudyError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        load_study(study_config(**lean))


@pytest.mark.parametrize("lean", [{"first_wave": 1}, {"p_band": [0.1]}, {"band": [0, 1]}, {"expected_extension": 2}])
def test_schema_rejects_bad_types_and_unknown_keys(lean):
    config = load_config_files(["config.yaml"])
    config["lean"] = lean
    with pytest.raises(StudyError, match="lean"):
        validate_config(config)


def test_plan_counts_name_the_first_wave_only_when_lean_is_adaptive():
    from greenhp.study import describe

    assert "design" not in describe(load_study(study_config()))
    counts = describe(load_study(study_config(enabled=True, first_wave=2)))
    assert counts["design"] == "lean"
    assert counts["first_wave_jobs"] == 26 + 13  # single: 2 originals x 5 + 8 mutants x 2; pair: 5 + 4 x 2
    assert counts["first_wave_jobs"] + counts["jobs_that_may_follow"] == counts["single_jobs"] + counts["pair_jobs"]
