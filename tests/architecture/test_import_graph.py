"""The shape DESIGN.md promises, checked over the source's import graph (AST, no imports executed).

- A stage package (any top-level package that defines a pipeline stage: a class with ``before(self, call)``) never
  imports another stage package; pure code they share lives in stage-free packages (usage/, core/, config/, store/).
- core/ imports nothing of ours outside core/.
- No module keeps a registry keyed by objects (a WeakKeyDictionary of per-worker state and the like): per-worker
  state hangs off the worker (assemble.Worker), per-call state off the Call.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "wardgate"
_OBJECT_KEYED = {"WeakKeyDictionary", "WeakValueDictionary", "WeakSet"}


def modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        package = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        yield package, path, ast.parse(path.read_text(encoding="utf-8"))


def imported_packages(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "wardgate" and len(parts) > 1:
                yield node.lineno, parts[1]


def defines_stage(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and not any(ast.unparse(base).endswith("Protocol") for base in node.bases):
            for item in node.body:
                if isinstance(item, ast.AsyncFunctionDef) and item.name == "before":
                    args = [a.arg for a in item.args.args]
                    if args[:2] == ["self", "call"]:
                        return True
    return False


def stage_packages() -> set[str]:
    return {package for package, path, tree in modules() if path.parent != SRC and defines_stage(tree)}


def test_the_stage_packages_are_found() -> None:
    assert {
        "identity",
        "accounting",
        "guards",
        "prompts",
        "limits",
        "cache",
        "routing",
        "telemetry",
        "mcp",
    } <= stage_packages()


def test_no_stage_package_imports_another() -> None:
    stages = stage_packages()
    crossings = [
        f"{path.relative_to(SRC)}:{line} imports wardgate.{target}"
        for package, path, tree in modules()
        if package in stages
        for line, target in imported_packages(tree)
        if target in stages and target != package
    ]
    assert crossings == []


def test_core_imports_nothing_of_ours_but_core() -> None:
    outside = [
        f"{path.relative_to(SRC)}:{line} imports wardgate.{target}"
        for package, path, tree in modules()
        if package == "core"
        for line, target in imported_packages(tree)
        if target != "core"
    ]
    assert outside == []


def test_no_module_level_registry_is_keyed_by_objects() -> None:
    found = []
    for _, path, tree in modules():
        for node in tree.body:
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            if isinstance(value, ast.Call):
                func = value.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in _OBJECT_KEYED:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    assert found == []
