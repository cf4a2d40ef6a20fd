"""Reading loose objects ourselves: inflated by ISA-L, checked against their header and id.

libgit2 reads every object through zlib; ISA-L's zlib-compatible inflater is about twice as fast,
and a loose object read here is checked as libgit2 checks it (zlib's checksum, the header's type
and size, the content's hash against the id), a bounded block at a time so that a forged or cut
stream never inflates without limit nor hangs. ``DamagedObject`` names what is wrong; callers
decide whether to refuse (the work-tree writer) or to let libgit2 read and report it.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO, cast

import pygit2

try:
    from isal import isal_zlib as deflate
except ImportError:  # pragma: no cover - isal is a dependency; stay correct without it
    import zlib as deflate  # type: ignore[no-redef]

# blocks streamed out of loose objects: under malloc's mmap threshold, so that threads reuse
# the memory (1 MiB blocks cost ISA-L's inflater ~40 MB of peak memory per thread)
STREAM_BLOCK = 64 << 10
LOOSE_READ_SMALLEST = 32 << 10  # a loose object read by ISA-L rather than libgit2 from here
CHUNK = 1 << 20  # inflated at a time by read_verified
TOLD_EVERY = 8 << 20  # bytes of a large blob written between two reports of how far it is

_TYPES = {pygit2.enums.ObjectType.COMMIT: "commit", pygit2.enums.ObjectType.TREE: "tree",
          pygit2.enums.ObjectType.BLOB: "blob", pygit2.enums.ObjectType.TAG: "tag"}


_INFLATE_ERRORS: tuple[type[BaseException], ...] = (OSError, zlib.error,
                                                   cast(type, deflate.error))


class DamagedObject(Exception):
    """An object that cannot be read, or whose content does not hash to its id."""


def object_header(repo: pygit2.Repository, oid: str) -> tuple[str, int]:
    """An object's type ("blob", ...) and size, from its header only; ``DamagedObject`` when
    it is missing or its header unreadable."""
    head = _inflate(_loose_path(repo, oid), 64, 4096)
    if head is not None:
        header, nul, _ = head.partition(b"\0")
        kind, _, size = header.partition(b" ")
        if not nul or not size.isdigit():
            raise DamagedObject(f"{oid}: a loose object with an unreadable header")
        return kind.decode("ascii", "replace"), int(size)
    try:
        kind_id, size_read = repo.odb.read_header(pygit2.Oid(hex=oid))
    except (KeyError, ValueError, pygit2.GitError) as error:
        raise DamagedObject(f"{oid}: {error}") from None
    return _TYPES.get(kind_id, "?"), size_read


def read_verified(repo: pygit2.Repository, oid: str, limit: int = 1 << 30) -> tuple[str, bytes]:
    """An object's type and content (at most ``limit`` bytes), hashed again against its id.

    Loose objects are inflated here, within bounds: libgit2 can spin forever on a loose
    object cut short. ``DamagedObject`` for anything missing, unreadable or not what its id says.
    """
    raw = _inflate(_loose_path(repo, oid), limit + 64, CHUNK)
    if raw is not None:
        header, nul, data = raw.partition(b"\0")
        kind_bytes, _, size = header.partition(b" ")
        if not nul or not size.isdigit() or int(size) != len(data):
            raise DamagedObject(f"{oid}: a loose object cut short or malformed")
        kind = kind_bytes.decode("ascii", "replace")
    else:
        try:
            kind_id, content = repo.odb.read(pygit2.Oid(hex=oid))
        except (KeyError, ValueError, pygit2.GitError) as error:
            raise DamagedObject(f"{oid}: {error}") from None
        kind, data = _TYPES.get(kind_id, "?"), bytes(content)
    digest = hashlib.sha1(b"%s %d\0" % (kind.encode(), len(data)))
    digest.update(data)
    if digest.hexdigest() != oid:
        raise DamagedObject(f"{oid}: its content hashes to {digest.hexdigest()}")
    return kind, data


def _loose_path(repo: pygit2.Repository, oid: str) -> str:
    return os.path.join(repo.path, "objects", oid[:2], oid[2:])


def _inflate(path: str, limit: int, step: int) -> bytes | None:
    """Up to ``limit`` bytes of a loose object's zlib stream (less only at its end), read
    ``step`` bytes at a time; None when there is no such loose object."""
    inflater = deflate.decompressobj()
    parts: list[bytes] = []
    size = 0
    try:
        with open(path, "rb") as file:
            while size < limit and (chunk := file.read(step)):
                part = inflater.decompress(chunk, limit - size)
                parts.append(part)
                size += len(part)
                if inflater.eof:
                    break
    except FileNotFoundError:
        return None
    except _INFLATE_ERRORS as error:
        raise DamagedObject(f"{os.path.basename(os.path.dirname(path))}"
                            f"{os.path.basename(path)}: {error}") from None
    return b"".join(parts)


def object_folders(repo: pygit2.Repository) -> tuple[str, ...]:
    """Where ``repo``'s loose objects may be: its own objects folder, then those its
    ``objects/info/alternates`` name (a relative one from the folder naming it), as git looks."""
    found: list[str] = []
    pending = [os.path.join(repo.path, "objects")]
    while pending and len(found) < 16:  # alternates of alternates, within reason
        folder = os.path.normpath(pending.pop(0))
        if folder in found:
            continue
        found.append(folder)
        try:
            with open(os.path.join(folder, "info", "alternates"), "rb") as listing:
                lines = listing.read().splitlines()
        except OSError:
            continue
        pending.extend(os.path.join(folder, os.fsdecode(line.strip())) for line in lines
                       if line.strip() and not line.startswith(b"#"))
    return tuple(found)


def copy_loose_blob(folders: Sequence[str], oid: str, out: BinaryIO,
                    wrote: Callable[[int], None] | None = None) -> bool:
    """Write blob ``oid`` into ``out`` from its loose object, inflated a block at a time (a
    large blob is never whole in memory); False when no folder holds it loose (packed).

    ``DamagedObject`` when the object is not a whole blob (zlib's checksum, the header's type
    and size) or not blob ``oid`` (its content hashed as it goes, as libgit2 checks every
    object it reads); what was written into ``out`` by then is for the caller to discard. A
    fault writing ``out`` is raised as it is. ``wrote(bytes so far)`` after each ``TOLD_EVERY``
    bytes written.
    """
    for folder in folders:
        try:
            handle = open(os.path.join(folder, oid[:2], oid[2:]), "rb")  # noqa: SIM115
        except FileNotFoundError:
            continue
        with handle:
            blocks = _blob_blocks(handle, oid)
            written = 0
            while True:
                try:
                    block = next(blocks, None)
                except _INFLATE_ERRORS as error:
                    raise DamagedObject(f"{oid}: {error}") from None
                except DamagedObject as error:
                    raise DamagedObject(f"{oid}: {error}") from None
                if block is None:
                    return True
                out.write(block)
                written += len(block)
                if wrote is not None and written % TOLD_EVERY < len(block):
                    wrote(written)
    return False


def read_loose_blob(folders: Sequence[str], oid: str, smallest: int = LOOSE_READ_SMALLEST
                    ) -> bytes | None:
    """Blob ``oid`` read from its loose object and checked as ``copy_loose_blob`` checks it
    (ISA-L inflates about twice as fast as libgit2's zlib: a 2 MB mesh 9 -> 5 ms), when that
    object's file has ``smallest`` bytes or more; None otherwise (packed, absent, smaller:
    libgit2 reads a small one sooner), and None for a damaged one too, for libgit2 to read
    and report as it always did."""
    for folder in folders:
        path = os.path.join(folder, oid[:2], oid[2:])
        try:
            handle = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            continue
        except OSError:
            return None
        with handle:
            try:
                if os.fstat(handle.fileno()).st_size < smallest:
                    return None
                return b"".join(_blob_blocks(handle, oid))
            except DamagedObject:
                return None
            except _INFLATE_ERRORS:
                return None
    return None


def _blob_blocks(handle: BinaryIO, oid: str) -> Iterator[bytes]:
    """A loose blob's content, inflated a bounded block at a time, checked against its header
    and, once whole, against its id (the last block comes only after that check)."""
    inflater = deflate.decompressobj()
    digest = hashlib.sha1()
    held = b""  # the last block, held back until the id is checked
    header = b""
    remaining = -1  # bytes of content still to come, once the header is read
    while not inflater.eof:
        block = inflater.unconsumed_tail or handle.read(STREAM_BLOCK)
        data = inflater.decompress(block, STREAM_BLOCK)  # bounded, however compressible
        if not block and not data:  # (ISA-L may still hold output when its input is read)
            raise DamagedObject("the loose object is cut short")
        digest.update(data)  # the header included: a git id hashes the whole object
        if remaining < 0:
            header += data
            if b"\0" not in header[:64]:
                if len(header) < 64:
                    continue
                raise DamagedObject("the loose object has no header")
            head, _, data = header.partition(b"\0")
            kind, _, size = head.partition(b" ")
            if kind != b"blob" or not size.isdigit():
                raise DamagedObject("not a blob")
            remaining = int(size)
        remaining -= len(data)
        if remaining < 0:
            raise DamagedObject("longer than its header says")
        if data:
            if held:
                yield held
            held = data
    if remaining != 0:
        raise DamagedObject("shorter than its header says")
    if digest.hexdigest() != oid:
        raise DamagedObject(f"its content hashes to {digest.hexdigest()}")
    if held:
        yield held
