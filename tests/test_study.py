import re
import subprocess

import pytest
import yaml

from testutil import ROOT, snakemake_cmd, subprocess_env
from greenhp.study import StudyError, load_study


def test_default_study_counts(default_config):
    study = load_study(default_config)
    configs = len(study.mutants)
    assert configs == 2 * (1 + 4 * default_config["mutants_per_hyperparameter"])
    assert len(study.single_jobs()) == configs * default_config["repetitions"]
    cnn_configs = sum(m.subject == "digits_cnn" for m in study.mutants)
    assert len(study.pair_jobs()) == cnn_configs * default_config["repetitions"]
    assert {j.partner for j in study.pair_jobs()} == {"digits_mlp__original"}


def job_counts(args: list[str], cwd=ROOT) -> dict[str, int]:
    out = subprocess.run(
        snakemake_cmd() + ["-n", "--quiet", "rules"] + args, cwd=cwd, env=subprocess_env(),
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    counts = {}
    for line in (out.stdout + out.stderr).splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


def test_dry_run_lists_exactly_the_predicted_jobs(tmp_path, default_config):
    """snakemake -n (in an empty results folder) holds one job per planned single and pair run."""
    default_config.update(repetitions=2, mutants_per_hyperparameter=1)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(default_config))
    study = load_study(default_config)
    counts = job_counts(["--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--configfile", str(cfg)], cwd=ROOT)
    assert counts["train_single"] == len(study.single_jobs()) == 20
    assert counts["train_pair"] == len(study.pair_jobs()) == 10
    assert counts["aggregate"] == 1


def deep_update(base: dict, change: dict) -> None:
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value


@pytest.mark.parametrize(
    "change, message",
    [
        ({"subjects": {"resnet9000": None}}, r"unknown subject 'resnet9000'; known subjects: .*digits_cnn"),
        ({"subjects": {"digits_cnn": {"hyperparameters": ["learning_rate"]}}}, r"'learning_rate' is not a hyperparameter of digits_cnn; allowed: epochs, lr"),
        ({"pairs": {"digits_cnn": "digits_rnn"}}, r"pairs.digits_cnn: partner 'digits_rnn' is not a subject"),
        ({"subjects": {"digits_cnn": {"defaults": {"epochs": -3}}}}, r"subjects.digits_cnn.defaults.epochs: -3 is out of range; allowed: int in \[1, inf\)"),
        ({"subjects": {"digits_cnn": {"defaults": {"lr": 0}}}}, r"lr: 0.0 is out of range; allowed: float in \(0.0, inf\)"),
        ({"subjects": {"digits_cnn": {"hyperparameters": {"lr": "bogus"}}}}, r"unknown operator 'bogus'"),
        ({"mutants_table": "nowhere.tsv"}, r"mutants_table: file .*nowhere.tsv.* not found"),
    ],
)
def test_bad_config_rejected_with_named_field(default_config, change, message):
    deep_update(default_config, change)
    with pytest.raises(StudyError, match=message):
        load_study(default_config)


def test_user_mutant_table_checked(tmp_path, default_config):
    from greenhp.mutation import build_mutants, to_tsv
    from greenhp.study import subject_defaults

    text = to_tsv(build_mutants(default_config, subject_defaults(default_config)))
    good = tmp_path / "good.tsv"
    good.write_text(text)
    assert len(load_study(dict(default_config, mutants_table=str(good))).mutants) == 10
    lines = text.splitlines()
    bad_rows = {
        "dup": (lines + [lines[1]], r"appears more than once"),
        "shell": ([lines[0], lines[1].replace("digits_cnn__original", "x;rm -rf ~", 1)] + lines[2:], r"only letters, digits"),
        "traversal": ([lines[0], lines[2].replace("digits_cnn__", "../../etc__", 1)] + lines[1:2] + lines[3:], r"only letters|\.\."),
        "empty": ([], r"empty file"),
    }
    for name, (rows, message) in bad_rows.items():
        path = tmp_path / f"{name}.tsv"
        path.write_text("\n".join(rows) + ("\n" if rows else ""))
        with pytest.raises(StudyError, match=message):
            load_study(dict(default_config, mutants_table=str(path)))


def test_paper_study_dry_run_counts(tmp_path):
    """studies/paper.yaml: 5 subjects x (1 + 3 hyperparameters x 5 mutants) x 5 repetitions alone; in pairs
    the reference's four combinations (mnist_cnn and siamese beside two partners each)."""
    counts = job_counts(["--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                         "--configfile", str(ROOT / "studies/paper.yaml")])
    assert counts["train_single"] == 5 * (1 + 3 * 5) * 5 == 400
    assert counts["train_pair"] == 2 * (1 + 3 * 5) * 2 * 5 == 320
    assert not (tmp_path / "data").exists()  # planning touched no data set (download is off)


def test_schemas_spell_the_mutant_id_pattern_of_greenhp_study():
    """The YAML schemas cannot import Python, so they repeat the id pattern: this keeps the copies equal."""
    from greenhp.study import ID_PATTERN
    schemas = ROOT / "src" / "greenhp" / "schemas"
    mutants = yaml.safe_load((schemas / "mutants.schema.yaml").read_text())
    record = yaml.safe_load((schemas / "run_record.schema.yaml").read_text())
    copies = [mutants["properties"]["mutant_id"]["pattern"],
              record["properties"]["mutant_id"]["pattern"],
              record["definitions"]["identity"]["properties"]["mutant_id"]["pattern"]]
    assert copies == [f"^{ID_PATTERN}$"] * 3
