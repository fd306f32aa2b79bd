"""The layer rule of docs/architecture.md, checked on the source: every import of every module under ``wsol/``
(module level and inside functions) goes to the same layer or one below, and no two modules import each other
through any chain. Sibling layers (evaluation, export) do not import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "wsol"

# rank of each top-level part of the package; a module may import modules of a lower rank or of its own part
BASE = ("_lazy", "defaults", "drawing", "errors", "fileio", "registry", "__init__")
LAYERS: dict[str, int] = {
    **dict.fromkeys(BASE, 0),
    "data": 1,
    "models": 2,
    "config": 3,
    "cams": 4,
    "localization": 5,
    "evaluation": 6,
    "export": 6,
    "engine": 7,
    "viz": 8,
    "cli": 9,
    "__main__": 9,
}
SIBLINGS = ("evaluation", "export")  # same layer, independent of each other; the base modules may share theirs


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = ("wsol",) + path.with_suffix("").relative_to(root).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, name: str, is_package: bool, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported wsol module) for every import statement in ``source``, relative ones resolved; ``from P
    import n`` counts as an import of ``P.n`` when that is a module, else of ``P``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if sub in known else base))
    return [(line, mod) for line, mod in found if mod == "wsol" or mod.startswith("wsol.")]


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(root: Path = ROOT) -> list[str]:
    """``file:line: a (layer) imports b (layer)`` for every import that goes up or sideways between layers."""
    files = sorted(root.rglob("*.py"))
    known = {module_name(f, root) for f in files}
    bad = []
    for f in files:
        name = module_name(f, root)
        here = part_of(name)
        for line, target in imports_of(f.read_text(encoding="utf-8"), name, f.name == "__init__.py", known):
            there = part_of(target)
            if there == here:
                continue
            if here not in LAYERS or there not in LAYERS:
                bad.append(f"{f.relative_to(root.parent)}:{line}: {there!r} or {here!r} has no layer in LAYERS")
            elif LAYERS[there] > LAYERS[here] or (LAYERS[there] == LAYERS[here] and here in SIBLINGS):
                bad.append(
                    f"{f.relative_to(root.parent)}:{line}: {here} (layer {LAYERS[here]}) imports "
                    f"{target} ({there}, layer {LAYERS[there]})"
                )
    return bad


def import_cycles(root: Path = ROOT) -> list[list[str]]:
    """Strongly connected groups of two or more modules in the import graph (Tarjan's algorithm)."""
    files = sorted(root.rglob("*.py"))
    known = {module_name(f, root) for f in files}
    graph = {
        module_name(f, root): {
            t
            for _, t in imports_of(f.read_text(encoding="utf-8"), module_name(f, root), f.name == "__init__.py", known)
            if t in known
        }
        for f in files
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v] - {v}:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_every_import_goes_down_the_layers():
    assert upward_imports() == []


def test_no_import_cycle_between_modules():
    assert import_cycles() == []


def test_every_part_of_the_package_has_a_layer():
    parts = {
        p.stem if p.is_file() else p.name for p in ROOT.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()
    }
    assert parts - set(LAYERS) == set()


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A package laid out like wsol with one upward import (data → engine, lazy) and one cycle (models a ↔ b)."""
    root = tmp_path / "wsol"
    for part in ("data", "engine", "models"):
        (root / part).mkdir(parents=True)
        (root / part / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "data" / "split.py").write_text("import os\n\n\ndef f():\n    from wsol.engine import trainer\n")
    (root / "engine" / "trainer.py").write_text("from wsol.data import split\nfrom ..models import a\n")
    (root / "models" / "a.py").write_text("from . import b\n")
    (root / "models" / "b.py").write_text("from wsol.models.a import x\n")
    return root


def test_the_checks_name_the_file_and_line_of_a_bad_import(toy: Path):
    assert upward_imports(toy) == ["wsol/data/split.py:5: data (layer 1) imports wsol.engine.trainer (engine, layer 7)"]
    # the lazy upward import also closes a loop with the trainer's (legal) import of the split
    assert sorted(import_cycles(toy)) == [
        ["wsol.data.split", "wsol.engine.trainer"],
        ["wsol.models.a", "wsol.models.b"],
    ]
