"""The cost package's rules (docs/architecture.md, "The cost package"), checked by parsing the code:
its modules import only the rows below them, Snakemake's private metadata is read in one module, and
no module but greenhp.units converts joules to kWh."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
COST = SRC / "greenhp" / "cost"
#: each module may import the cost modules of the rows above its own, no others
ROWS = [
    {"items", "snakemake_metadata"},
    {"model"},
    {"calibration_file", "calibration", "predict"},
    {"tsv", "text"},
    {"footprint", "plan"},
]


def _cost_imports(path: pathlib.Path) -> set[str]:
    """The greenhp.cost modules ``path`` imports (by their short names)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom):
            mod = ("greenhp.cost." + (node.module or "")).rstrip(".") if node.level == 1 else node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        out |= {n.split(".")[2] for n in names if n.startswith("greenhp.cost.") and (COST / f"{n.split('.')[2]}.py").is_file()}
    return out


def test_each_cost_module_imports_only_the_rows_above_it():
    row_of = {m: i for i, row in enumerate(ROWS) for m in row}
    modules = {p.stem for p in COST.glob("*.py")} - {"__init__"}
    assert modules == set(row_of), "a module of greenhp.cost is missing from the rows (docs/architecture.md)"
    wrong = [f"{m} imports {t}" for m in sorted(modules) for t in sorted(_cost_imports(COST / f"{m}.py"))
             if row_of[t] >= row_of[m]]
    assert wrong == []


def _code_strings(path: pathlib.Path) -> list[str]:
    """The string constants of a module's code (docstrings left out)."""
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs]


def _python_files():
    return sorted(SRC.rglob("*.py")) + sorted((ROOT / "scripts").glob("*.py"))


def test_snakemake_metadata_is_read_in_one_module():
    readers = [str(p.relative_to(ROOT)) for p in _python_files()
               if any(".snakemake" in s for s in _code_strings(p))]
    assert readers == ["src/greenhp/cost/snakemake_metadata.py"]


def test_joules_become_kwh_in_greenhp_units_alone():
    by_hand = [f"{p.relative_to(ROOT)}" for p in _python_files()
               for n in ast.walk(ast.parse(p.read_text()))
               if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool)
               and n.value == 3.6e6]
    assert by_hand == ["src/greenhp/units.py"]  # J_PER_KWH
