"""Bad input: malformed configurations and mutant tables are rejected by `snakemake -n`, before any
training, with ONE line naming the field and the allowed values, no traceback, nothing written under
results/ or logs/, and no table value ever reaching a shell (docs/cluster.md, "Bad input")."""

import copy
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from greenhp.mutation import build_mutants, to_tsv
from greenhp.study import subject_defaults
from testutil import ROOT, snakemake_cmd, subprocess_env

pytestmark = pytest.mark.slow

BASE = {
    "study": "bad-input",
    "seed": 5,
    "device": "cpu",
    "repetitions": 1,
    "mutants_per_hyperparameter": 1,
    "subjects": {"digits_cnn": {"hyperparameters": ["epochs", "lr"]}, "digits_mlp": {"hyperparameters": ["lr"]}},
    "pairs": {"digits_cnn": "digits_mlp"},
    "train": {"max_steps": 3},
}
PWNED = "PWNED"  # a file that a shell-injected value would create


def base_table() -> list[list[str]]:
    rows = to_tsv(build_mutants(BASE, subject_defaults(BASE))).splitlines()
    return [r.split("\t") for r in rows]


def table_edit(fn):
    """A case that edits the good mutant table (list of rows of cells, header first)."""
    def apply(config, work):
        rows = base_table()
        text = fn(rows)
        (work / "mutants.tsv").write_text(text if isinstance(text, str) else "\n".join("\t".join(r) for r in text) + "\n")
        config["mutants_table"] = "mutants.tsv"
    return apply


def col(rows, name):
    return rows[0].index(name)


def set_cell(rows, row, name, value):
    rows[row][col(rows, name)] = value
    return rows


def config_edit(path, value):
    """A case that sets config key ``path`` (dotted) to ``value`` (DELETE removes it)."""
    def apply(config, work):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        if value == "DELETE":
            del node[last]
        else:
            node[last] = copy.deepcopy(value)
    return apply


def raw_config(text_of):
    """A case that writes the config file's text: ``text_of(yaml_text_of_BASE)``."""
    def apply(config, work):
        return text_of(yaml.safe_dump(config, sort_keys=False))
    return apply


def user_subject(body: str, name: str = "mine"):
    """A case with a user-defined subject ``mine`` whose module file is ``body``."""
    def apply(config, work):
        (work / f"{name}.py").write_text(body)
        config["subjects"] = {"mine": {"module": f"{name}.py:SUBJECT"}}
        config["pairs"] = {}
    return apply


