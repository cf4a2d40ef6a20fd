"""The workspace: one checkout opened once, its series, the "rebase in progress" guard, the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync.errors import ConfigError, GitError, RebaseInProgress, WorkspaceBusy
from sync.series.state import IN_PROGRESS, in_progress_hint
from sync.workspace import Workspace
from tests.commands.projects import SERIES, UPSTREAM_FILES, Project, make_project

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def simapp(tmp_path: Path) -> Project:
    return make_project(tmp_path, UPSTREAM_FILES, SERIES)


def stopped(simapp: Project) -> Project:
    """``simapp`` with a rebase-patches stopped at a conflict on 0002 (exit 1, state kept)."""
    simapp.move_upstream({"bundle/configs/environment.yml": b"tensorflow==2.14\nredis==4.5\n"})
    assert simapp.run("rebase-patches").code == 1
    return simapp


# --- opening ---------------------------------------------------------------------------------
def test_open_finds_the_repository_and_its_manifest_from_a_subfolder(simapp: Project):
    workspace = Workspace.open(simapp.root / "bundle" / "src")
    assert workspace.root == simapp.root
    assert workspace.manifest.targets == ("bundle",)
    assert workspace.roots == ("bundle", "patches")


def test_open_takes_another_manifest_and_names_a_missing_one(simapp: Project, tmp_path: Path):
    other = tmp_path / "other.yaml"
    other.write_text(simapp.read("upstream-manifest.yaml").replace("branch: upstream",
                                                                   "branch: vendor"))
    assert Workspace.open(simapp.root, other).manifest.branch == "vendor"
    missing = Workspace.open(simapp.root, tmp_path / "nope.yaml")  # read when first needed
    with pytest.raises(ConfigError, match="nope.yaml"):
        missing.manifest  # noqa: B018 - the property reads the file


def test_the_manifest_is_read_once_when_first_needed(simapp: Project):
    workspace = Workspace.open(simapp.root)
    assert workspace.loaded is None  # opening reads no manifest (and loads no YAML parser)
    first = workspace.manifest
    simapp.write("upstream-manifest.yaml", "not: [a manifest")  # read once: not seen again
    assert workspace.manifest is first
    assert workspace.scope().targets == ("bundle",)
    assert workspace.scope().branch == "upstream"


def test_the_fingerprint_names_the_manifests_bytes_without_parsing_them(simapp: Project,
                                                                        tmp_path: Path):
    workspace = Workspace.open(simapp.root)
    before = workspace.fingerprint()
    assert before is not None and workspace.loaded is None
    simapp.write("upstream-manifest.yaml", simapp.read("upstream-manifest.yaml") + "# note\n")
    assert workspace.fingerprint() not in (None, before)
    assert Workspace.open(simapp.root, tmp_path / "nope.yaml").fingerprint() is None


def test_outside_a_repository_is_a_git_error(tmp_path: Path):
    with pytest.raises(GitError, match="not inside a git repository"):
        Workspace.open(tmp_path)


# --- the series ------------------------------------------------------------------------------
def test_the_work_series_is_read_once_with_uncommitted_edits(simapp: Project):
    simapp.write("patches/series", simapp.read("patches/series").replace(
        "0002-environment-pins.patch\n", ""))
    workspace = Workspace.open(simapp.root)
    tree, loaded = workspace.work_series()
    assert [item.entry.name for item in loaded.patches] == ["0001-agent-logging.patch"]
    simapp.write("patches/series", "")  # read once: later edits are not seen by this command
    assert workspace.work_series() == (tree, loaded)


def test_the_base_is_the_recorded_upstream_else_the_branch_tip(simapp: Project):
    workspace = Workspace.open(simapp.root)
    _tree, loaded = workspace.work_series()
    recorded = workspace.base_of(loaded)
    assert (recorded.commit, recorded.recorded) == (simapp.upstream, True)
    tip = simapp.move_upstream({"bundle/README.md": b"new readme\n"})
    simapp.write("patches/series", simapp.read("patches/series").split("\n", 1)[1])
    unrecorded = Workspace.open(simapp.root)
    base = unrecorded.base_of(unrecorded.work_series()[1])
    assert (base.commit, base.recorded) == (tip, False)


def test_a_revision_that_names_no_commit_is_named_in_the_error(simapp: Project):
    with pytest.raises(GitError, match="OLD_REV nope: no such commit"):
        Workspace.open(simapp.root).commit("nope", "OLD_REV")


# --- the "rebase in progress" guard ----------------------------------------------------------
GUARDED = [
    ("pull", "--from", "docker-archive:/nonexistent.tar"),
    ("rebase-patches",),
    ("render",),
    ("render", "--check"),
    ("build",),
    ("check",),
    ("patches", "new", "0003-more.patch"),
]


@pytest.mark.parametrize("command", GUARDED, ids=" ".join)
def test_while_a_rebase_is_stopped_every_guarded_command_refuses_alike(simapp: Project,
                                                                       command: tuple[str, ...]):
    stopped(simapp)
    before = {path: (simapp.root / path).read_bytes()
              for path in ("bundle/configs/environment.yml", "patches/series")}
    result = simapp.run(*command)
    assert result.code == 1
    assert IN_PROGRESS in result.err
    assert "rebase-patches --continue" in result.err and "--abort" in result.err
    assert {path: (simapp.root / path).read_bytes() for path in before} == before
    document = json.loads(simapp.run(*command, "--json").out)
    assert (document["error"], document["exit_code"]) == (IN_PROGRESS, 1)


@pytest.mark.parametrize("command", [("patches", "list"), ("patches", "show", "1"),
                                     ("patches", "range-diff", "HEAD"),
                                     ("check", "--rev", "HEAD")], ids=" ".join)
def test_reading_commands_still_work_while_a_rebase_is_stopped(simapp: Project,
                                                               command: tuple[str, ...]):
    stopped(simapp)
    result = simapp.run(*command)
    assert result.code == 0, result.err
    assert IN_PROGRESS not in result.err


def test_the_guard_lets_the_rebase_itself_go_on(simapp: Project):
    stopped(simapp)
    assert simapp.run("rebase-patches", "--abort").code == 0
    assert simapp.run("check").code == 0  # settled again (on the recorded base): no guard
    render = simapp.run("render")  # the gate itself now speaks: 0002 conflicts with upstream
    assert render.code == 1 and IN_PROGRESS not in render.err and "0002" in render.err


def test_the_guard_is_one_error_for_callers_too(simapp: Project):
    workspace = Workspace.open(stopped(simapp).root)
    assert workspace.rebase_in_progress()
    with pytest.raises(RebaseInProgress) as raised:
        workspace.refuse_if_rebasing()
    assert (raised.value.message, raised.value.hint) == (IN_PROGRESS, in_progress_hint())


# --- the lock --------------------------------------------------------------------------------
def test_the_lock_is_exclusive_between_processes_and_writes_nothing(simapp: Project):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom sync.workspace import Workspace\n"
         "with Workspace.open(sys.argv[1]).lock():\n    print('held', flush=True)\n"
         "    time.sleep(60)\n", str(simapp.root)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        busy = f"another simapp-sync is running, pid {holder.pid}"
        with pytest.raises(WorkspaceBusy, match=busy) as raised, \
                Workspace.open(simapp.root).lock():
            pass
        assert raised.value.exit_code == 1
        for command in (("patches", "new", "0003-more.patch"), ("rebase-patches",),
                        ("pull", "--from", "oci:/nowhere")):
            started = time.monotonic()
            result = simapp.run(*command)
            assert result.code == 1 and busy in " ".join(result.err.split()), command
            assert time.monotonic() - started < 5  # at once, not after waiting
    finally:
        holder.kill()
        holder.wait()
    with Workspace.open(simapp.root).lock():  # released by the kernel when the holder died
        pass
    assert not (simapp.root / ".git" / "simapp-sync").exists()
