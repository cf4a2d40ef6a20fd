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
