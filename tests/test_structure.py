"""The library's shape (docs/architecture.md): no import cycle, no use of another module's
``_private`` name, no function over 80 lines and no module over 700 lines (model definitions in
``greenhp/subjects`` excepted). Parsed from the source, so a test of the code as it is."""
import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "greenhp"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 700
MODEL_DEFINITIONS = "greenhp.subjects."  # network definitions read best whole


def _modules() -> dict[str, Path]:
    mods = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imports(name: str, path: Path):
    """(edges, private uses) of one module: the greenhp modules it imports (at any depth, inside
    functions too) and every ``_name`` it takes from another module, by import or attribute."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    edges, private, aliases = set(), [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full in MODULES:
                    edges.add(full)
                    aliases[alias.asname or alias.name] = full
                elif target in MODULES:
                    edges.add(target)
                    if _private(alias.name):
                        private.append(f"{name} imports {target}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    edges.add(alias.name)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and _private(node.attr) and aliases[node.value.id] != name):
            private.append(f"{name} uses {aliases[node.value.id]}.{node.attr}")
    return edges, private


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(GRAPH[v][0]):
            if w == v:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def _is_package_parent(a: str, b: str) -> bool:
    return b.startswith(a + ".") or a.startswith(b + ".")


def test_no_import_cycles():
    # a package's __init__ re-exporting its own modules is not a cycle between layers
    cycles = [c for c in _cycles() if not all(_is_package_parent(x, y) for x in c for y in c if x != y)]
    assert cycles == []


def test_no_private_names_across_modules():
    uses = [u for _, (_, private) in sorted(GRAPH.items()) for u in private]
    assert uses == []


def test_functions_and_modules_stay_short():
    long_functions, big_modules = [], []
    for name, path in MODULES.items():
        if name.startswith(MODEL_DEFINITIONS):
            continue
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            big_modules.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {n} lines")
    assert long_functions == [] and big_modules == []


def test_the_checks_can_fail(tmp_path):
    """The parser sees a private use and a cycle when there is one."""
    global GRAPH
    saved = GRAPH
    try:
        GRAPH = {"greenhp.a": ({"greenhp.b"}, ["greenhp.a uses greenhp.b._x"]), "greenhp.b": ({"greenhp.a"}, [])}
        assert _cycles() == [["greenhp.a", "greenhp.b"]]
    finally:
        GRAPH = saved
    assert _private("_x") and not _private("__version__") and not _private("x")
