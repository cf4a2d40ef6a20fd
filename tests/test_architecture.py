"""The house rules hold (README "Architecture"): layers import downwards only, each SDK stays in
its adapter, no import cycles, small modules that say what they are for.

The layer order and the forbidden imports are import-linter contracts in pyproject.toml
(``lint-imports`` explains a broken one import by import); the SDK and output rules are read
from the AST here, function-local imports included.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sync"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 450
MAX_COMMAND_LINES = 250


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


def test_only_the_engine_adapter_imports_the_docker_sdk():
    importers = sorted(str(path.relative_to(PACKAGE)) for path in MODULES
                       if any(name.split(".")[0] == "docker" for name in imported_modules(path)))
    assert importers == ["docker_engine.py"]


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
        if module_name(path) not in ("sync.ui", "sync.console", "sync.terminal")
        for name in imported_modules(path) if is_in(name, OUTPUT))
    assert offenders == []


def test_the_layer_rules_see_the_modules_they_govern():  # not vacuously true either
    names = {module_name(path) for path in below_the_commands()}
    assert {"sync.series.session", "sync.render_gate", "sync.importer", "sync.git.repo"} <= names
    assert "sync.workspace" not in names and "sync.commands.rebase" not in names


# --- import-linter contracts and cycles --------------------------------------------------------
def test_the_import_contracts_in_pyproject_hold():
    result = subprocess.run([sys.executable, "-c",
                             "import sys; from importlinter.cli import lint_imports_command; "
                             "sys.exit(lint_imports_command())", "--no-cache"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and " kept" in result.stdout


def test_every_module_of_the_package_has_a_place_in_the_layers():
    """A new top-level module is placed in the layer order, or the rules would not see it."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["id"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}
    present = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()
               if (path.suffix == ".py" and path.stem not in ("__init__", "__main__"))
               or (path.is_dir() and (path / "__init__.py").exists())}
    assert present - placed == set()


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module: each one is an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others():
    # type-only imports (under TYPE_CHECKING) run nothing: they cannot make a cycle at import
    graph = grimp.build_graph("sync", cache_dir=None, exclude_type_checking_imports=True)
    edges = {module: set(graph.find_modules_directly_imported_by(module))
             for module in graph.modules}
    assert _strongly_connected(edges) == []


def test_the_cycle_finder_finds_a_cycle():  # the rule above is not vacuously true
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c"]]


# --- module size and purpose -------------------------------------------------------------------
@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_module_is_small(module: Path):
    lines = len(module.read_text(encoding="utf-8").splitlines())
    limit = MAX_COMMAND_LINES if module.parent.name == "commands" else MAX_LINES
    assert lines <= limit, f"{module.relative_to(ROOT)}: {lines} lines (limit {limit}): split it"


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_module_says_what_it_is_for(module: Path):
    docstring = ast.get_docstring(ast.parse(module.read_text(encoding="utf-8")))
    assert docstring and docstring.strip(), f"{module.relative_to(ROOT)}: no module docstring"
