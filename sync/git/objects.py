"""Blobs and trees straight into the object database, without touching work tree or index.

Why not ``repo.create_blob`` for every file: libgit2 compresses on the calling thread with the
GIL held, and recompresses content the database already has. Here each blob is hashed first
(SHA-1 runs at >1 GB/s) and only missing objects are compressed — on a thread pool, since zlib
releases the GIL — and written as loose objects in git's own format (zlib level 1, git's default
``core.looseCompression``), each to a temporary name and then renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import pygit2

from sync.errors import ImageError
from sync.image.model import Leaf, Tree

CHUNK = 1 << 20
LOOSE_COMPRESSION = 1
IN_MEMORY_LIMIT = 16 << 20  # larger files are spooled to a temp file while hashed
IN_FLIGHT_LIMIT = 96 << 20  # bytes queued for compression at most: bounds peak memory


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
                self._submit(oid, size, lambda: self._write_loose(oid, [data], size))
            return oid
        return self._write_spooled(stream, size)

    def write_bytes(self, data: bytes) -> str:
        """Convenience for small in-memory content (symlink targets, generated files)."""
        oid = blob_id(data)
        if self._is_new(oid):
            self._submit(oid, len(data), lambda: self._write_loose(oid, [data], len(data)))
        return oid

    def flush(self) -> None:
        """Wait until every queued object is on disk; re-raise the first failure."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()
        self._pool.shutdown(wait=True)

    # --- internals ---------------------------------------------------------------------------
    def _is_new(self, oid: str) -> bool:
        if oid in self._queued:
            return False
        if pygit2.Oid(hex=oid) in self.odb:
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

    def _write_spooled(self, stream: BinaryIO, size: int) -> str:
        """Large file: hash while spooling raw bytes to disk, compress later only if new."""
        digest = hashlib.sha1(b"blob %d\0" % size)
        handle, spool_name = tempfile.mkstemp(dir=self.objects_dir, prefix="spool-")
        try:
            with os.fdopen(handle, "wb") as spool:
                remaining = size
                while remaining:
                    chunk = stream.read(min(CHUNK, remaining))
                    if not chunk:
                        raise ImageError(f"file content ended {remaining} bytes early")
                    digest.update(chunk)
                    spool.write(chunk)
                    remaining -= len(chunk)
            oid = digest.hexdigest()
        except BaseException:
            os.unlink(spool_name)
            raise
        if not self._is_new(oid):
            os.unlink(spool_name)
            return oid

        def job() -> None:
            try:
                with open(spool_name, "rb") as raw:
                    self._write_loose(oid, iter(lambda: raw.read(CHUNK), b""), size=size)
            finally:
                os.unlink(spool_name)

        self._submit(oid, min(size, IN_FLIGHT_LIMIT), job)
        return oid

    def _write_loose(self, oid: str, chunks: Iterable[bytes], size: int) -> None:
        folder = self.objects_dir / oid[:2]
        final = folder / oid[2:]
        if final.exists():
            return
        folder.mkdir(exist_ok=True)
        compressor = zlib.compressobj(LOOSE_COMPRESSION)
        handle, temp_name = tempfile.mkstemp(dir=folder, prefix="tmp_obj_")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(compressor.compress(b"blob %d\0" % size))
                for part in chunks:
                    out.write(compressor.compress(part))
                out.write(compressor.flush())
            os.chmod(temp_name, 0o444)
            os.replace(temp_name, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise


def blob_id(data: bytes) -> str:
    """git's blob id of ``data`` (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_tree(repo: pygit2.Repository, tree: Tree) -> str:
    """Write a nested ``Tree`` (and its subtrees) into the database; empty folders vanish."""
    builder = repo.TreeBuilder()
    for name, node in tree.children.items():
        if isinstance(node, Tree):
            if not _has_leaves(node):
                continue
            builder.insert(name, pygit2.Oid(hex=write_tree(repo, node)), pygit2.GIT_FILEMODE_TREE)
        else:
            builder.insert(name, pygit2.Oid(hex=node.oid), node.mode)
    return str(builder.write())


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


