"""The object writer: blobs by content id, new ones written once, trees from nested dicts."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pygit2
import pytest

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


def test_read_verified_checks_an_object_against_its_id_loose_or_packed(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    data = b'{"state": [' + b"1," * 5000 + b"1]}"
    oid = str(repo.create_blob(data))
    assert objects.read_verified(repo, oid) == ("blob", data)
    assert objects.object_header(repo, oid) == ("blob", len(data))
    git(repo_dir, "gc", "-q")  # packed: read through libgit2
    assert objects.read_verified(repo, oid) == ("blob", data)
    assert objects.object_header(repo, oid) == ("blob", len(data))


def test_a_loose_object_edited_or_cut_short_is_damaged_and_never_hangs(repo_dir: Path):
    import time
    import zlib

    import pytest

    repo = pygit2.Repository(str(repo_dir))
    data = b'{"state": [' + b"1," * 5000 + b"1]}"
    oid = str(repo.create_blob(data))
    path = repo_dir / ".git" / "objects" / oid[:2] / oid[2:]
    path.chmod(0o644)
    whole = path.read_bytes()
    path.write_bytes(zlib.compress(b"blob 6\0forged"[:13]))
    with pytest.raises(objects.DamagedObject, match="hashes to"):
        objects.read_verified(repo, oid)
    path.write_bytes(whole[:40])  # libgit2 (1.9.7) reading this one never returned
    started = time.monotonic()
    with pytest.raises(objects.DamagedObject, match="cut short"):
        objects.read_verified(repo, oid)
    with pytest.raises(objects.DamagedObject, match="unreadable header"):
        objects.object_header(repo, oid)
    assert time.monotonic() - started < 5
    path.unlink()
    with pytest.raises(objects.DamagedObject):
        objects.object_header(repo, oid)


def test_a_loose_blob_is_copied_out_a_block_at_a_time_and_checked_against_its_header_and_id(
        repo_dir: Path):
    import os
    import zlib

    import pytest

    repo = pygit2.Repository(str(repo_dir))
    folders = objects.object_folders(repo)
    text = b"".join(b"line %d\n" % k for k in range(2_000_000))  # compresses far below a block
    noise = os.urandom(3 << 20)
    held_back = b"a" * 1_000_000  # read whole in one block; ISA-L holds output back
    for data in (b"", b"small\n", text, noise, held_back):
        with ObjectWriter(repo) as writer:
            oid = writer.write_bytes(data)
        out = io.BytesIO()
        assert objects.copy_loose_blob(folders, oid, out)
        assert out.getvalue() == data
    assert not objects.copy_loose_blob(folders, "0" * 40, io.BytesIO())  # not loose: False
    path = repo_dir / ".git" / "objects" / oid[:2] / oid[2:]
    path.chmod(0o644)
    whole = path.read_bytes()
    for damaged, reason in ((whole[: len(whole) // 2], "cut short"),
                            (zlib.compress(b"blob 5\0too long"), "longer than"),
                            (zlib.compress(b"blob 99\0too short"), "shorter than"),
                            (zlib.compress(b"tree 5\0abcde"), "not a blob"),
                            (whole[:-1] + bytes([whole[-1] ^ 1]), "check"),
                            (zlib.compress(b"blob %d\0" % len(data) + b"b" * len(data)),
                             "hashes to")):  # whole and well formed, but another blob
        path.write_bytes(damaged)
        with pytest.raises(objects.DamagedObject, match=reason):
            objects.copy_loose_blob(folders, oid, io.BytesIO())


def test_a_large_loose_blob_is_read_by_isa_l_and_anything_else_is_left_to_libgit2(
        repo_dir: Path):
    import os

    from sync.git.trees import RecentBlobs, read_blob

    repo = pygit2.Repository(str(repo_dir))
    folders = objects.object_folders(repo)
    large, small = os.urandom(200_000), b"small\n"
    with ObjectWriter(repo) as writer:
        large_id, small_id = writer.write_bytes(large), writer.write_bytes(small)
    assert objects.read_loose_blob(folders, large_id) == large
    assert objects.read_loose_blob(folders, small_id) is None  # libgit2 reads it sooner
    assert objects.read_loose_blob(folders, small_id, smallest=0) == small
    assert objects.read_loose_blob(folders, "0" * 40) is None  # not loose
    recent = RecentBlobs(repo)
    assert (recent.read(large_id), recent.read(small_id)) == (large, small)
    path = repo_dir / ".git" / "objects" / large_id[:2] / large_id[2:]
    path.chmod(0o644)
    whole = path.read_bytes()
    path.write_bytes(whole[:-1] + bytes([whole[-1] ^ 1]))  # damaged: libgit2 reports it
    assert objects.read_loose_blob(folders, large_id) is None
    with pytest.raises(pygit2.GitError):
        read_blob(repo, large_id)


def test_the_object_folders_are_the_repository_s_own_then_its_alternates(tmp_path: Path):
    first = pygit2.init_repository(str(tmp_path / "first"), bare=True)
    second = pygit2.init_repository(str(tmp_path / "second"), bare=True)
    clone = pygit2.init_repository(str(tmp_path / "clone"), bare=True)
    (tmp_path / "clone/objects/info/alternates").write_text(
        f"# shared\n{tmp_path / 'first/objects'}\n../../second/objects\n")
    (tmp_path / "second/objects/info/alternates").write_text(f"{tmp_path / 'first/objects'}\n")
    assert objects.object_folders(clone) == (str(tmp_path / "clone/objects"),
                                             str(tmp_path / "first/objects"),
                                             str(tmp_path / "second/objects"))
    oid = str(first.create_blob(b"shared\n"))
    out = io.BytesIO()
    assert objects.copy_loose_blob(objects.object_folders(clone), oid, out)
    assert out.getvalue() == b"shared\n"
    assert objects.object_folders(second) == (str(tmp_path / "second/objects"),
                                              str(tmp_path / "first/objects"))
