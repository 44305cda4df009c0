"""Experiments stand alone: none imports another, and their modules form no import cycle."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"


def _imports(path: pathlib.Path, modules) -> set[str]:
    """Every ``experiments.*`` module imported anywhere in the file (function bodies too);
    ``from pkg import mod`` counts as importing ``pkg.mod`` (not ``pkg``'s ``__init__``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("experiments.")}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and (node.module == "experiments" or node.module.startswith("experiments."))
        ):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in modules else node.module)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {}
    for path in EXPERIMENTS.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = path
    return {
        m: {i for i in _imports(p, modules) if i in modules and i != m} for m, p in modules.items()
    }


def test_no_experiment_imports_another():
    bad = []
    for module, deps in _graph().items():
        parts = module.split(".")
        # tools that drive experiments (benchmarks, the GPU check, reproduce) may import them
        if len(parts) < 2 or parts[1].startswith(("_", "bench_", "gpu_check", "reproduce")):
            continue
        for dep in deps:
            other = dep.split(".")[1]
            if other != parts[1] and not other.startswith("_") and other != "reproduce":
                bad.append(f"{module} imports {dep}")
    assert not bad, bad


def test_experiment_modules_have_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in graph[m]:
            if state.get(d) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(stack + [m, d])}")
            if d not in state:
                visit(d, stack + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])
