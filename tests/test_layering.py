"""The architecture's rules, read from the source: imports point down, no cycles,
modules stay readable.

Layers, top first (ARCHITECTURE.md): cli > serve > evals | learn | distributed >
api > engine > formal > store > checks | backends > the plain modules (parse,
prompts, records, errors, config, models, inputs, _version). A module may
import from its own layer and from layers below it, never from one above;
imports inside functions and under ``TYPE_CHECKING`` count too. The package
``fansi/__init__.py`` is the public facade: it may reach anything (lazily),
and no module inside fansi may import it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fansi"

LAYERS: list[set[str]] = [
    {"cli"},
    {"serve"},
    {"evals", "learn", "distributed", "rewards"},
    {"api", "provers"},
    {"engine"},
    {"formal"},
    {"store"},
    {"checks", "backends"},
    {"parse", "prompts", "records", "errors", "config", "models", "inputs", "_version"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path, root: Path = SRC.parent) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports(path: Path, *, top_level_only: bool, root: Path = SRC.parent
            ) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = ast.walk(tree) if not top_level_only else _top_level(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from fansi import prompts` imports the submodule fansi.prompts.
                yield node.lineno, f"{base}.{alias.name}" if base == "fansi" else base


def _top_level(tree: ast.Module) -> Iterator[ast.AST]:
    """Statements run at import time: the module body, including ``if TYPE_CHECKING:``
    blocks and try/except around imports, but not function or class bodies."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If | ast.Try):
            stack.extend(ast.iter_child_nodes(node))


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "fansi" or len(parts) == 1:
        return None
    return parts[1]


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The fansi module an import names (a module, or the package holding a name)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def test_imports_point_down() -> None:
    known = modules()
    wrong = []
    for module, path in known.items():
        if module == "fansi":
            continue
        mine = layer(module)
        assert mine in RANK, f"{module} is in no layer; add its package to LAYERS"
        for line, name in imports(path, top_level_only=False):
            target = resolve(name, known)
            if target is None:
                continue
            if target == "fansi":
                wrong.append(f"{path.relative_to(SRC)}:{line} imports the fansi package facade")
                continue
            theirs = layer(target)
            assert theirs in RANK, f"{target} is in no layer"
            if RANK[theirs] < RANK[mine]:
                wrong.append(f"{path.relative_to(SRC)}:{line} ({mine}) imports {target} ({theirs})")
    assert not wrong, "imports that point up:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    known = modules()
    graph = {
        module: {t for _, n in imports(path, top_level_only=True)
                 if (t := resolve(n, known)) is not None and t != module}
        for module, path in known.items()
    }
    # A package's __init__ may import its own submodules at import time (its
    # exports); the submodule importing a sibling through the package is not a
    # cycle Python trips on, so edges into a package from inside it are dropped.
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not module.startswith(f"{t}.")}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend([*trail[trail.index(nxt):], nxt] if nxt in trail else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*trail, nxt]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if state.get(start) is None and visit(start, [start]):
            break
    assert not cycle, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_modules_stay_under_600_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 600, f"{path.relative_to(SRC)} has {lines} lines"


def test_the_checker_recognises_an_upward_import(tmp_path: Path) -> None:
    # The rule above must be able to fail: a store module importing the API would.
    fake = tmp_path / "fansi" / "store" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from fansi.api import asolve\nfrom .. import engine\n")
    found = list(imports(fake, top_level_only=False, root=tmp_path))
    assert found == [(1, "fansi.api"), (2, "fansi.engine")]
    assert RANK[layer("fansi.api") or ""] < RANK[layer("fansi.store.bad") or ""]
