"""A command loads what it runs, and nothing else: start-up is most of a short command's time.

A late ``rebase-patches --continue`` with a few patches left, ``--help`` and a CI job's
``--json`` checks are mostly interpreter start-up and imports. Each command below runs as a user
runs it (``python -m sync ...`` in a fresh process, on a real checkout); what it imported is read
from ``sys.modules`` when it exits. The sets are module names, not timings (timings are noisy).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sync.cli import main
from tests.commands.projects import SERIES, UPSTREAM_FILES, PatchSpec, Project, make_project

ROOT = Path(__file__).resolve().parent.parent
OLD = b"".join(b"line %02d\n" % n for n in range(1, 21))
# runs ``python -m sync ARGS`` and writes its exit code and sys.modules to OUT at the end
CHILD = """
import gc, json, runpy, sys
out = sys.argv.pop(1)
code = 0
try:
    runpy.run_module("sync", run_name="__main__", alter_sys=True)
except SystemExit as exit_:
    code = exit_.code
with open(out, "w") as handle:
    json.dump({"exit": code, "modules": sorted(sys.modules), "frozen": gc.get_freeze_count()},
              handle)
"""
# never needed to rebase a series, nor to print its --json outcome
NOT_FOR_A_REBASE = {
    "rich",  # nothing is drawn with --json (nor for --help): no console, no bars
    "jinja2", "docker", "requests", "urllib3", "jsonschema", "pygments", "numpy",
    "sync.render", "sync.render_gate", "sync.docker_engine", "sync.build_context",
    "sync.review", "sync.image.registry", "sync.image.distribution", "sync.upstream",
    "sync.console",
}
# what a stopped rebase does not need to go on: the manifest is read when it starts and kept in
# its state (no YAML parser unless the file changed since); the merge rules load with the first
# hunk that fails (none here); RFC 2047 decoding with the first encoded mail header
NOT_FOR_A_CONTINUE = NOT_FOR_A_REBASE | {
    "yaml", "sync.config.manifest", "sync.config.reader", "sync.config.variants",
    "sync.series.resolve.conflicts", "sync.series.resolve.upstream",
    "sync.series.resolve.adjacent", "sync.series.resolve.kconfig", "difflib", "email",
}
# what --help needs is argparse and the command's own module
NOT_FOR_HELP = NOT_FOR_A_REBASE | {"pygit2", "yaml", "sync.git", "sync.workspace",
                                   "sync.series.engine", "sync.series.session",
                                   "sync.config.manifest", "logging"}


def loaded(folder: Path, *args: str) -> tuple[int, set[str]]:
    """Run ``python -m sync ARGS``; its exit code and every module it imported (written to a
    file in ``folder``: stdout is the command's own)."""
    document = ran(folder, *args)
    return document["exit"], set(document["modules"])


def ran(folder: Path, *args: str) -> dict[str, Any]:
    """Run ``python -m sync ARGS``; what it left at its end: the exit code, the modules, how
    many objects it froze for the shutdown."""
    out = folder / "modules.json"
    result = subprocess.run([sys.executable, "-c", CHILD, str(out), *args], cwd=ROOT,
                            capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.exists(), result.stderr
    document: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return document


def heavy(modules: set[str], names: set[str]) -> set[str]:
    """The ``names`` (packages and their submodules) among ``modules``."""
    return {name for name in names for module in modules
            if module == name or module.startswith(name + ".")}


def conflicting(parent: Path) -> Project:
    """Two patches; upstream then changes the line the first one changes."""
    project = make_project(parent, {"app.py": OLD, "lib.py": OLD}, [
        PatchSpec("0001-fix.patch", "Fix line 5",
                  {"bundle/app.py": OLD.replace(b"line 05\n", b"patched 05\n")}),
        PatchSpec("0002-lib.patch", "Lib line 9",
                  {"bundle/lib.py": OLD.replace(b"line 09\n", b"patched 09\n")})])
    project.move_upstream({"bundle/app.py": OLD.replace(b"line 05\n", b"upstream 05\n")})
    return project


@pytest.fixture
def stopped(tmp_path: Path) -> Project:
    """A rebase stopped at a conflict, resolved and staged: ready for --continue."""
    project = conflicting(tmp_path)
    assert project.run("rebase-patches").code == 1
    project.write("bundle/app.py", OLD.replace(b"line 05\n", b"both 05\n"))
    project.git("add", "bundle/app.py")
    return project


def test_rebase_help_loads_neither_git_nor_yaml_nor_rich(tmp_path: Path):
    code, modules = loaded(tmp_path, "rebase-patches", "--help")
    assert code == 0
    assert "sync.commands.rebase" in modules  # it did run
    assert heavy(modules, NOT_FOR_HELP) == set()


def test_a_json_continue_loads_only_the_rebase(stopped: Project):
    code, modules = loaded(stopped.root.parent, "rebase-patches", "--continue", "--json",
                           "-C", str(stopped.root))
    assert code == 0
    assert {"pygit2", "sync.series.session", "sync.series.engine"} <= modules  # it did the work
    assert heavy(modules, NOT_FOR_A_CONTINUE) == set()


def test_a_continue_reads_the_manifest_again_only_when_it_changed(stopped: Project):
    manifest = stopped.root / "upstream-manifest.yaml"
    manifest.write_text(manifest.read_text().replace("tag: latest", "tag: v2"))
    code, modules = loaded(stopped.root.parent, "rebase-patches", "--continue", "--json",
                           "-C", str(stopped.root))
    assert code == 0
    assert {"yaml", "sync.config.manifest"} <= modules  # read, to see what changed


def test_a_json_rebase_start_and_stop_load_only_the_rebase(tmp_path: Path):
    project = conflicting(tmp_path)
    code, modules = loaded(tmp_path, "rebase-patches", "--json", "-C", str(project.root))
    assert code == 1  # stopped at the conflict
    assert heavy(modules, NOT_FOR_A_REBASE) == set()


@pytest.mark.parametrize("command", [("check",), ("patches", "list")])
def test_json_checks_draw_nothing_so_load_no_rich(tmp_path: Path, command: tuple[str, ...]):
    project = make_project(tmp_path, UPSTREAM_FILES, SERIES)
    code, modules = loaded(tmp_path, *command, "--json", "-C", str(project.root))
    assert code == 0
    assert heavy(modules, {"rich", "jinja2", "docker", "pygments", "sync.console"}) == set()


def test_a_terminal_run_still_draws_with_rich(stopped: Project):
    """Without --json the outcome is a table: rich is loaded then, when it is printed."""
    code, modules = loaded(stopped.root.parent, "rebase-patches", "--continue",
                           "-C", str(stopped.root))
    assert code == 0
    assert {"rich.text", "sync.console"} <= modules


def test_a_real_start_freezes_what_is_left_so_the_shutdown_does_not_collect_it(
        stopped: Project):
    """The interpreter's last garbage collections pass over every object still alive (25-50
    ms of a late --continue at real size); frozen at the end of ``main``, they are skipped."""
    document = ran(stopped.root.parent, "rebase-patches", "--continue", "--json",
                   "-C", str(stopped.root))
    assert document["exit"] == 0
    assert document["frozen"] > 10_000  # the modules, the series, the outcome...


def test_a_call_with_arguments_freezes_nothing(capsys: pytest.CaptureFixture[str]):
    """Called by a process that goes on (the tests, a program embedding it), ``main`` leaves
    the garbage collector as it was."""
    before = gc.get_freeze_count()
    assert main(["--version"]) == 0
    assert gc.get_freeze_count() == before
    assert capsys.readouterr().out.strip()
