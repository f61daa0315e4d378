"""Every project module a DVC stage imports (directly or not) is a ``deps:`` entry of it."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from tests.conftest import REPO

PACKAGES = ("alphaloop", "pipelines")


def _module_file(name: str) -> Path | None:
    base = REPO / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in found if n.split(".")[0] in PACKAGES}


def import_closure(module: str) -> set[Path]:
    """Files of every project module reachable from ``module`` (function-level imports too)."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        # A package's __init__ runs whenever a submodule is imported.
        for k in range(1, len(parts) + 1):
            path = _module_file(".".join(parts[:k]))
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(_imports(path))
    return {p.relative_to(REPO) for p in seen}


def _covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(d) or Path(d) in path.parents for d in deps)


def test_every_imported_module_is_a_dependency() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        module = stage["cmd"].split("-m ", 1)[1].split()[0]
        deps = [d for d in stage["deps"] if isinstance(d, str)]
        lost = sorted(str(p) for p in import_closure(module) if not _covered(p, deps))
        if lost:
            missing[name] = lost
    assert not missing, f"add these to the stages' deps in dvc.yaml: {missing}"
