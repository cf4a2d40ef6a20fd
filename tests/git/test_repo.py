"""Refs move last and only by compare-and-swap; commits carry trailers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest

from sync.errors import GitError
from sync.git import repo as gitrepo


def test_outside_a_repository_is_a_clear_error(tmp_path: Path):
    with pytest.raises(GitError) as raised:
        gitrepo.open_repository(tmp_path)
    assert "not inside a git repository" in raised.value.message
    assert "git init" in (raised.value.hint or "")


def test_a_subdirectory_finds_its_repository(repo_dir: Path):
    (repo_dir / "sub").mkdir()
    repo = gitrepo.open_repository(repo_dir / "sub")
    assert gitrepo.work_tree(repo) == repo_dir


def test_move_branch_creates_then_advances_with_reflog(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    tree = str(repo.TreeBuilder().write())
    first = gitrepo.create_commit(repo, tree, [], "first\n")
    gitrepo.move_branch(repo, "upstream", first, None, "test: create")
    second = gitrepo.create_commit(repo, tree, [first], "second\n")
    gitrepo.move_branch(repo, "upstream", second, first, "test: advance")
    assert str(gitrepo.branch_tip(repo, "upstream").id) == second
    reflog = subprocess.run(["git", "-C", str(repo_dir), "reflog", "show", "upstream"],
                            capture_output=True, text=True, check=True).stdout
    assert "test: advance" in reflog and "test: create" in reflog


def test_move_branch_refuses_when_the_branch_moved_meanwhile(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    tree = str(repo.TreeBuilder().write())
    first = gitrepo.create_commit(repo, tree, [], "first\n")
    gitrepo.move_branch(repo, "upstream", first, None, "create")
    theirs = gitrepo.create_commit(repo, tree, [first], "someone else\n")
    gitrepo.move_branch(repo, "upstream", theirs, first, "someone else")
    ours = gitrepo.create_commit(repo, tree, [first], "ours\n")
    with pytest.raises(GitError) as raised:
        gitrepo.move_branch(repo, "upstream", ours, first, "ours")
    assert "moved while we worked" in raised.value.message
    assert str(gitrepo.branch_tip(repo, "upstream").id) == theirs


def test_creating_a_branch_that_appeared_meanwhile_is_refused(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    tree = str(repo.TreeBuilder().write())
    first = gitrepo.create_commit(repo, tree, [], "first\n")
    gitrepo.move_branch(repo, "upstream", first, None, "create")
    with pytest.raises(GitError):
        gitrepo.move_branch(repo, "upstream", first, None, "create again")


def test_trailers_are_read_from_the_last_paragraph():
    message = "Upstream x:1\n\nbody text\n\nUpstream-Image: x:1\nUpstream-Digest: sha256:ab\n"
    assert gitrepo.trailers(message) == {"Upstream-Image": "x:1", "Upstream-Digest": "sha256:ab"}
    assert gitrepo.trailers("subject only\n") == {}
