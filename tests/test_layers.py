"""The import rules of the layers (CLI -> commands -> domain -> adapters), kept true by AST.

pygit2 is imported in sync/git/ and nowhere else; nothing below the commands imports them, the
workspace or the CLI; and nothing below them prints (no ``sync.ui``, no ``rich``).
"""

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


# The layers, top down: CLI -> commands (and the workspace they are handed) -> domain -> adapters.
CLI_LAYER = ("sync.cli", "sync.__main__", "sync.commands", "sync.workspace", "sync.completion",
             "sync.examples", "sync.program")
OUTPUT = ("sync.ui", "rich")  # how results are shown: the CLI layer's business


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_in(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def below_the_commands() -> list[Path]:
    return [path for path in PACKAGE.rglob("*.py") if not is_in(module_name(path), CLI_LAYER)]


def test_nothing_below_the_commands_imports_them_or_the_cli():
    offenders = sorted(
        f"{module_name(path)} imports {name}" for path in below_the_commands()
        for name in imported_modules(path)
        if is_in(name, ("sync.cli", "sync.commands", "sync.workspace")))
    assert offenders == []


def test_the_domain_and_adapters_print_nothing_themselves():
    """Progress and warnings reach the console through protocols the commands implement."""
    offenders = sorted(
        f"{module_name(path)} imports {name}" for path in below_the_commands()
        if module_name(path) != "sync.ui"
        for name in imported_modules(path) if is_in(name, OUTPUT))
    assert offenders == []


def test_the_layer_rules_see_the_modules_they_govern():  # not vacuously true either
    names = {module_name(path) for path in below_the_commands()}
    assert {"sync.series.session", "sync.render_gate", "sync.importer", "sync.git.repo"} <= names
    assert "sync.workspace" not in names and "sync.commands.rebase" not in names
