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
    "table_hp_foreign": (table_edit(lambda rows: set_cell(rows, 2, "hyperparameter", "momentum")),
                         r"mutant 'digits_cnn__\S+': hyperparameter 'momentum' is not one of digits_cnn's: epochs, lr"),
}


def run_case(name: str, root, apply=None):
    apply = apply or CASES[name][0]
    work = root / name
    work.mkdir()
    config = copy.deepcopy(BASE)
    apply(config, work)
    (work / "study.yaml").write_text(yaml.safe_dump(config))
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
