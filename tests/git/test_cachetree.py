"""The index's tree from the index's own record of its folders: what `git write-tree` writes."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pygit2

from sync.git import cachetree
from tests.series.builders import git, unmerge

FILES = {"bundle/a.txt": b"a\n", "bundle/deep/er/b.txt": b"b\n", "bundle/deep/c.txt": b"c\n",
         "bundle/other/d.txt": b"d\n", "bundle/a-b.txt": b"sorts before a/\n",
         "bundle/a0.txt": b"sorts after a/\n", "bundle/a/inner.txt": b"inner\n",
         "patches/series": b"0001-x.patch\n", "top.txt": b"top\n"}


def committed(repo: pygit2.Repository) -> Path:
    top = Path(repo.workdir)
    for path, data in FILES.items():
        (top / path).parent.mkdir(parents=True, exist_ok=True)
        (top / path).write_bytes(data)
    os.symlink("a.txt", top / "bundle/link")
    (top / "bundle/tool").write_bytes(b"#!/bin/sh\n")
    (top / "bundle/tool").chmod(0o755)
    git(top, "add", "-A")
    git(top, "commit", "-qm", "base")
    return top


def written_by_git(top: Path) -> str:
    return git(top, "write-tree").strip()


def test_a_committed_index_is_its_recorded_tree(repo):
    top = committed(repo)
    assert cachetree.index_tree(repo) == written_by_git(top) == str(repo.head.peel().tree.id)


def test_after_git_add_and_rm_only_the_folders_out_of_date_are_written_and_match_git(repo):
    top = committed(repo)
    (top / "bundle/deep/er/b.txt").write_bytes(b"changed\n")
    (top / "bundle/new/folder").mkdir(parents=True)
    (top / "bundle/new/folder/e.txt").write_bytes(b"new\n")
    (top / "bundle/other/d.txt").unlink()
    git(top, "add", "-A", "bundle")
    ours = cachetree.index_tree(repo)
    assert ours is not None and ours == written_by_git(top)
    assert repo.get(ours)["bundle/new/folder/e.txt"].data == b"new\n"  # type: ignore[index]


def test_a_file_in_place_of_a_folder_and_a_folder_in_place_of_a_file(repo):
    top = committed(repo)
    git(top, "rm", "-rq", "bundle/deep")
    (top / "bundle/deep").write_bytes(b"a file now\n")
    git(top, "rm", "-q", "bundle/a.txt")
    (top / "bundle/a.txt").mkdir()
    (top / "bundle/a.txt/x").write_bytes(b"a folder now\n")
    git(top, "add", "-A")
    assert cachetree.index_tree(repo) == written_by_git(top)


def test_paths_longer_than_the_entry_length_field_are_read_to_their_end(repo):
    top = committed(repo)
    blob = git(top, "hash-object", "-w", "--stdin", input=b"long\n").strip()
    long_path = "bundle/" + "/".join(["d" * 200] * 22) + "/file"  # > 4095 bytes
    git(top, "update-index", "--add", "--cacheinfo", f"100644,{blob},{long_path}")
    assert cachetree.index_tree(repo) == written_by_git(top)


def test_what_this_reader_does_not_know_is_left_to_libgit2(repo):
    top = committed(repo)
    index = Path(repo.path) / "index"
    git(top, "update-index", "--index-version", "4")
    assert cachetree.index_tree(repo) is None  # compressed paths
    git(top, "update-index", "--index-version", "2")
    assert cachetree.index_tree(repo) is not None
    (top / "bundle/planned.txt").write_bytes(b"later\n")
    git(top, "add", "-N", "bundle/planned.txt")
    assert cachetree.index_tree(repo) is None  # an entry with extended flags (intent to add)
    git(top, "rm", "-q", "--cached", "bundle/planned.txt")
    git(top, "update-index", "--split-index")
    assert cachetree.index_tree(repo) is None  # an extension readers must understand
    git(top, "update-index", "--no-split-index")
    assert cachetree.index_tree(repo) == written_by_git(top)
    data = bytearray(index.read_bytes())
    data[-1] ^= 0xFF
    index.write_bytes(bytes(data))
    assert cachetree.index_tree(repo) is None  # its checksum does not match


def test_unmerged_entries_give_no_tree(repo):
    committed(repo)
    unmerge(repo, "bundle/a.txt")
    assert cachetree.index_tree(repo) is None


def test_an_index_without_a_record_is_left_to_libgit2(repo):
    top = committed(repo)
    (Path(repo.path) / "index").unlink()
    blob = git(top, "hash-object", "-w", "--stdin", input=b"x\n").strip()
    git(top, "update-index", "--add", "--cacheinfo", f"100644,{blob},bundle/x")
    assert cachetree.index_tree(repo) is None
    assert written_by_git(top) and cachetree.index_tree(repo) is not None  # git recorded it


def test_folders_the_record_holds_are_taken_without_reading_their_trees(repo):
    top = committed(repo)
    (top / "bundle/a.txt").write_bytes(b"changed\n")
    git(top, "add", "bundle/a.txt")  # bundle/ and the top are out of date, the rest recorded
    expected = written_by_git(top)  # (records them again)
    blob = git(top, "rev-parse", ":bundle/a.txt").strip()
    git(top, "update-index", "--cacheinfo", f"100644,{blob},bundle/a.txt")  # out of date again
    deep = git(top, "rev-parse", f"{expected}:bundle/deep").strip()
    (Path(repo.path) / "objects" / deep[:2] / deep[2:]).unlink()  # never read: not needed
    assert cachetree.index_tree(repo) == expected


def test_many_folders_out_of_date_are_left_to_libgit2(repo):
    top = committed(repo)
    paths = [f"bundle/many/f{number}/x" for number in range(cachetree.WRITTEN_AT_MOST + 1)]
    for path in paths:
        (top / path).parent.mkdir(parents=True)
        (top / path).write_bytes(b"x\n")
    git(top, "add", "-A")
    git(top, "commit", "-qm", "many folders")
    blob = git(top, "rev-parse", f":{paths[0]}").strip()
    for path in paths:  # each folder out of date again
        git(top, "update-index", "--cacheinfo", f"100644,{blob},{path}")
    assert cachetree.index_tree(repo) is None
    git(top, "update-index", "--cacheinfo", f"100644,{blob},{paths[0]}")
    git(top, "write-tree")
    git(top, "update-index", "--cacheinfo", f"100644,{blob},{paths[0]}")  # one: written here
    assert cachetree.index_tree(repo) == written_by_git(top)


def _checksummed(body: bytes) -> bytes:
    return body + hashlib.sha1(body).digest()


def test_an_index_whose_checksum_holds_but_whose_body_does_not_is_left_to_libgit2(repo):
    """Forged or cut inside, with a matching checksum: no tree and no traceback."""
    committed(repo)
    index = Path(repo.path) / "index"
    body = index.read_bytes()[:-20]
    signature, version, count = struct.unpack_from(">4sII", body)
    more = struct.pack(">4sII", signature, version, count + 5) + body[12:]
    tree_at = body.index(b"TREE")
    cut_record = body[:tree_at + 4] + struct.pack(">I", 60) + body[tree_at + 8:tree_at + 68]
    for forged in (more, body[:40], cut_record, body[:tree_at] + b"TREE"):
        index.write_bytes(_checksummed(forged))
        assert cachetree.index_tree(repo) is None
