"""The index: unmerged stages that git status, git diff and git mergetool understand."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from sync.git import index
from sync.git.index import Unmerged
from tests.series.builders import entry_of, git


@pytest.fixture
def repo(repo_dir: Path) -> pygit2.Repository:
    (repo_dir / "file.txt").write_bytes(b"base\n")
    git(repo_dir, "add", "file.txt")
    git(repo_dir, "commit", "-qm", "base")
    return pygit2.Repository(str(repo_dir))


def conflict(repo: pygit2.Repository) -> Unmerged:
    return Unmerged("file.txt", entry_of(repo, b"base\n"), entry_of(repo, b"ours\n"),
                    entry_of(repo, b"theirs\n"))


def test_conflicts_become_stages_one_two_and_three(repo):
    top = Path(repo.workdir)
    (top / "file.txt").write_bytes(b"<<<<<<< ours\nours\n=======\ntheirs\n>>>>>>> theirs\n")
    index.record_conflicts(repo, [conflict(repo)])
    stages = [line.split()[2] for line in git(top, "ls-files", "-u").splitlines()]
    assert stages == ["1", "2", "3"]
    assert git(top, "status", "--porcelain") == "UU file.txt\n"
    assert "++<<<<<<< ours" in git(top, "diff")
    assert git(top, "show", ":3:file.txt") == "theirs\n"
    assert index.unmerged_paths(repo) == {"file.txt"}


def test_staging_a_resolved_file_clears_its_conflict(repo):
    top = Path(repo.workdir)
    index.record_conflicts(repo, [conflict(repo)])
    (top / "file.txt").write_bytes(b"resolved\n")
    (top / "new.txt").write_bytes(b"new\n")
    index.stage(repo, ["file.txt", "new.txt"], [])
    assert index.unmerged_paths(repo) == set()
    assert git(top, "status", "--porcelain") == "M  file.txt\nA  new.txt\n"
    index.stage(repo, [], ["new.txt"])
    assert "new.txt" not in git(top, "ls-files")


def test_a_saved_index_comes_back_byte_for_byte(repo, tmp_path: Path):
    original = (Path(repo.path) / "index").read_bytes()
    assert index.save(repo, tmp_path / "saved")
    index.record_conflicts(repo, [conflict(repo)])
    assert (Path(repo.path) / "index").read_bytes() != original
    index.restore(repo, tmp_path / "saved")
    assert (Path(repo.path) / "index").read_bytes() == original


def test_files_staged_from_known_ids_match_what_git_would_record(repo):
    top = Path(repo.workdir)
    files = {"file.txt": b"changed\n", "sub/new.bin": b"\0binary\0" * 100}
    for path, data in files.items():
        (top / path).parent.mkdir(exist_ok=True)
        (top / path).write_bytes(data)
    (top / "tool.sh").write_bytes(b"#!/bin/sh\n")
    (top / "tool.sh").chmod(0o755)
    (top / "link").symlink_to("file.txt")
    entries = {path: entry_of(repo, data) for path, data in files.items()}
    entries["tool.sh"] = index.Entry(0o100755, entry_of(repo, b"#!/bin/sh\n").oid)
    entries["link"] = index.Entry(0o120000, entry_of(repo, b"file.txt").oid)
    counted = []
    index.stage_known(repo, entries.items(), [], counted.append)
    assert sum(counted) == 4
    known = git(top, "ls-files", "-s", "--debug")
    assert git(top, "diff-files", "--name-only") == ""  # stat data matches: nothing re-read
    index.stage(repo, list(entries), [])  # what libgit2 records when it reads the files
    assert git(top, "ls-files", "-s", "--debug") == known
    assert git(top, "status", "--porcelain") == "M  file.txt\nA  link\nA  sub/new.bin\nA  tool.sh\n"


def test_entries_looked_up_by_path_are_the_staged_ones_of_those_paths(repo):
    top = Path(repo.workdir)
    (top / "file.txt").write_bytes(b"staged\n")
    (top / "other.txt").write_bytes(b"other\n")
    git(top, "add", "file.txt", "other.txt")
    everything = index.entries(repo, ["file.txt", "other.txt"])
    found = index.entries_at(repo, ["file.txt", "missing.txt"])
    assert found == {"file.txt": everything["file.txt"]}
    assert found["file.txt"].oid == git(top, "rev-parse", ":file.txt").strip()


# --- the tree cache: what --continue's snapshot reads the index's tree from ---------------------
def cached_folders(repo: pygit2.Repository) -> dict[str, bool]:
    """The index file's tree cache (its TREE extension): each folder -> whether it is valid."""
    data = (Path(repo.path) / "index").read_bytes()
    assert data[:4] == b"DIRC" and int.from_bytes(data[4:8], "big") == 2
    at = 12
    for _ in range(int.from_bytes(data[8:12], "big")):  # entries: 62 bytes, the path, padding
        at += (62 + (int.from_bytes(data[at + 60:at + 62], "big") & 0xFFF) + 8) // 8 * 8
    folders: dict[str, bool] = {}
    while at < len(data) - 20:
        name, size = data[at:at + 4], int.from_bytes(data[at + 4:at + 8], "big")
        if name == b"TREE":
            _read_cached(data[at + 8:at + 8 + size], 0, "", folders)
        at += 8 + size
    return folders


