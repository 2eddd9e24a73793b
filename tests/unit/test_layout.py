"""The shape of the code: modules stay small, classes stay small, and no two modules import each other.

Read from the source with `ast`, without importing anything, so a cycle is found even where Python would
tolerate it at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"msassistant": REPO / "src" / "msassistant", "benchmarks": REPO / "benchmarks"}
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 200


def modules() -> dict[str, Path]:
    out = {}
    for top, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            if "versions" in path.relative_to(root).parts:  # Alembic revisions are not imported by the code
                continue
            parts = [top, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ours that `name` imports at module level (imports inside functions are lazy by design)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports are for type checkers only
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import x` imports the module x
                if f"{target}.{alias.name}" in known:
                    found.add(f"{target}.{alias.name}")
                elif target in known:
                    found.add(target)
    found.discard(name)
    return found


def test_modules_and_classes_stay_small():
    too_long = []
    for name, path in modules().items():
        source = path.read_text(encoding="utf-8")
        lines = source.count("\n") + 1
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                too_long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_long, too_long


def test_no_import_cycles():
    mods = modules()
    known = set(mods)
    graph = {name: imports(name, path, known) for name, path in mods.items()}
    # a package's __init__ that re-exports its own submodules is not a cycle of the code's layers
    graph = {n: {d for d in deps if not n.startswith(d + ".")} for n, deps in graph.items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


@pytest.mark.parametrize("stage, later", [("msassistant.corpus", "msassistant.index"),
                                          ("msassistant.index", "msassistant.pipeline"),
                                          ("msassistant.pipeline", "msassistant.api"),
                                          ("msassistant.store", "msassistant.pipeline")])
def test_data_flows_one_way(stage, later):
    """An earlier stage never imports a later one: corpus → index → pipeline → api, and the store below the
    pipeline."""
    mods = modules()
    known = set(mods)
    back = [f"{n} imports {d}" for n, p in mods.items() if n.startswith(stage)
            for d in imports(n, p, known) if d.startswith(later)]
    assert not back, back
