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


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_find_commit_resolves_revisions_as_git_rev_parse_does(repo_dir: Path):
    repo = gitrepo.open_repository(repo_dir)
    (repo_dir / "a.txt").write_text("a\n")
    git(repo_dir, "add", "a.txt")
    git(repo_dir, "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "second")
    git(repo_dir, "tag", "-a", "v1", "-m", "annotated")
    for rev in ("main", "HEAD~1", "v1", git(repo_dir, "rev-parse", "HEAD")[:10]):
        found = gitrepo.find_commit(repo, rev)
        expected = git(repo_dir, "rev-parse", f"{rev}^{{commit}}")
        assert found is not None and str(found.id) == expected
    assert gitrepo.find_commit(repo, "no-such-branch") is None
    assert gitrepo.find_commit(repo, "HEAD~5") is None
    assert gitrepo.find_commit(repo, "main:a.txt") is None  # a blob is not a commit


def test_commit_by_id_only_finds_commits(repo_dir: Path):
    repo = gitrepo.open_repository(repo_dir)
    head = git(repo_dir, "rev-parse", "HEAD")
    assert str(gitrepo.commit_by_id(repo, head).id) == head
    assert gitrepo.commit_by_id(repo, "ab" * 20) is None
    assert gitrepo.commit_by_id(repo, git(repo_dir, "rev-parse", "HEAD^{tree}")) is None
    assert gitrepo.commit_by_id(repo, "not hex") is None


def test_head_commit_is_none_on_an_unborn_branch(tmp_path: Path, repo_dir: Path):
    fresh = gitrepo.init_repository(tmp_path / "fresh", initial_head="main")
    assert gitrepo.head_commit(fresh) is None
    assert gitrepo.git_dir(fresh) == tmp_path / "fresh" / ".git"
    repo = gitrepo.open_repository(repo_dir)
    head = gitrepo.head_commit(repo)
    assert head is not None and str(head.id) == git(repo_dir, "rev-parse", "HEAD")
    assert gitrepo.first_parent(head) is None  # the fixture's only commit is a root


def test_diff_stats_counts_as_git_diff_shortstat(repo_dir: Path):
    repo = gitrepo.open_repository(repo_dir)
    before = git(repo_dir, "rev-parse", "HEAD^{tree}")
    (repo_dir / "a.txt").write_text("one\ntwo\nthree\n")
    (repo_dir / "b.txt").write_text("b\n")
    git(repo_dir, "add", "a.txt", "b.txt")
    after = git(repo_dir, "write-tree")
    stats = gitrepo.diff_stats(repo, before, after)
    assert (stats.files_changed, stats.insertions, stats.deletions) == (2, 4, 0)
    assert git(repo_dir, "diff", "--shortstat", before, after) == \
        "2 files changed, 4 insertions(+)"

