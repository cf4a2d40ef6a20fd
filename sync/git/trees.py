"""Reading git trees by path and updating them incrementally.

The series engine works on a base tree plus a handful of changed paths. ``TreeSource`` answers
"what is at this path" without loading the whole tree, and ``update_tree`` writes a new tree from
a base and a mapping of changed paths, rewriting only the directories on the changed paths and
reusing every other subtree as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from sync.git.loose import object_folders, read_loose_blob
from sync.git.mapped import Told, let_go
from sync.git.objects import blob_id, write_loose_blob, write_raw_tree
from sync.untrusted import path_bytes

MODE_TREE = 0o040000
LARGE_BLOB = 1 << 20
CHUNK = 1 << 20
MODE_SUBMODULE = 0o160000
RECENT_LIMIT = 8 << 20  # bytes of blobs a RecentBlobs holds


@dataclass(frozen=True)
class Entry:
    """A non-directory in a tree: file, executable or symlink, by git mode and blob id."""

    mode: int
    oid: str


class RecentBlobs:
    """The blobs read last (``limit`` bytes at most), for readers that ask for one again soon:
    the rebase's two chains read each patched file's base one after the other, and mostly it
    is the same blob (upstream did not change the file)."""

    def __init__(self, repo: pygit2.Repository, limit: int = RECENT_LIMIT) -> None:
        self.repo, self.limit = repo, limit
        self._held: dict[str, bytes] = {}
        self._size = 0
        self._folders = object_folders(repo)

    def read(self, oid: str) -> bytes:
        """The content of blob ``oid``, read from the database unless it was read lately (a
        large loose one inflated by ISA-L: ``read_loose_blob``)."""
        data = self._held.get(oid)
        if data is None:
            data = read_loose_blob(self._folders, oid)
            if data is None:
                data = read_blob(self.repo, oid)
            if len(data) <= self.limit:
                self._held[oid] = data
                self._size += len(data)
                while self._size > self.limit:  # the oldest first (a dict keeps the order)
                    self._size -= len(self._held.pop(next(iter(self._held))))
        return data


class TreeSource:
    """One tree (or nothing, for an empty tree), looked up by path; blobs read on demand
    (through ``recent`` when given: sources that share one read a blob once)."""

    def __init__(self, repo: pygit2.Repository, tree: str | None,
                 recent: RecentBlobs | None = None) -> None:
        self.repo = repo
        self.oid = tree
        self.recent = recent
        found = repo.get(tree) if tree else None
        self._tree = found if isinstance(found, pygit2.Tree) else None

    def _lookup(self, path: str) -> pygit2.Object | None:
        if self._tree is None:
            return None
        try:
            return self._tree[path]
        except KeyError:
            return None

    def entry(self, path: str) -> Entry | None:
        """The file or symlink at ``path``; None when absent or a directory."""
        found = self._lookup(path)
        if found is None or found.filemode in (MODE_TREE, MODE_SUBMODULE):
            return None
        return Entry(int(found.filemode), str(found.id))

    def is_dir(self, path: str) -> bool:
        found = self._lookup(path)
        return found is not None and found.filemode == MODE_TREE

    def subtree(self, path: str) -> str | None:
        """The id of the directory at ``path``, if there is one."""
        found = self._lookup(path)
        return str(found.id) if found is not None and found.filemode == MODE_TREE else None

    def read(self, oid: str) -> bytes:
        return self.recent.read(oid) if self.recent is not None else read_blob(self.repo, oid)

    def files(self, prefix: str = "") -> Iterator[tuple[str, Entry]]:
        """Every file below ``prefix`` (a directory path, "" for all), in tree order."""
        start = self._tree if not prefix else self._lookup(prefix)
        if start is None or not isinstance(start, pygit2.Tree):
            return
        yield from _walk(start, prefix + "/" if prefix else "")


def _walk(tree: pygit2.Tree, prefix: str) -> Iterator[tuple[str, Entry]]:
    for item in tree:
        if item.filemode == MODE_TREE:
            assert isinstance(item, pygit2.Tree)
            yield from _walk(item, f"{prefix}{item.name}/")
        elif item.filemode != MODE_SUBMODULE:
            yield f"{prefix}{item.name}", Entry(int(item.filemode), str(item.id))


def read_blob(repo: pygit2.Repository, oid: str) -> bytes:
    """The content of blob ``oid``."""
    kind, data = repo.odb.read(oid)
    if kind != pygit2.enums.ObjectType.BLOB:
        raise ValueError(f"{oid} is not a blob")
    return bytes(data)


def blob_size(repo: pygit2.Repository, oid: str) -> int:
    """The size in bytes of blob ``oid``."""
    blob = repo.get(oid)
    return int(blob.size) if isinstance(blob, pygit2.Blob) else 0


def blob_is_binary(repo: pygit2.Repository, oid: str) -> bool:
    """Whether git's diff would write blob ``oid`` as a binary patch (libgit2's heuristic)."""
    blob = repo.get(oid)
    return isinstance(blob, pygit2.Blob) and bool(blob.is_binary)


@dataclass(frozen=True)
class StoredBlobs:
    """Blobs of ``repo`` by id: their size and content (``image.gitfiles.BlobReader``)."""

    repo: pygit2.Repository

    def size(self, oid: str) -> int:
        """The size in bytes of blob ``oid``."""
        return blob_size(self.repo, oid)

    def read(self, oid: str) -> bytes:
        """The content of blob ``oid``."""
        return read_blob(self.repo, oid)


def has_blob(repo: pygit2.Repository, oid: str) -> bool:
    """Whether the object database holds object ``oid`` (a full id); nothing is read."""
    return pygit2.Oid(hex=oid) in repo.odb


def find_blob(repo: pygit2.Repository, prefix: str) -> bytes | None:
    """The content of the blob whose id starts with ``prefix`` (an ``index`` line), if present."""
    if len(prefix) < 7 or set(prefix) <= {"0"}:
        return None
    try:
        found = repo.get(prefix) if len(prefix) == 40 else repo.revparse_single(prefix)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return found.data if isinstance(found, pygit2.Blob) else None


def write_blob(repo: pygit2.Repository, data: bytes) -> str:
    """Store ``data`` as a blob (only when the database lacks it) and return its id."""
    oid = blob_id(data)
    if pygit2.Oid(hex=oid) not in repo.odb:
        if len(data) > LARGE_BLOB:  # libgit2's deflate is slow on large content: ISA-L's
            write_loose_blob(Path(repo.path) / "objects", oid, data)
        else:
            try:
                repo.create_blob(data)
            except (pygit2.GitError, OSError):
                # libgit2 may fail a write without saying why (a full disk reads "no error"):
                # our own writer says it, as a DiskFault, or succeeds
                write_loose_blob(Path(repo.path) / "objects", oid, data)
    return oid


def write_blob_parts(repo: pygit2.Repository, parts: Sequence[bytes | memoryview],
                     progress: Told | None = None) -> str:
    """``write_blob`` for content given as parts, never joined into one copy: hashed part by
    part, then (only when the database lacks it) compressed as the parts stream by.

    ``progress(done, in all)`` is told as each MiB is hashed, and again as it is stored (the
    two passes count as one each: ``in all`` is twice the size).
    """
    size = sum(len(part) for part in parts)
    told = _Counted(progress, 2 * size)
    digest = hashlib.sha1(b"blob %d\0" % size)
    for part in parts:
        view = memoryview(part)
        for at in range(0, len(view), CHUNK):
            block = view[at:at + CHUNK]
            digest.update(block)
            let_go(view)  # a view of a mapped file: its pages are read again if needed
            told(len(block))
    oid = digest.hexdigest()
    if pygit2.Oid(hex=oid) not in repo.odb:
        from sync.git.objects import ObjectWriter
        with ObjectWriter(repo, workers=1) as writer:
            writer.write(_PartsReader(parts, told), size)  # type: ignore[arg-type]
    return oid


@dataclass
class _Counted:
    """Counts bytes done for a ``progress(done, in all)`` callback (if any)."""

    progress: Told | None
    total: int
    done: int = 0

    def __call__(self, count: int) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total)


class _PartsReader:
    """The ``read(n)`` of a binary stream over parts, each read copying at most ``n`` bytes."""

    def __init__(self, parts: Sequence[bytes | memoryview],
                 told: Callable[[int], None] = lambda _count: None) -> None:
        self._parts = iter(parts)
        self._told = told
        self._current = memoryview(b"")

    def read(self, size: int) -> bytes:
        while not self._current:
            part = next(self._parts, None)
            if part is None:
                return b""
            self._current = memoryview(part)
        taken, self._current = self._current[:size], self._current[size:]
        data = bytes(taken)
        let_go(taken)
        self._told(len(data))
        return data


class DirectBlobWriter:
    """Stores each blob at once (``ObjectWriter`` batches; use this when reading right after)."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo

    def write_bytes(self, data: bytes) -> str:
        return write_blob(self.repo, data)


