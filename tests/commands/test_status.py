"""`sync status`: the one command to run when lost says where the checkout stands and what next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.sample import SAMPLE_MANIFEST
from tests.commands.projects import UPSTREAM_DIGEST, PatchSpec, Project, make_project

OLD = b"".join(b"line %02d\n" % n for n in range(1, 21))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    made = make_project(tmp_path, {"app.py": OLD}, [
        PatchSpec("0001-fix.patch", "Fix line 5",
                  {"bundle/app.py": OLD.replace(b"line 05\n", b"patched 05\n")}),
        PatchSpec("0002-more.patch", "More", {"bundle/more.py": b"more\n"})])
    assert made.run("render").code == 0
    made.commit_all("render")
    return made


def status(project: Project) -> dict:
    result = project.run("status", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_a_settled_checkout_has_nothing_to_do(project: Project):
    document = status(project)
    assert document["upstream"]["commit"] == project.upstream
    assert document["upstream"]["digest"] == UPSTREAM_DIGEST
    assert document["upstream"]["tag"] == "latest" and document["manifest"]["tag"] == "latest"
    assert document["manifest_differs"] is None
    assert document["patches"] == 2 and document["base"] == project.upstream
    assert document["behind"] is False and document["rebase"] is None
    assert document["rendered"] == {"state": "up to date", "stale": [], "reason": None}
    assert document["untracked"] == [] and document["next"] == []
    text = project.run("status")
    assert "2 in patches/series" in text.out and "rendered   up to date" in text.out
    assert "nothing to do" in text.out


def test_a_new_upstream_says_rebase_then_render(project: Project):
    project.move_upstream({"bundle/other.py": b"new upstream file\n"})
    document = status(project)
    assert document["behind"] is True
    assert document["next"] == ["python -m sync rebase-patches", "python -m sync render"]
    assert "behind the branch tip" in project.run("status").out


def test_a_manifest_asking_for_another_tag_says_pull(project: Project):
    manifest = project.root / "upstream-manifest.yaml"
    manifest.write_text(manifest.read_text().replace("tag: latest", "tag: v6"))
    document = status(project)
    assert document["manifest_differs"] == ("the manifest asks for tag v6, the branch records "
                                            "latest")
    assert document["next"][0] == "python -m sync pull"
    assert "differs: the manifest asks for tag v6" in project.run("status").out


def test_a_stopped_rebase_names_the_patch_its_files_and_the_way_out(project: Project):
    project.move_upstream({"bundle/app.py": OLD.replace(b"line 05\n", b"upstream 05\n")})
    assert project.run("rebase-patches").code == 1
    document = status(project)
    assert document["rebase"]["stopped_at"] == "0001-fix.patch"
    assert document["rebase"]["index"] == 1
    assert document["rebase"]["conflicts"] == [{"path": "bundle/app.py", "resolved": False}]
    assert document["rendered"]["state"] == "unknown"
    assert "rebase-patches is in progress" in document["rendered"]["reason"]
    assert document["next"] == [
        "resolve the conflicts (git status, git diff, git mergetool), then: git add "
        "bundle/app.py",
        "then: python -m sync rebase-patches --continue",
        "or drop this patch: python -m sync rebase-patches --skip",
        "or give up and restore everything: python -m sync rebase-patches --abort"]
    shown = project.run("status").out
    assert "stopped at 0001-fix.patch (patch 1): bundle/app.py (unresolved)" in shown

    project.write("bundle/app.py", OLD.replace(b"line 05\n", b"both 05\n"))
    project.git("add", "bundle/app.py")
    document = status(project)
    assert document["rebase"]["conflicts"] == [{"path": "bundle/app.py", "resolved": True}]
    assert document["next"] == [
        "python -m sync rebase-patches --continue (the conflicts are resolved)"]


def test_stale_rendered_files_are_named(project: Project):
    (project.root / "VERSION").write_text("9.9.9\n")
    document = status(project)
    assert document["rendered"]["state"] == "stale"
    assert "docker-bake.json" in document["rendered"]["stale"]
    assert document["next"] == ["python -m sync render"]
    assert "rendered   stale: " in project.run("status").out


def test_untracked_files_under_the_targets_are_named(project: Project):
    project.write("bundle/notes.txt", "mine\n")
    project.write("elsewhere.txt", "not under a target\n")
    document = status(project)
    assert document["untracked"] == ["bundle/notes.txt"]
    # an unexplained file is drift: nothing renders until it is captured or removed
    assert document["rendered"]["state"] == "unknown"
    assert document["next"] == ["python -m sync check (why the series does not render)"]
    assert "untracked  1: bundle/notes.txt" in project.run("status").out


def test_before_the_first_pull_it_says_pull(repo_dir: Path):
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    fresh = Project(repo_dir, None, "")  # type: ignore[arg-type]  # run() only needs root
    result = fresh.run("status", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["upstream"] is None and document["patches"] == 0
    assert document["next"] == ["python -m sync pull"]
    assert "does not exist yet" in fresh.run("status").out
