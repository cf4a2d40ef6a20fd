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
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import pygit2

try:
    from isal import isal_zlib as deflate
except ImportError:  # pragma: no cover - isal is a dependency; stay correct without it
    import zlib as deflate  # type: ignore[no-redef]

from sync.errors import ImageError, disk_faults
from sync.filetree import Leaf, Tree
from sync.untrusted import path_bytes

CHUNK = 1 << 20
MODE_TREE = 0o040000
LOOSE_COMPRESSION = 1
IN_MEMORY_LIMIT = 16 << 20  # larger files are hashed and compressed as they stream by
IN_FLIGHT_LIMIT = 64 << 20  # bytes queued for compression at most: bounds peak memory
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