CASES = {
    # ---- configuration (JSON schema)
    "repetitions_negative": (config_edit("repetitions", -1), r"repetitions: -1 is not allowed; allowed: integer >= 1"),
    "seed_wrong_type": (config_edit("seed", "abc"), r"seed: 'abc' is not allowed; allowed: integer"),
    "seed_missing": (config_edit("seed", "DELETE"), r"seed: missing; this key is required"),
    "top_level_misspelt": (config_edit("repetition", 3), r"\(top level\): unknown key 'repetition'; allowed: .*repetitions"),
    "train_key_misspelt": (config_edit("train.timout_s", 3), r"train: unknown key 'timout_s'; allowed: torch_threads, timeout_s"),
    "device_unknown": (config_edit("device", "gpu"), r"device: 'gpu' is not allowed; allowed: auto, cpu, cuda"),
    "timeout_zero": (config_edit("train.timeout_s", 0), r"train.timeout_s: 0 is not allowed; allowed: number or null > 0"),
    "mutants_zero": (config_edit("mutants_per_hyperparameter", 0), r"mutants_per_hyperparameter: 0 is not allowed; allowed: integer >= 1"),
    "no_subjects": (config_edit("subjects", {}), r"subjects: is empty; allowed: object with at least 1 entry"),
    "subject_key_misspelt": (config_edit("subjects.digits_cnn", {"hyperparams": ["lr"]}),
                             r"subjects.digits_cnn: unknown key 'hyperparams'; allowed: hyperparameters, defaults, module"),
    "alpha_out_of_range": (config_edit("analysis", {"alpha": 1.5}), r"analysis.alpha: 1.5 is not allowed; allowed: number > 0 and < 1"),
    # ---- an unknown key in every section (issue 10, item 4)
    "energy_key_misspelt": (config_edit("energy", {"gpu_meterr": "nvml"}),
                            r"energy: unknown key 'gpu_meterr'; allowed: gpu_meter, cpu_meter, cpu_watts_per_core, sample_hz"),
    "carbon_key_misspelt": (config_edit("carbon", {"intensity": 100}), r"carbon: unknown key 'intensity'; allowed: intensity_g_per_kwh, price_per_kwh"),
    "data_key_misspelt": (config_edit("data", {"sorce": "real"}), r"data: unknown key 'sorce'; allowed: root, download, source, scale"),
    "analysis_key_misspelt": (config_edit("analysis", {"nboot": 100}), r"analysis: unknown key 'nboot'; allowed: alpha, delta_threshold, n_boot, seed"),
    # ---- resource bounds (issue 11, failure 10) and weak spots
    "repetitions_huge": (config_edit("repetitions", 1e9), r"repetitions: 1000000000.0 is not allowed; allowed: integer >= 1 and <= 1000"),
    "seed_beyond_int64": (config_edit("seed", 2**70), r"seed: 1180591620717411303424 is not allowed; allowed: integer >= 0 and <= 9223372036854774807"),
    "torch_threads_huge": (config_edit("train.torch_threads", 10**6), r"train.torch_threads: 1000000 is not allowed; allowed: integer >= 0 and <= 256"),
    "n_boot_huge": (config_edit("analysis", {"n_boot": 10**12}), r"analysis.n_boot: 1000000000000 is not allowed; allowed: integer >= 100 and <= 100000"),
    "cpu_watts_negative": (config_edit("energy", {"cpu_watts_per_core": -1}), r"energy.cpu_watts_per_core: -1 is not allowed; allowed: number > 0 and <= 1000"),
    "timeout_infinite": (config_edit("train.timeout_s", float("inf")), r"train.timeout_s: inf is not allowed; allowed: number or null > 0 and <= 604800"),
    "sample_hz_as_text": (raw_config(lambda text: text + "energy:\n  sample_hz: 1e6\n"),
                          r"energy.sample_hz: '1e6' is not allowed; allowed: number > 0 and <= 1000 \(YAML reads 1e6 as text, not a number: .*1.0e\+06\)"),
    "key_written_twice": (raw_config(lambda text: text + "seed: 6\n"),
                          r"config file \S+study.yaml, line \d+: key 'seed' appears twice in one mapping \(first at line 2\)"),
    "module_exits_at_import": (user_subject("import sys\nsys.exit(3)\n"), r"subjects.mine.module: 'mine.py:SUBJECT' called sys.exit\(3\) while being imported"),
    "pair_partner_twice": (config_edit("pairs", {"digits_cnn": ["digits_mlp", "digits_mlp"]}),
                           r"pairs.digits_cnn: partner 'digits_mlp' is listed twice"),
    # ---- configuration (study semantics)
    "subject_unknown": (config_edit("subjects.resnet9000", None), r"unknown subject 'resnet9000'; known subjects: .*digits_cnn"),
    "hyperparameter_misspelt": (config_edit("subjects.digits_cnn.hyperparameters", ["learning_rate"]),
                                r"subjects.digits_cnn.hyperparameters: 'learning_rate' is not a hyperparameter of digits_cnn; allowed: epochs, lr"),
    "operator_unknown": (config_edit("subjects.digits_cnn.hyperparameters", {"lr": "bogus"}),
                         r"subjects.digits_cnn.hyperparameters.lr.operator: unknown operator 'bogus'; allowed: epochs_ref"),
    "operator_key_unknown": (config_edit("subjects.digits_cnn.hyperparameters", {"lr": {"operator": "values", "vals": [1]}}),
                             r"subjects.digits_cnn.hyperparameters.lr: unknown key\(s\) vals for operator values; allowed: values"),
    "epochs_negative": (config_edit("subjects.digits_cnn.defaults", {"epochs": -3}),
                        r"subjects.digits_cnn.defaults.epochs: -3 is out of range; allowed: int in \[1, inf\)"),
    "lr_zero": (config_edit("subjects.digits_cnn.defaults", {"lr": 0}), r"subjects.digits_cnn.defaults.lr: 0.0 is out of range; allowed: float in \(0.0, inf\)"),
    "lr_values_negative": (config_edit("subjects.digits_cnn.hyperparameters", {"lr": {"operator": "values", "values": [-0.1]}}),
                           r"subjects.digits_cnn.hyperparameters.lr: lr: -0.1 is out of range; allowed: float in \(0.0, inf\)"),
    "pair_missing_partner": (config_edit("pairs", {"digits_cnn": "digits_rnn"}), r"pairs.digits_cnn: partner 'digits_rnn' is not a subject of this study; subjects: digits_cnn, digits_mlp"),
    "pair_unknown_subject": (config_edit("pairs", {"mnist_cnn": "digits_mlp"}), r"pairs: 'mnist_cnn' is not a subject of this study; subjects: digits_cnn, digits_mlp"),
    "subject_name_shell": (config_edit("subjects", {f"x;touch {PWNED}": None}), r"subjects: name 'x;touch PWNED' may hold only letters, digits, _ and -"),
    "subject_name_traversal": (config_edit("subjects", {"../../etc": None}), r"subjects: name '../../etc' may hold only letters, digits, _ and -"),
    "module_shell": (config_edit("subjects", {"mine": {"module": f"$(touch {PWNED}).py:X"}}), r"subjects.mine.module: "),
    "mutants_table_missing": (config_edit("mutants_table", "nowhere.tsv"), r"mutants_table: file 'nowhere.tsv' not found"),
    # ---- mutant tables
    "table_empty": (table_edit(lambda rows: ""), r"mutant table mutants.tsv: empty file; expected a header with mutant_id, subject"),
    "table_header_only": (table_edit(lambda rows: rows[:1]), r"mutant table mutants.tsv: no rows below the header"),
    "table_duplicate_id": (table_edit(lambda rows: rows + [rows[2]]), r"mutant_id 'digits_cnn__\S+' appears more than once"),
    "table_operator_unknown": (table_edit(lambda rows: set_cell(rows, 2, "operator", "teleport")),
                               r"mutant table mutants.tsv, line 3, column operator: 'teleport' unknown; allowed: none, epochs_ref"),
    "table_subject_unknown": (table_edit(lambda rows: set_cell(rows, 2, "subject", "resnet9000")),
                              r"mutant 'digits_cnn__\S+': subject 'resnet9000' is not in this study; subjects: digits_cnn, digits_mlp"),
    "table_hp_column_misspelt": (table_edit(lambda rows: set_cell(rows, 0, "hp_lr", "hp_learning_rate")),
                                 r"mutant table mutants.tsv: unknown column\(s\) hp_learning_rate; hyperparameter columns are hp_epochs, hp_lr"),
    "table_epochs_negative": (table_edit(lambda rows: set_cell(rows, 2, "hp_epochs", "-4")),
                              r"mutant 'digits_cnn__\S+': hp_epochs: -4 is out of range; allowed: int in \[1, inf\)"),
    "table_lr_zero": (table_edit(lambda rows: set_cell(rows, 2, "hp_lr", "0")),
                      r"mutant 'digits_cnn__\S+': hp_lr: 0.0 is out of range; allowed: float in \(0.0, inf\)"),
    "table_lr_wrong_type": (table_edit(lambda rows: set_cell(rows, 2, "hp_lr", "fast")),
                            r"mutant table mutants.tsv, line 3, column hp_lr: expected a number, got 'fast'"),
    "table_id_shell": (table_edit(lambda rows: set_cell(rows, 2, "mutant_id", f"x;touch {PWNED}")),
                       r"line 3, column mutant_id: 'x;touch PWNED': only letters, digits and _ . \+ - are allowed"),
    "table_id_subshell": (table_edit(lambda rows: set_cell(rows, 2, "mutant_id", f"$(touch {PWNED})")),
                          r"line 3, column mutant_id: '\$\(touch PWNED\)': only letters, digits and _ . \+ - are allowed"),
    "table_id_traversal": (table_edit(lambda rows: set_cell(rows, 2, "mutant_id", "a..b")),
                           r"mutant_id 'a..b': only letters, digits and _ . \+ - are allowed \(no spaces, slashes, '..'"),
    "table_id_slash": (table_edit(lambda rows: set_cell(rows, 2, "mutant_id", "x/../../../tmp/evil")),
                       r"line 3, column mutant_id: 'x/../../../tmp/evil': only letters"),
    "table_no_original": (table_edit(lambda rows: [rows[0]] + [r for r in rows[1:] if r[0] != "digits_mlp__original"]),
                          r"mutant table: no original row for subject 'digits_mlp' \(mutant_id digits_mlp__original\)"),
    "table_ragged_row": (table_edit(lambda rows: rows[:2] + [rows[2][:-1]] + rows[3:]), r"mutant table mutants.tsv, line 3: \d+ cells, header has \d+"),
    "table_hp_missing": (table_edit(lambda rows: set_cell(rows, 2, "hp_lr", "")), r"mutant 'digits_cnn__\S+': no value for hp_lr"),
    "table_binary": (table_edit(lambda rows: "\x00\x01 not a table \x00"), r"mutant table mutants.tsv: is a binary file \(it holds NUL bytes\), not tab-separated text"),
    "table_id_300_chars": (table_edit(lambda rows: set_cell(rows, 2, "mutant_id", "a" + "b1" * 150)),
                           r"mutant_id 'ab1b1b1\S*'... is 301 characters long; allowed: at most 100"),
    "table_id_periodic": (table_edit(lambda rows: set_cell(rows, 2, "mutant_id", "cnn_" + "x" * 20)),
                          r"mutant_id 'cnn_x{20}': ends in 'x' repeated 20 times, which Snakemake refuses as a wildcard value"),
    "table_value_contradicts_hp": (table_edit(lambda rows: set_cell(rows, 3, "value", "0.5")),
                                   r"mutant 'digits_cnn__lr__\S+': value 0.5 contradicts hp_lr \S+; they must be equal"),
    "table_hp_foreign": (table_edit(lambda rows: set_cell(rows, 2, "hyperparameter", "momentum")),
                         r"mutant 'digits_cnn__\S+': hyperparameter 'momentum' is not one of digits_cnn's: epochs, lr"),
}


