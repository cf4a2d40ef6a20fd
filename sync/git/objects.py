"""Blobs and trees straight into the object database, without touching work tree or index.

Why not ``repo.create_blob`` for every file: libgit2 compresses with zlib (about 40 MB/s on
incompressible data) and recompresses content the database already has. Here each blob is
hashed first (SHA-1 runs at >1 GB/s) and only missing objects are compressed and written as
loose objects in git's own format: a zlib stream at level 1 (git's default
``core.looseCompression``), produced by ISA-L's zlib-compatible deflate when available (about
ten times faster on the meshes, textures and weights that make up most of the simapp), each
written to a temporary name and renamed into place. Small objects are written by a pool of
threads so that file I/O overlaps reading the next entries; large ones are hashed and
compressed in one pass as they stream by.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, cast

import pygit2

try:
    from isal import isal_zlib as deflate
except ImportError:  # pragma: no cover - isal is a dependency; stay correct without it
    import zlib as deflate  # type: ignore[no-redef]

from sync.errors import ImageError, disk_faults
from sync.filetree import Leaf, Tree
from sync.untrusted import path_bytes

CHUNK = 1 << 20
# blocks streamed out of loose objects: under malloc's mmap threshold, so that threads reuse
# the memory (1 MiB blocks cost ISA-L's inflater ~40 MB of peak memory per thread)
STREAM_BLOCK = 64 << 10
MODE_TREE = 0o040000
LOOSE_COMPRESSION = 1
IN_MEMORY_LIMIT = 16 << 20  # larger files are hashed and compressed as they stream by
IN_FLIGHT_LIMIT = 64 << 20  # bytes queued for compression at most: bounds peak memory
LOOSE_READ_SMALLEST = 32 << 10  # a loose object read by ISA-L rather than libgit2 from here
WRITING_OBJECTS = "writing git objects to"


class ObjectWriter:
    """A ``BlobStore`` writing loose objects in parallel; use as a context manager.

    ``write`` returns the blob id at once; the object is on disk when ``flush()`` (called on
    exit) returns. Objects are content-addressed, so a crash leaves at worst unreferenced ones.
    """

    def __init__(self, repo: pygit2.Repository, workers: int | None = None) -> None:
        self.repo = repo
        self.objects_dir = Path(repo.path) / "objects"
        self.odb = repo.odb
        self._pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2,
                                        thread_name_prefix="blob-writer")
        self._budget = threading.BoundedSemaphore(IN_FLIGHT_LIMIT // CHUNK)
        self._pending: list[Future[None]] = []
        self._queued: set[str] = set()
        self._distrusted: set[str] = set()
        self.written = 0  # new objects
        self.reused = 0  # objects the database already had

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            self.flush()
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)

    # --- BlobStore ---------------------------------------------------------------------------
    def write(self, stream: BinaryIO, size: int) -> str:
        """Hash ``size`` bytes from ``stream``; queue them for writing if they are new."""
        if size <= IN_MEMORY_LIMIT:
            data = _read_exactly(stream, size)
            oid = blob_id(data)
            if self._is_new(oid):
                self._submit(oid, size, lambda: self._write_loose(oid, data))
            return oid
        return self._write_streamed(stream, size)

    def write_bytes(self, data: bytes) -> str:
        """Convenience for small in-memory content (symlink targets, generated files)."""
        oid = blob_id(data)
        if self._is_new(oid):
            self._submit(oid, len(data), lambda: self._write_loose(oid, data))
        return oid

    def distrust(self, oids: Iterable[str]) -> None:
        """Write these objects again when their content comes by, though the database has
        them: they were found damaged (a loose object is replaced; git reads packs first)."""
        self._distrusted.update(oids)

    def flush(self) -> None:
        """Wait until every queued object is on disk; re-raise the first failure."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()
        self._pool.shutdown(wait=True)

    def discard(self) -> None:
        """Stop: cancel what is queued, wait for what runs (its objects stay unreferenced)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- internals ---------------------------------------------------------------------------
    def _is_new(self, oid: str) -> bool:
        if oid in self._queued:
            return False
        if oid not in self._distrusted and pygit2.Oid(hex=oid) in self.odb:
            self.reused += 1
            return False
        self._queued.add(oid)
        return True

    def _submit(self, oid: str, size: int, job: Callable[[], None]) -> None:
        chunks = max(1, min(size // CHUNK, IN_FLIGHT_LIMIT // CHUNK))
        for _ in range(chunks):
            self._budget.acquire()

        def run() -> None:
            try:
                job()
            finally:
                for _ in range(chunks):
                    self._budget.release()

        self._pending.append(self._pool.submit(run))
        self.written += 1
        if len(self._pending) > 4096:  # keep the futures list short on huge imports
            done = [future for future in self._pending if future.done()]
            for future in done:
                future.result()
            self._pending = [future for future in self._pending if not future.done()]

    def _write_streamed(self, stream: BinaryIO, size: int) -> str:
        """Large file: hash and compress in one pass into a temporary object file.

        The id is known only at the end; if the database already has it, the temporary file is
        dropped. Memory stays at one chunk whatever the file's size.
        """
        digest = hashlib.sha1(b"blob %d\0" % size)
        compressor = deflate.compressobj(LOOSE_COMPRESSION)
        with disk_faults(WRITING_OBJECTS, self.objects_dir):
            handle, temp_name = tempfile.mkstemp(dir=self.objects_dir, prefix="tmp_obj_")
        try:
            with disk_faults(WRITING_OBJECTS, self.objects_dir), os.fdopen(handle, "wb") as out:
                out.write(compressor.compress(b"blob %d\0" % size))
                remaining = size
                while remaining:
                    chunk = stream.read(min(CHUNK, remaining))
                    if not chunk:
                        raise ImageError(f"file content ended {remaining} bytes early")
                    digest.update(chunk)
                    out.write(compressor.compress(chunk))
                    remaining -= len(chunk)
                out.write(compressor.flush())
            oid = digest.hexdigest()
            if self._is_new(oid):
                with disk_faults(WRITING_OBJECTS, self.objects_dir):
                    _install(self.objects_dir, temp_name, oid)
                self.written += 1
            else:
                os.unlink(temp_name)
            return oid
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise

    def _write_loose(self, oid: str, data: bytes) -> None:
        write_loose_blob(self.objects_dir, oid, data)


def write_loose_blob(objects_dir: Path, oid: str, data: bytes) -> None:
    """Write blob ``oid`` (``data``) as a loose object: temporary file, then renamed into place.

    A disk fault is a ``DiskFault`` naming the object folder, the temporary file removed.
    """
    compressor = deflate.compressobj(LOOSE_COMPRESSION)
    with disk_faults(WRITING_OBJECTS, objects_dir):
        handle, temp_name = tempfile.mkstemp(dir=objects_dir, prefix="tmp_obj_")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(compressor.compress(b"blob %d\0" % len(data)))
                out.write(compressor.compress(data))
                out.write(compressor.flush())
            _install(objects_dir, temp_name, oid)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise


def _install(objects_dir: Path, temp_name: str, oid: str) -> None:
    """Move a finished temporary object file to its final, read-only place."""
    folder = objects_dir / oid[:2]
    folder.mkdir(exist_ok=True)
    os.chmod(temp_name, 0o444)
    os.replace(temp_name, folder / oid[2:])


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


def copy_loose_blob(folders: Sequence[str], oid: str, out: BinaryIO) -> bool:
    """Write blob ``oid`` into ``out`` from its loose object, inflated a block at a time (a
    large blob is never whole in memory); False when no folder holds it loose (packed).

    ``DamagedObject`` when the object is not a whole blob (zlib's checksum, the header's type
    and size) or not blob ``oid`` (its content hashed as it goes, as libgit2 checks every
    object it reads); what was written into ``out`` by then is for the caller to discard. A
    fault writing ``out`` is raised as it is.
    """
    for folder in folders:
        try:
            handle = open(os.path.join(folder, oid[:2], oid[2:]), "rb")  # noqa: SIM115
        except FileNotFoundError:
            continue
        with handle:
            blocks = _blob_blocks(handle, oid)
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


def has_object(repo: pygit2.Repository, oid: str) -> bool:
    """Whether the object database holds ``oid``."""
    return pygit2.Oid(hex=oid) in repo.odb


def blob_id(data: bytes) -> str:
    """git's blob id of ``data`` (``git hash-object``)."""
    digest = hashlib.sha1(b"blob %d\0" % len(data))
    digest.update(data)  # no concatenation: that would copy every file once more
    return digest.hexdigest()


