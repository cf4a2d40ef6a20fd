"""The adapters are the only doors: pygit2 is imported in sync/git/ and nowhere else."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sync"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-local imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_only_the_git_adapter_imports_pygit2():
    offenders = sorted(
        str(path.relative_to(PACKAGE.parent)) for path in PACKAGE.rglob("*.py")
        if PACKAGE / "git" not in path.parents
        and any(name.split(".")[0] == "pygit2" for name in imported_modules(path)))
    assert offenders == []


def test_the_git_adapter_does_import_pygit2():  # the rule above is not vacuously true
    assert "pygit2" in imported_modules(PACKAGE / "git" / "repo.py")