def run_case(name: str, root, apply=None):
    apply = apply or CASES[name][0]
    work = root / name
    work.mkdir()
    config = copy.deepcopy(BASE)
    raw = apply(config, work)  # a case may write the config file's text itself (e.g. a key twice)
    (work / "study.yaml").write_text(raw if isinstance(raw, str) else yaml.safe_dump(config))
    cmd = snakemake_cmd() + ["-n", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                             "--configfile", str(work / "study.yaml")]
    out = subprocess.run(cmd, cwd=work, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    return work, out


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case's `snakemake -n`, a few at a time (each is a separate Snakemake start)."""
    root = tmp_path_factory.mktemp("bad")
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(CASES, pool.map(lambda n: run_case(n, root), CASES))) | {"_root": root}


def test_good_base_config_is_accepted(tmp_path):
    _, out = run_case("good", tmp_path, apply=lambda config, work: None)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "train_single" in out.stdout + out.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_rejected_with_one_line_naming_the_field(outcomes, name):
    work, out = outcomes[name]
    _, pattern = CASES[name]
    text = out.stdout + out.stderr
    assert out.returncode == 1, text[-3000:]
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("Using workflow specific profile")]
    assert len(lines) == 1, text
    assert lines[0].startswith("greenhp: configuration rejected: "), lines[0]
    assert re.search(pattern, lines[0]), f"{lines[0]!r} !~ {pattern!r}"
    assert "Traceback" not in text and "Error in" not in text
    assert not (work / "results").exists() and not (work / "logs").exists()