def write_tree(repo: pygit2.Repository, tree: Tree) -> str:
    """Write a nested ``Tree`` (and its subtrees) into the database; empty folders vanish."""
    entries: dict[bytes, tuple[int, str]] = {}
    for name, node in tree.children.items():
        raw = path_bytes(name)
        if isinstance(node, Tree):
            if _has_leaves(node):
                entries[raw] = (MODE_TREE, write_tree(repo, node))
        else:
            entries[raw] = (node.mode, node.oid)
    return write_raw_tree(repo, entries)


def write_raw_tree(repo: pygit2.Repository, entries: Mapping[bytes, tuple[int, str]]) -> str:
    """A tree object of ``entries`` (name bytes -> mode, id), as git writes it.

    pygit2's TreeBuilder takes only UTF-8 names; git's trees hold any bytes but NUL and ``/``
    (a name that is not UTF-8 arrives here from its surrogate escapes). Entries are sorted as
    git sorts them: by name bytes, a folder's name with a ``/`` after it.
    """
    ordered = sorted(entries.items(),
                     key=lambda item: item[0] + b"/" if item[1][0] == MODE_TREE else item[0])
    data = b"".join(b"%o %s\0%s" % (mode, name, bytes.fromhex(oid))
                    for name, (mode, oid) in ordered)
    return str(repo.odb.write(pygit2.enums.ObjectType.TREE, data))


def read_tree(repo: pygit2.Repository, oid: str) -> Tree:
    """The nested ``Tree`` of a git tree id (blobs are not read)."""
    result = Tree()
    git_tree = repo.get(oid)
    assert isinstance(git_tree, pygit2.Tree)
    for entry in git_tree:
        name = str(entry.name)
        if entry.filemode == pygit2.GIT_FILEMODE_TREE:
            result.children[name] = read_tree(repo, str(entry.id))
        elif entry.filemode != pygit2.GIT_FILEMODE_COMMIT:
            result.children[name] = Leaf(entry.filemode, str(entry.id))
    return result


def _has_leaves(tree: Tree) -> bool:
    return any(not isinstance(node, Tree) or _has_leaves(node) for node in tree.children.values())


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) == size:
        return data
    parts = [data]
    remaining = size - len(data)
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise ImageError(f"file content ended {remaining} bytes early")
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


