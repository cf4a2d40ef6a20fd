"""The object writer: blobs by content id, new ones written once, trees from nested dicts."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pygit2

from sync.filetree import MODE_EXECUTABLE, MODE_FILE, MODE_SYMLINK, Leaf, Tree
from sync.git import objects
from sync.git.objects import ObjectWriter, blob_id, read_tree, write_tree


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True,
                          text=True).stdout


def test_blob_ids_are_the_ones_git_computes(repo_dir: Path):
    (repo_dir / "file").write_bytes(b"hello\n")
    assert blob_id(b"hello\n") == git(repo_dir, "hash-object", "file").strip()


def test_written_blobs_are_readable_by_git_and_pass_fsck(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    with ObjectWriter(repo) as writer:
        small = writer.write(io.BytesIO(b"small content"), 13)
        symlink = writer.write_bytes(b"../target")
    assert repo[small].data == b"small content"
    assert git(repo_dir, "cat-file", "-p", symlink) == "../target"
    assert "error" not in subprocess.run(["git", "-C", str(repo_dir), "fsck", "--strict"],
                                         capture_output=True, text=True).stderr
    assert writer.written == 2


def test_large_files_are_streamed_and_leave_no_temporary_files(repo_dir: Path, monkeypatch):
    monkeypatch.setattr(objects, "IN_MEMORY_LIMIT", 1024)
    repo = pygit2.Repository(str(repo_dir))
    content = bytes(range(256)) * 40  # 10 KiB, above the patched limit
    with ObjectWriter(repo) as writer:
        oid = writer.write(io.BytesIO(content), len(content))
    assert oid == blob_id(content)
    assert repo[oid].data == content
    leftovers = [p.name for p in (repo_dir / ".git" / "objects").rglob("*")
                 if p.name.startswith(("spool-", "tmp_obj_"))]
    assert leftovers == []


def test_content_already_in_the_database_is_not_written_again(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    existing = str(repo.create_blob(b"already there"))
    with ObjectWriter(repo) as writer:
        assert writer.write(io.BytesIO(b"already there"), 13) == existing
        writer.write(io.BytesIO(b"twice"), 5)
        writer.write(io.BytesIO(b"twice"), 5)
    assert (writer.written, writer.reused) == (1, 1)


def test_trees_are_written_sorted_and_drop_empty_folders(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    with ObjectWriter(repo) as writer:
        text = writer.write_bytes(b"text\n")
        link = writer.write_bytes(b"text")
    tree = Tree({"bundle": Tree({
        "z.sh": Leaf(MODE_EXECUTABLE, text),
        "a.txt": Leaf(MODE_FILE, text),
        "link": Leaf(MODE_SYMLINK, link),
        "empty": Tree({"deeper": Tree()}),
    })})
    tree_id = write_tree(repo, tree)
    listing = git(repo_dir, "ls-tree", "-r", tree_id).splitlines()
    assert [line.split("\t")[1] for line in listing] == ["bundle/a.txt", "bundle/link",
                                                         "bundle/z.sh"]
    assert listing[1].startswith("120000") and listing[2].startswith("100755")
    round_trip = read_tree(repo, tree_id)
    assert write_tree(repo, round_trip) == tree_id


def test_the_same_content_gives_the_same_tree_whatever_the_insertion_order(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    leaf = Leaf(MODE_FILE, str(repo.create_blob(b"x")))
    first = Tree({"a": leaf, "b": Tree({"c": leaf, "d": leaf})})
    second = Tree({"b": Tree({"d": leaf, "c": leaf}), "a": leaf})
    assert write_tree(repo, first) == write_tree(repo, second)