def empty_tree(repo: pygit2.Repository) -> str:
    return str(repo.TreeBuilder().write())


def update_tree(repo: pygit2.Repository, base: str | None,
                changes: Mapping[str, Entry | None],
                progress: Callable[[int], None] | None = None) -> str:
    """Write ``base`` with ``changes`` applied (path -> new entry, or None to remove).

    An entry whose mode is ``MODE_TREE`` grafts a whole directory. Directories left empty
    disappear. Returns the new root tree id. ``progress`` gets a count for each directory
    written (``folders_on_paths`` of them).
    """
    root = _update(repo, base, dict(changes), progress)
    return root if root is not None else empty_tree(repo)


def graft(repo: pygit2.Repository, base: str, source: str, folders: Sequence[str]) -> str:
    """``base`` with each of ``folders`` replaced by the one in tree ``source`` (removed where
    ``source`` has none)."""
    found = TreeSource(repo, source)
    changes: dict[str, Entry | None] = {}
    for folder in folders:
        subtree = found.subtree(folder)
        changes[folder] = Entry(MODE_TREE, subtree) if subtree else None
    return update_tree(repo, base, changes)


def folders_on_paths(paths: Iterable[str]) -> int:
    """How many directories ``update_tree`` writes for changes at ``paths`` (the root too)."""
    return 1 + len({path[:index] for path in paths
                    for index, char in enumerate(path) if char == "/"})