def test_no_value_reached_a_shell(outcomes):
    root = outcomes["_root"]
    assert not list(root.rglob(PWNED)) and not (ROOT / PWNED).exists()


# ---------------------------------------------------------------- fast checks of greenhp.study itself
# The same checks the Snakefile runs at parse time, called directly (no Snakemake start each).

def study_rejection(config: dict, work=None) -> str:
    """The one-line StudyError a config (and its mutant table under ``work``) gets; "" when accepted."""
    from greenhp.study import StudyError, load_study, validate_config

    try:
        validate_config(config)
        load_study(config, base_dir=work or ".")
    except StudyError as err:
        return str(err)
    return ""


USER_SUBJECT = """
import dataclasses
from greenhp.subjects import get_subject
SUBJECT = dataclasses.replace(get_subject("digits_mlp"), defaults={defaults})
"""


@pytest.mark.parametrize("defaults, pattern", [
    ({"epochs": 2, "lr": 0.1, "foo": 1}, r"^subjects.mine: the subject's own default 'foo' is not a hyperparameter greenhp knows; allowed: epochs, lr"),
    ({"epochs": 2, "lr": "fast"}, r"^subjects.mine: the subject's own default lr: expected a number, got 'fast'$"),
    ({"epochs": 2, "lr": -0.1}, r"^subjects.mine: the subject's own default lr: -0.1 is out of range; allowed: float in \(0.0, inf\)$"),
    ({}, r"^subjects.mine: the subject declares no default hyperparameters"),
])
def test_user_subject_defaults_are_checked_and_named(tmp_path, monkeypatch, defaults, pattern):
    """issue 11, failure 11 and a weak spot: a user's own default is named as such, never blamed on an operator."""
    (tmp_path / "mine_subject.py").write_text(USER_SUBJECT.format(defaults=repr(defaults)))
    monkeypatch.chdir(tmp_path)
    config = copy.deepcopy(BASE)
    config["subjects"] = {"mine": {"module": f"{tmp_path}/mine_subject.py:SUBJECT", "hyperparameters": ["lr"]}}
    config["pairs"] = {}
    message = study_rejection(config)
    assert re.search(pattern, message), message


