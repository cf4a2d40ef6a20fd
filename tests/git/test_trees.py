"""Trees by path, updated incrementally: only the directories on changed paths are rewritten."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sync.git.trees import (
    CHUNK,
    MODE_TREE,
    Entry,
    RecentBlobs,
    TreeSource,
    find_blob,
    update_tree,
    write_blob_parts,
)
from tests.series.builders import entry_of, git, make_tree


def test_lookups_by_path(repo):
    tree = make_tree(repo, {"a/b/c.txt": b"c\n", "a/run": (0o100755, b"#!\n")})
    source = TreeSource(repo, tree)
    assert source.entry("a/b/c.txt") == entry_of(repo, b"c\n")
    assert source.entry("a/run") == Entry(0o100755, entry_of(repo, b"#!\n").oid)
    assert source.entry("a/b") is None and source.is_dir("a/b") and not source.is_dir("a/run")
    assert source.entry("missing/file") is None
    assert [path for path, _ in source.files("a")] == ["a/b/c.txt", "a/run"]
    assert TreeSource(repo, None).entry("anything") is None


def test_updates_reuse_untouched_subtrees_and_drop_empty_folders(repo):
    base = make_tree(repo, {"keep/x": b"x\n", "change/y": b"y\n", "drop/z": b"z\n"})
    new = update_tree(repo, base, {"change/y": entry_of(repo, b"Y\n"), "drop/z": None,
                                   "add/deep/w": entry_of(repo, b"w\n")})
    assert new == make_tree(repo, {"keep/x": b"x\n", "change/y": b"Y\n", "add/deep/w": b"w\n"})
    assert repo[new]["keep"].id == repo[base]["keep"].id
    grafted = update_tree(repo, new, {"copy": Entry(MODE_TREE, str(repo[new]["keep"].id))})
    assert TreeSource(repo, grafted).entry("copy/x") == entry_of(repo, b"x\n")
    assert git(Path(repo.workdir), "cat-file", "-t", grafted).strip() == "tree"


def test_an_abbreviated_index_line_finds_its_blob(repo):
    oid = entry_of(repo, b"content\n").oid
    assert find_blob(repo, oid[:7]) == b"content\n"
    assert find_blob(repo, "0000000") is None and find_blob(repo, "abc") is None


def test_names_that_are_not_utf8_are_stored_as_git_stores_them(repo):
    """Names are bytes to git; pygit2's TreeBuilder takes only UTF-8, so such trees are written
    raw. The id must be git's own: same bytes, same order (a folder sorts as ``name/``)."""
    names = [b"d\xff/inner.txt", b"d\xff.txt", b"d\xff-x", b"caf\xe9.txt", b"odd-\xc3(.txt",
             b"plain.txt", b"deep/caf\xe9/x"]
    files = {os.fsdecode(name): b"%s\n" % name for name in names}
    tree = make_tree(repo, files)
    top = Path(repo.workdir)
    lines = b"".join(b"100644 blob %s\t%s\0" % (entry_of(repo, data).oid.encode(),
                                                  os.fsencode(path))
                     for path, data in files.items())
    subprocess.run(["git", "-C", str(top), "update-index", "--add", "-z", "--index-info"],
                   input=lines, check=True)
    assert tree == git(top, "write-tree").strip()
    source = TreeSource(repo, tree)
    assert sorted(path for path, _ in source.files()) == sorted(files)
    assert source.entry(os.fsdecode(b"d\xff/inner.txt")) == entry_of(repo, b"d\xff/inner.txt\n")
    edited = update_tree(repo, tree, {os.fsdecode(b"caf\xe9.txt"): entry_of(repo, b"new\n"),
                                      os.fsdecode(b"d\xff/inner.txt"): None})
    assert edited == make_tree(repo, {**{path: data for path, data in files.items()
                                         if path != os.fsdecode(b"d\xff/inner.txt")},
                                      os.fsdecode(b"caf\xe9.txt"): b"new\n"})
    assert git(top, "fsck", "--strict", "--no-dangling").strip() == ""




def test_update_tree_reports_each_folder_it_writes_as_counted_beforehand(repo):
    from sync.git.trees import folders_on_paths

    base = make_tree(repo, {"a/b/c.txt": b"c\n", "a/d.txt": b"d\n", "e.txt": b"e\n"})
    changes = {"a/b/c.txt": entry_of(repo, b"C\n"), "a/b/new/f.txt": entry_of(repo, b"f\n"),
               "g/h.txt": entry_of(repo, b"h\n"), "e.txt": None}
    written: list[int] = []
    quiet = update_tree(repo, base, changes)
    assert update_tree(repo, base, changes, written.append) == quiet
    assert sum(written) == folders_on_paths(changes) == 5  # root, a, a/b, a/b/new, g


def test_sources_sharing_recent_blobs_read_a_blob_once(repo, monkeypatch: pytest.MonkeyPatch):
    import sync.git.trees as trees

    reads: list[str] = []
    real = trees.read_blob
    monkeypatch.setattr(trees, "read_blob", lambda repo, oid: reads.append(oid) or real(repo, oid))
    recent = RecentBlobs(repo, limit=10)
    first = TreeSource(repo, make_tree(repo, {"a": b"12345", "b": b"67890", "big": b"x" * 11}),
                       recent)
    second = TreeSource(repo, make_tree(repo, {"a": b"12345"}), recent)
    a, b, big = (first.entry(path) for path in ("a", "b", "big"))
    assert a is not None and b is not None and big is not None
    assert first.read(a.oid) == second.read(a.oid) == b"12345" and reads == [a.oid]
    first.read(b.oid)
    first.read(big.oid)  # over the limit: never held
    second.read(big.oid)
    first.read(b.oid)
    assert reads == [a.oid, b.oid, big.oid, big.oid]
    c = TreeSource(repo, make_tree(repo, {"c": b"abcde"})).entry("c")
    assert c is not None
    first.read(c.oid)  # 10 bytes at most: the oldest (a) gives way
    second.read(a.oid)
    assert reads[4:] == [c.oid, a.oid]


def test_storing_parts_tells_how_far_it_is_through_both_passes(repo):
    """Hashed, then (only when new) compressed: each pass counts as half of the work."""
    parts = [os.urandom(CHUNK + 5), b"middle\n", memoryview(os.urandom(2 * CHUNK))]
    size = sum(len(part) for part in parts)
    told: list[tuple[int, int]] = []
    oid = write_blob_parts(repo, parts, lambda done, total: told.append((done, total)))
    assert oid == str(repo.create_blob(b"".join(parts)))
    dones = [done for done, _total in told]
    assert dones == sorted(dones) and dones[-1] == 2 * size
    assert {total for _done, total in told} == {2 * size}
    told.clear()
    write_blob_parts(repo, parts, lambda done, total: told.append((done, total)))
    assert told[-1] == (size, 2 * size)  # already stored: hashed, nothing compressed
