"""A work-tree file read through a mapping: taken only when it holds exactly the blob, and its
pages let go without losing its content."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from sync.git.mapped import BLOCK, blob_at, count, let_go, map_blob_at


def resident_file_kb() -> int:
    """This process's resident pages that belong to files (RssFile), in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


def test_a_file_is_mapped_only_when_it_holds_exactly_the_blob(repo, tmp_path: Path):
    data = b"".join(b"line %d\n" % k for k in range(300_000))
    oid = str(repo.create_blob(data))
    same, edited, link, fifo = (tmp_path / name for name in ("same", "edited", "link", "fifo"))
    same.write_bytes(data)
    edited.write_bytes(data.replace(b"line 7\n", b"line 8\n"))  # same size, other content
    link.symlink_to(same)
    os.mkfifo(fifo)  # never opened for writing: a blocking open would hang here
    mapped = map_blob_at(repo, oid, str(same))
    assert isinstance(mapped, mmap.mmap) and mapped[:] == data
    for path in (edited, link, fifo, tmp_path / "missing"):
        assert map_blob_at(repo, oid, str(path)) is None
    empty = tmp_path / "empty"
    empty.write_bytes(b"")  # (a mapping cannot be empty: read from the database instead)
    assert map_blob_at(repo, str(repo.create_blob(b"")), str(empty)) is None


def test_the_mapping_is_a_private_copy_that_a_truncated_or_rewritten_file_cannot_touch(
        repo, tmp_path: Path):
    data = os.urandom(1 << 20) * 12
    path = tmp_path / "mail"
    path.write_bytes(data)
    mapped = map_blob_at(repo, str(repo.create_blob(data)), str(path))
    assert mapped is not None
    with open(path, "r+b") as stream:  # in place: no rename
        stream.write(b"x" * 4096)
        stream.truncate(100)  # reading the original's pages past 100 would kill the process
    assert mapped[:] == data
    assert not [name for name in os.listdir(repo.path) if name.startswith("tmp")]  # unnamed


def test_pages_let_go_leave_memory_and_the_content_stays_readable(repo, tmp_path: Path):
    data = os.urandom(1 << 20) * 48
    (tmp_path / "big").write_bytes(data)
    mapped = map_blob_at(repo, str(repo.create_blob(data)), str(tmp_path / "big"))
    assert mapped is not None
    before = resident_file_kb()
    assert sum(mapped[at:at + (1 << 20)].count(b"\n") for at in range(0, len(data), 1 << 20)
               ) == data.count(b"\n")  # every page touched
    assert resident_file_kb() - before > 40_000
    let_go(memoryview(mapped)[5:10])  # a view of the mapping lets go of the mapping's pages
    assert resident_file_kb() - before < 8_000
    assert mapped[:] == data


def test_the_copy_and_the_check_tell_how_far_they_are(repo, tmp_path: Path):
    """A block at a time: copying a 100 MB mail takes a second where new memory comes slowly."""
    data = os.urandom(1 << 20) * 20
    (tmp_path / "mail").write_bytes(data)
    told: list[tuple[int, int]] = []
    mapped = map_blob_at(repo, str(repo.create_blob(data)), str(tmp_path / "mail"),
                         lambda done, total: told.append((done, total)))
    assert mapped is not None and mapped[:] == data
    size = len(data)
    assert {total for _done, total in told} == {2 * size}
    copied = [done for done, _total in told if done <= size]
    assert copied == sorted(copied) and copied[-1] == size and len(copied) >= 3
    assert [done for done, _total in told if done > size] == [size + BLOCK, size + 2 * BLOCK,
                                                              2 * size]  # then checked


def test_count_on_a_mapping_is_the_count_on_its_bytes(repo, tmp_path: Path):
    data = b"".join(b"%d\n" % k * (k % 7) for k in range(2_000_000))
    assert len(data) > 2 * BLOCK
    (tmp_path / "text").write_bytes(data)
    mapped = map_blob_at(repo, str(repo.create_blob(data)), str(tmp_path / "text"))
    assert mapped is not None
    for start, end in ((0, None), (5, BLOCK + 3), (BLOCK - 1, 2 * BLOCK + 1), (7, 7)):
        assert count(mapped, b"\n", start, end) == count(data, b"\n", start, end) \
            == data.count(b"\n", start, len(data) if end is None else end)


def test_a_small_file_is_read_whole_and_a_large_one_mapped(repo, tmp_path: Path):
    small, large = b"small\n" * 1000, b"large\n" * (BLOCK // 6 + 1)
    for name, data in (("small", small), ("large", large)):
        (tmp_path / name).write_bytes(data)
    found = blob_at(repo, str(repo.create_blob(small)), str(tmp_path / "small"))
    assert isinstance(found, bytes) and found == small
    mapped = blob_at(repo, str(repo.create_blob(large)), str(tmp_path / "large"))
    assert isinstance(mapped, mmap.mmap) and mapped[:] == large
    (tmp_path / "edited").write_bytes(small.replace(b"small", b"smell", 1))  # same size
    for path in ("edited", "large", "missing"):
        assert blob_at(repo, str(repo.create_blob(small)), str(tmp_path / path)) is None
