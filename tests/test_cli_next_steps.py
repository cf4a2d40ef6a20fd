"""Every state change ends with what to run next, spelled the way the program was started:
``simapp-sync ...`` through the console script, ``python -m sync ...`` through ``-m``; ``-q``
and ``--json`` silence the hints (stdout keeps the result)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sync.sample import SAMPLE_MANIFEST, sample_image
from tests.builders.images import write_docker_archive
from tests.commands.projects import PatchSpec, Project, make_project

ROOT = Path(__file__).resolve().parent.parent
OLD = b"".join(b"line %02d\n" % n for n in range(1, 21))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _hints(err: str) -> list[str]:
    return [line.removeprefix("hint: ") for line in err.splitlines() if line.startswith("hint: ")]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """One patch changing line 5 of app.py; upstream then changes the same line."""
    made = make_project(tmp_path, {"app.py": OLD}, [
        PatchSpec("0001-fix.patch", "Fix line 5",
                  {"bundle/app.py": OLD.replace(b"line 05\n", b"patched 05\n")})])
    return made


def _conflict(project: Project) -> None:
    project.move_upstream({"bundle/app.py": OLD.replace(b"line 05\n", b"upstream 05\n")})


# --- the program's name in messages ---------------------------------------------------------
@pytest.mark.parametrize("how", ["console script", "module"])
def test_a_failing_commands_hint_spells_the_program_as_it_was_run(project: Project, how: str):
    if how == "console script":
        argv, spelled = [str(Path(sys.executable).with_name("simapp-sync"))], "simapp-sync"
    else:
        argv, spelled = [sys.executable, "-m", "sync"], "python -m sync"
    result = subprocess.run([*argv, "-C", str(project.root), "patches", "show", "9"],
                            capture_output=True, text=True, env=_env())
    assert result.returncode == 2
    assert f"`{spelled} patches list`" in result.stderr
    other = "python -m sync" if spelled == "simapp-sync" else "simapp-sync "
    assert other not in result.stderr


def test_no_message_hard_codes_python_dash_m_sync():
    """Strings in the code (docstrings aside) say ``program.command(...)``, never the spelling."""
    offenders = []
    for path in sorted((ROOT / "sync").rglob("*.py")):
        if path.name == "program.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef,
                                           ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and "python -m sync" in node.value and id(node) not in docstrings:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


# --- hints after each state change ------------------------------------------------------------
def test_a_conflict_stop_names_the_exact_resolve_continue_skip_and_abort_lines(
        project: Project):
    _conflict(project)
    result = project.run("rebase-patches")
    assert result.code == 1
    assert "stopped at 0001-fix.patch" in result.out
    assert _hints(result.err) == [
        "resolve the conflicts (git status, git diff, git mergetool), then: git add "
        "bundle/app.py",
        "then: python -m sync rebase-patches --continue",
        "or drop this patch: python -m sync rebase-patches --skip",
        "or give up and restore everything: python -m sync rebase-patches --abort",
    ]


def test_a_finished_rebase_points_to_render_and_the_review(project: Project):
    project.move_upstream({"bundle/other.py": b"new upstream file\n"})
    result = project.run("rebase-patches")
    assert result.code == 0
    hints = _hints(result.err)
    assert hints[0].startswith("next: python -m sync render")
    assert "python -m sync patches range-diff" in hints[1]
    assert "python -m sync report" in hints[1]


def test_continue_after_resolving_ends_with_the_same_next_steps(project: Project):
    _conflict(project)
    project.run("rebase-patches")
    project.write("bundle/app.py", OLD.replace(b"line 05\n", b"both 05\n"))
    project.git("add", "bundle/app.py")
    result = project.run("rebase-patches", "--continue")
    assert result.code == 0
    assert _hints(result.err)[0].startswith("next: python -m sync render")


def test_quiet_and_json_silence_the_hints_but_not_the_result(project: Project):
    _conflict(project)
    quiet = project.run("rebase-patches", "-q")
    assert quiet.code == 1
    assert "stopped at 0001-fix.patch" in quiet.out
    assert _hints(quiet.err) == []
    assert project.run("rebase-patches", "--abort").code == 0
    as_json = project.run("rebase-patches", "--json")
    assert as_json.code == 1 and _hints(as_json.err) == []


def test_render_points_to_commit_and_build(project: Project):
    result = project.run("render")
    assert result.code == 0, result.err
    assert _hints(result.err) == [
        "next: git add docker/Dockerfile.cpu docker/Dockerfile.gpu docker-bake.json && "
        "git commit; then python -m sync build"]


def test_a_pull_that_moved_upstream_points_to_rebase_patches(repo_dir: Path, tmp_path: Path):
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    project = Project(repo_dir, None, "")  # type: ignore[arg-type]  # run() only needs root
    moved = project.run("pull", "--from", f"docker-archive:{tmp_path / 'v1.tar'}")
    assert moved.code == 0
    assert _hints(moved.err) == [
        "next: python -m sync rebase-patches (carry the series onto the new upstream)"]
    again = project.run("pull", "--from", f"docker-archive:{tmp_path / 'v1.tar'}")
    assert again.code == 0 and "up to date" in again.out
    assert _hints(again.err) == []  # nothing changed: nothing to do next


def test_pull_check_that_finds_news_points_to_pull_then_rebase(repo_dir: Path, tmp_path: Path):
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    project = Project(repo_dir, None, "")  # type: ignore[arg-type]
    result = project.run("pull", "--check", "--from", f"docker-archive:{tmp_path / 'v1.tar'}")
    assert result.code == 1
    assert _hints(result.err) == ["next: python -m sync pull"]
