"""Loose objects read here: the content, or DamagedObject naming what is wrong; never a hang."""

from __future__ import annotations

import io
import os
import subprocess
import time
import zlib
from pathlib import Path

import pygit2
import pytest

from sync.git import loose
from sync.git.objects import ObjectWriter


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True,
                          text=True).stdout


def test_read_verified_checks_an_object_against_its_id_loose_or_packed(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    data = b'{"state": [' + b"1," * 5000 + b"1]}"
    oid = str(repo.create_blob(data))
    assert loose.read_verified(repo, oid) == ("blob", data)
    assert loose.object_header(repo, oid) == ("blob", len(data))
    git(repo_dir, "gc", "-q")  # packed: read through libgit2
    assert loose.read_verified(repo, oid) == ("blob", data)
    assert loose.object_header(repo, oid) == ("blob", len(data))


def test_a_loose_object_edited_or_cut_short_is_damaged_and_never_hangs(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    data = b'{"state": [' + b"1," * 5000 + b"1]}"
    oid = str(repo.create_blob(data))
    path = repo_dir / ".git" / "objects" / oid[:2] / oid[2:]
    path.chmod(0o644)
    whole = path.read_bytes()
    path.write_bytes(zlib.compress(b"blob 6\0forged"[:13]))
    with pytest.raises(loose.DamagedObject, match="hashes to"):
        loose.read_verified(repo, oid)
    path.write_bytes(whole[:40])  # libgit2 (1.9.7) reading this one never returned
    started = time.monotonic()
    with pytest.raises(loose.DamagedObject, match="cut short"):
        loose.read_verified(repo, oid)
    with pytest.raises(loose.DamagedObject, match="unreadable header"):
        loose.object_header(repo, oid)
    assert time.monotonic() - started < 5
    path.unlink()
    with pytest.raises(loose.DamagedObject):
        loose.object_header(repo, oid)


def test_a_loose_blob_is_copied_out_a_block_at_a_time_and_checked_against_its_header_and_id(
        repo_dir: Path):

    repo = pygit2.Repository(str(repo_dir))
    folders = loose.object_folders(repo)
    text = b"".join(b"line %d\n" % k for k in range(2_000_000))  # compresses far below a block
    noise = os.urandom(3 << 20)
    held_back = b"a" * 1_000_000  # read whole in one block; ISA-L holds output back
    for data in (b"", b"small\n", text, noise, held_back):
        with ObjectWriter(repo) as writer:
            oid = writer.write_bytes(data)
        out = io.BytesIO()
        assert loose.copy_loose_blob(folders, oid, out)
        assert out.getvalue() == data
    assert not loose.copy_loose_blob(folders, "0" * 40, io.BytesIO())  # not loose: False
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
        with pytest.raises(loose.DamagedObject, match=reason):
            loose.copy_loose_blob(folders, oid, io.BytesIO())


def test_a_large_loose_blob_is_read_by_isa_l_and_anything_else_is_left_to_libgit2(
        repo_dir: Path):

    from sync.git.trees import RecentBlobs, read_blob
    repo = pygit2.Repository(str(repo_dir))
    folders = loose.object_folders(repo)
    large, small = os.urandom(200_000), b"small\n"
    with ObjectWriter(repo) as writer:
        large_id, small_id = writer.write_bytes(large), writer.write_bytes(small)
    assert loose.read_loose_blob(folders, large_id) == large
    assert loose.read_loose_blob(folders, small_id) is None  # libgit2 reads it sooner
    assert loose.read_loose_blob(folders, small_id, smallest=0) == small
    assert loose.read_loose_blob(folders, "0" * 40) is None  # not loose
    recent = RecentBlobs(repo)
    assert (recent.read(large_id), recent.read(small_id)) == (large, small)
    path = repo_dir / ".git" / "objects" / large_id[:2] / large_id[2:]
    path.chmod(0o644)
    whole = path.read_bytes()
    path.write_bytes(whole[:-1] + bytes([whole[-1] ^ 1]))  # damaged: libgit2 reports it
    assert loose.read_loose_blob(folders, large_id) is None
    with pytest.raises(pygit2.GitError):
        read_blob(repo, large_id)


def test_the_object_folders_are_the_repository_s_own_then_its_alternates(tmp_path: Path):
    first = pygit2.init_repository(str(tmp_path / "first"), bare=True)
    second = pygit2.init_repository(str(tmp_path / "second"), bare=True)
    clone = pygit2.init_repository(str(tmp_path / "clone"), bare=True)
    (tmp_path / "clone/objects/info/alternates").write_text(
        f"# shared\n{tmp_path / 'first/objects'}\n../../second/objects\n")
    (tmp_path / "second/objects/info/alternates").write_text(f"{tmp_path / 'first/objects'}\n")
    assert loose.object_folders(clone) == (str(tmp_path / "clone/objects"),
                                             str(tmp_path / "first/objects"),
                                             str(tmp_path / "second/objects"))
    oid = str(first.create_blob(b"shared\n"))
    out = io.BytesIO()
    assert loose.copy_loose_blob(loose.object_folders(clone), oid, out)
    assert out.getvalue() == b"shared\n"
    assert loose.object_folders(second) == (str(tmp_path / "second/objects"),
                                              str(tmp_path / "first/objects"))
