"""The energy layer's import rules (docs/architecture.md, "The energy layer"), checked by parsing the
imports of src/greenhp/energy: no cycle, no import of another module's private name, the vendor
libraries' wrappers imported by the meters alone, and the meters below the monitor."""

import ast
import pathlib

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"
ENERGY = SRC / "greenhp" / "energy"
BACKENDS = {"greenhp.energy.nvml", "greenhp.energy.rapl", "greenhp.energy.pyrapl_backend"}
ABOVE_METERS = {"greenhp.energy", "greenhp.energy.monitor", "greenhp.energy.command", "greenhp.energy.cli",
                "greenhp.energy.config", "greenhp.energy.baseline", "greenhp.energy.phases",
                "greenhp.energy.attribution", "greenhp.energy.environment"}


def _name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_name(p): p for p in sorted(ENERGY.rglob("*.py"))}


def _imports(name: str, path: pathlib.Path, known: set[str]) -> list[tuple[str, str | None]]:
    """(module imported, name imported from it or None) for every import of ``path``."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub, None) if sub in known else (target, a.name))
    return out


def _graph():
    mods = _modules()
    return mods, {m: _imports(m, p, set(mods)) for m, p in mods.items()}


def test_the_energy_layer_imports_follow_its_rules():
    mods, graph = _graph()
    meters = {m for m in mods if m.startswith("greenhp.energy.meters")}
    wrong = [f"{m} imports {t}" for m, imps in graph.items() for t, _ in imps
             if (t in BACKENDS and m not in meters and m not in BACKENDS)     # a backend outside the meters
             or (m in meters and t in ABOVE_METERS)]                           # a meter importing upwards
    wrong += [f"{m} imports {n} from {t}" for m, imps in graph.items() for t, n in imps
              if n and n.startswith("_") and not n.startswith("__") and t != m]
    assert wrong == []
    for user in ("greenhp.energy.monitor", "greenhp.energy.sampler", "greenhp.energy.baseline",
                 "greenhp.energy.environment", "greenhp.energy.meters.gpu_meter"):
        assert "greenhp.energy.gpu" in {t for t, _ in graph[user]}, f"{user} does not use the GpuDevice interface"
    edges = {m: {t for t, _ in imps if t in mods and t != m} for m, imps in graph.items()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for t in sorted(edges[m]):
            assert state.get(t) != 1, "import cycle: " + " -> ".join(stack + [m, t])
            if t not in state:
                visit(t, stack + [m])
        state[m] = 2

    for m in sorted(mods):
        if m not in state:
            visit(m, [])