def _read_cached(data: bytes, at: int, parent: str, folders: dict[str, bool]) -> int:
    end = data.index(b"\n", at)
    name, _, counts = data[at:end].partition(b"\0")
    entries, subtrees = (int(number) for number in counts.split(b" "))
    path = f"{parent}/{name.decode()}".lstrip("/")
    folders[path] = entries >= 0
    at = end + 1 + (20 if entries >= 0 else 0)
    for _ in range(subtrees):
        at = _read_cached(data, at, path, folders)
    return at


def test_a_stop_leaves_a_tree_cache_invalid_only_on_the_conflicts_way(repo_dir: Path):
    """Staging a rebase's files invalidates their folders; the stop completes the cache, so
    after the maintainer's ``git add`` only the resolved file's folders are written again."""
    for path in ("a/one.txt", "b/two.txt", "c/d/three.txt"):
        (repo_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (repo_dir / path).write_bytes(b"base\n")
    git(repo_dir, "add", ".")
    git(repo_dir, "commit", "-qm", "base")
    repo = pygit2.Repository(str(repo_dir))
    for path in ("a/one.txt", "b/two.txt"):  # written by the rebase before it stopped
        (repo_dir / path).write_bytes(b"patched\n")
        index.stage_known(repo, [(path, entry_of(repo, b"patched\n"))], [])
    assert not cached_folders(repo).get("a", False)
    index.record_conflicts(repo, [Unmerged("c/d/three.txt", entry_of(repo, b"base\n"),
                                           entry_of(repo, b"ours\n"),
                                           entry_of(repo, b"theirs\n"))])
    assert cached_folders(repo) == {"": False, "a": True, "b": True, "c": False, "c/d": False}
    (repo_dir / "c/d/three.txt").write_bytes(b"resolved\n")
    git(repo_dir, "add", "c/d/three.txt")
    assert cached_folders(repo) == {"": False, "a": True, "b": True, "c": False, "c/d": False}
    tree = repo.get(index.current(repo).write_tree())
    assert tree["c/d/three.txt"].data == b"resolved\n" and tree["a/one.txt"].data == b"patched\n"


def test_the_index_is_read_again_when_git_changed_it(repo):
    assert "new.txt" not in index.current(repo)
    (Path(repo.workdir) / "new.txt").write_bytes(b"new\n")
    git(Path(repo.workdir), "add", "new.txt")  # another program writes the index file
    assert "new.txt" in index.current(repo)
    assert index.tracked_paths(repo) == {"file.txt", "new.txt"}