def _update(repo: pygit2.Repository, base: str | None, changes: dict[str, Entry | None],
            progress: Callable[[int], None] | None = None) -> str | None:
    if progress is not None:
        progress(1)
    builder = repo.TreeBuilder(base) if base else repo.TreeBuilder()
    raw: dict[bytes, tuple[int, str]] = {}
    direct: dict[str, Entry | None] = {}
    nested: dict[str, dict[str, Entry | None]] = {}
    for path, entry in changes.items():
        head, _, rest = path.partition("/")
        if rest:
            nested.setdefault(head, {})[rest] = entry
        else:
            direct[head] = entry
    for name, entry in direct.items():
        if entry is None:
            if builder.get(name) is not None:
                builder.remove(name)
        elif name not in nested:
            _insert(builder, raw, name, entry.oid, entry.mode)
    for name, sub_changes in nested.items():
        existing = builder.get(name)
        sub_base = None
        grafted = direct.get(name)
        if grafted is not None and grafted.mode == MODE_TREE:
            sub_base = grafted.oid
        elif existing is not None and existing.filemode == MODE_TREE and name not in direct:
            sub_base = str(existing.id)
        new = _update(repo, sub_base, sub_changes, progress)
        if new is None:
            if builder.get(name) is not None:
                builder.remove(name)
        else:
            _insert(builder, raw, name, new, MODE_TREE)
    if raw:
        return _with_raw_names(repo, str(builder.write()), raw)
    if len(builder) == 0:
        return None
    return str(builder.write())


def _insert(builder: pygit2.TreeBuilder, raw: dict[bytes, tuple[int, str]], name: str,
            oid: str, mode: int) -> None:
    """Insert into ``builder``, or into ``raw`` a name pygit2 cannot take (not UTF-8)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        if builder.get(name) is not None:
            builder.remove(name)
        raw[path_bytes(name)] = (mode, oid)
        return
    builder.insert(name, pygit2.Oid(hex=oid), mode)


def _with_raw_names(repo: pygit2.Repository, base: str,
                    extra: Mapping[bytes, tuple[int, str]]) -> str:
    """Tree ``base`` plus ``extra`` (name bytes -> mode, id), for names TreeBuilder refuses."""
    tree = repo.get(base)
    assert isinstance(tree, pygit2.Tree)
    entries = {bytes(item.raw_name or b""): (int(item.filemode), str(item.id)) for item in tree}
    return write_raw_tree(repo, {**entries, **extra})
