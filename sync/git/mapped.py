"""Large work-tree files read through a memory mapping whose pages are let go once used.

A grouped patch can be a 100 MB mail. Read into ``bytes``, all of it stays resident for as long
as the patch is in use (parsed, applied, refreshed, stored); on top of it come the files the
patch edits, and the peak memory is the sum. Mapped read-only, its pages are read from the page
cache when touched, and ``let_go`` drops them from the process again: they belong to the file,
so nothing is lost (touched again, they are read again). Memory then follows the pages in use
at once, not the size of the file.

What is mapped is a private copy, never the work-tree file itself: a file truncated while
mapped kills the process at the next page read past its new end, and one rewritten in place
would change bytes after their id was checked. The copy is made by the kernel
(``copy_file_range``: no pages pass through this process; a reflink where the file system has
them) into an unnamed file in the git folder, which nothing else can open.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
import tempfile
from collections.abc import Callable

import pygit2

BLOCK = 8 << 20  # bytes copied, hashed or counted between two ``let_go`` (or progress reports)
Told = Callable[[int, int], None]  # progress(done, in all)


def blob_at(repo: pygit2.Repository, oid: str, path: str,
            told: Told | None = None) -> bytes | mmap.mmap | None:
    """The regular file at ``path`` when it holds exactly blob ``oid``: mapped when it is larger
    than ``BLOCK`` (``map_blob_at``), read whole otherwise (every pass over a mapping faults its
    pages in again: the parser makes three, which cost a late --continue's one-file mails more
    than reading them); None when it does not hold the blob (read it from the database).
    ``told`` hears how far a mapping's copy and check are."""
    size = repo.odb.read_header(oid)[1]
    if size > BLOCK:
        return map_blob_at(repo, oid, path, told)
    handle = _open_regular(path, size)
    if handle is None:
        return None
    try:
        with open(handle, "rb") as stream:  # (closes the descriptor)
            data = stream.read(size + 1)
    except OSError:
        return None
    digest = hashlib.sha1(b"blob %d\0" % len(data))
    digest.update(data)
    return data if len(data) == size and digest.hexdigest() == oid else None


def map_blob_at(repo: pygit2.Repository, oid: str, path: str,
                told: Told | None = None) -> mmap.mmap | None:
    """The regular file at ``path`` mapped read-only, when it holds exactly blob ``oid`` (its
    size and git id checked, a block at a time, letting go of the pages hashed); else None
    (absent, not a regular file, empty, another content: read the blob from the database).

    ``told(done, in all)`` after each block copied and each block checked (``in all`` is twice
    the size): the copy of a 100 MB mail takes a second where new memory is slow to come by.
    """
    size = repo.odb.read_header(oid)[1]
    tell = told or (lambda _done, _total: None)
    handle = _open_regular(path, size)
    if handle is None:
        return None
    try:
        with tempfile.TemporaryFile(dir=repo.path) as copy:
            if _copy_range(handle, copy.fileno(), size, tell) != size:
                return None  # changed under us: read the database instead
            mapped = mmap.mmap(copy.fileno(), size, access=mmap.ACCESS_READ)
    except OSError:
        return None  # a full disk included: the database still has the blob
    finally:
        os.close(handle)  # the mapping keeps its file; the descriptors are not needed
    digest = hashlib.sha1(b"blob %d\0" % size)
    with memoryview(mapped) as view:
        for at in range(0, size, BLOCK):
            digest.update(view[at:at + BLOCK])
            let_go(mapped)
            tell(size + min(at + BLOCK, size), 2 * size)
    if digest.hexdigest() != oid:
        mapped.close()
        return None
    return mapped


def _open_regular(path: str, size: int) -> int | None:
    """A descriptor of the regular file at ``path`` if it has ``size`` bytes (not empty; a
    symlink not followed, a fifo never waited on); else None."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(handle)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode) or info.st_size != size or size == 0:
        os.close(handle)
        return None
    return handle


def _copy_range(source: int, target: int, size: int, told: Told) -> int:
    """Copy up to ``size`` bytes from ``source`` to ``target`` in the kernel, a block at a time;
    how many were."""
    done = 0
    while done < size:
        copied = os.copy_file_range(source, target, min(BLOCK, size - done), done, done)
        if copied == 0:
            break
        done += copied
        told(done, 2 * size)
    return done


def let_go(buffer: object) -> None:
    """Drop the resident pages of ``buffer`` when it is a mapping (or a view of one); anything
    else is left as it is. Cheap, and the content stays readable."""
    target = buffer.obj if isinstance(buffer, memoryview) else buffer
    if isinstance(target, mmap.mmap) and not target.closed:
        target.madvise(mmap.MADV_DONTNEED)


def count(text: bytes | mmap.mmap, sub: bytes, start: int = 0, end: int | None = None) -> int:
    """``text.count(sub, start, end)`` for a single byte ``sub``, also on a mapping (which has
    no ``count``): counted a block at a time, its pages let go behind."""
    if isinstance(text, bytes):
        return text.count(sub, start, len(text) if end is None else end)
    assert len(sub) == 1  # a byte never straddles two blocks
    stop = len(text) if end is None else min(end, len(text))
    found = 0
    for at in range(start, stop, BLOCK):
        found += text[at:min(at + BLOCK, stop)].count(sub)
        let_go(text)
    return found