def table_rejection(tmp_path, edit) -> str:
    rows = base_table()
    text = edit(rows)
    (tmp_path / "t.tsv").write_text(text if isinstance(text, str) else "\n".join("\t".join(r) for r in text) + "\n")
    return study_rejection(dict(copy.deepcopy(BASE), mutants_table="t.tsv"), work=tmp_path)


def test_a_table_with_a_byte_order_mark_is_read(tmp_path):
    rows = base_table()
    (tmp_path / "t.tsv").write_bytes(b"\xef\xbb\xbf" + ("\n".join("\t".join(r) for r in rows) + "\n").encode())
    assert study_rejection(dict(copy.deepcopy(BASE), mutants_table="t.tsv"), work=tmp_path) == ""


def swap_hp_lr_value(rows, row, value):
    rows[row][col(rows, "hp_lr")] = value
    return rows


@pytest.mark.parametrize("edit, pattern", [
    (lambda rows: [r + [r[col(rows, "hp_lr")]] for r in rows[:1]] + [r + [r[col(rows, "hp_lr")]] for r in rows[1:]],
     r"mutant table \S*t.tsv: column\(s\) hp_lr appear more than once in the header"),
    (lambda rows: swap_hp_lr_value(rows, 3, "0.05"),  # the lr mutant made equal to the original
     r"mutant 'digits_cnn__lr__\S+': value 0.02561 contradicts hp_lr 0.05"),
    (lambda rows: set_cell(set_cell(swap_hp_lr_value(rows, 3, "0.05"), 3, "value", "0.05"), 3, "hyperparameter", "lr"),
     r"mutant 'digits_cnn__lr__\S+': has the same hyperparameters as digits_cnn__original; a mutant must change one"),
    (lambda rows: set_cell(set_cell(rows, 3, "hyperparameter", "none"), 3, "operator", "none"),
     r"mutant 'digits_cnn__lr__\S+': hyperparameter none marks the original, and digits_cnn's original is digits_cnn__original"),
    (lambda rows: set_cell(rows, 3, "original", "0.07"),
     r"mutant 'digits_cnn__lr__\S+': original 0.07 contradicts hp_lr 0.05 of digits_cnn__original"),
    (lambda rows: set_cell(rows, 1, "hyperparameter", "lr"),
     r"mutant 'digits_cnn__original': an original has hyperparameter none and operator none"),
])
def test_contradictory_or_duplicated_table_rows_are_rejected(tmp_path, edit, pattern):
    """issue 11, failure 7 and weak spots: value vs hp_<h>, a duplicated hp_ column, a mutant identical to
    its original, a second none row."""
    message = table_rejection(tmp_path, edit)
    assert re.search(pattern, message), message


def test_a_non_utf8_table_is_one_line(tmp_path):
    (tmp_path / "t.tsv").write_bytes(b"mutant_id\tsubject\n\xff\xfe\xfd\n")
    message = study_rejection(dict(copy.deepcopy(BASE), mutants_table="t.tsv"), work=tmp_path)
    assert message == f"mutant table {tmp_path / 't.tsv'}: is not UTF-8 text (byte 0xff at offset 18)"


def test_a_binary_or_non_mapping_config_file_is_one_line(tmp_path):
    from greenhp.study import StudyError, load_config_files

    (tmp_path / "b.yaml").write_bytes(b"seed: 1\n\xff\xfe\n")
    with pytest.raises(StudyError, match=r"b.yaml: is not UTF-8 text \(byte 0xff at offset 8\)"):
        load_config_files([tmp_path / "b.yaml"])
    (tmp_path / "l.yaml").write_text("- 1\n")
    with pytest.raises(StudyError, match=r"l.yaml: the configuration must be a mapping of keys to values, not list"):
        load_config_files([tmp_path / "l.yaml"])


def test_generated_tables_pass_the_new_row_checks():
    """Every check above holds for the tables greenhp draws itself (the default and the paper study)."""
    for path in (ROOT / "config.yaml", ROOT / "studies/paper.yaml"):
        config = yaml.safe_load(path.read_text())
        assert study_rejection(config) == "", path
