"""A tree being patched: a base git tree plus the files changed so far, held in memory.

Only the files a patch touches are ever read (lazily, once); the rest of the tree stays in the
object database until the result is written back as one tree at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sync.git.objects import blob_id
from sync.git.trees import Entry, TreeSource
from sync.series.parse import split_lines


class Content:
    """File bytes, split into lines (or joined back) once, on first use.

    Made from bytes, from lines, or from a ``loader`` (a blob still in the object database:
    read only if someone asks for the bytes).
    """

    __slots__ = ("_data", "_lines", "_loader")

    def __init__(self, data: bytes | None = None, lines: list[bytes] | None = None,
                 loader: Callable[[], bytes] | None = None) -> None:
        assert data is not None or lines is not None or loader is not None
        self._data = data
        self._lines = lines
        self._loader = loader

    @property
    def data(self) -> bytes:
        if self._data is None:
            if self._lines is not None:
                self._data = b"".join(self._lines)
            else:
                assert self._loader is not None
                self._data = self._loader()
        return self._data

    @property
    def lines(self) -> list[bytes]:
        """The lines (shared: callers must not modify the list)."""
        if self._lines is None:
            self._lines = split_lines(self.data)
        return self._lines

    def compact(self) -> None:
        """Keep at most one form of the bytes, and none that the database can give again.

        Content read from a stored blob is dropped (read again if asked for); other content
        keeps its bytes joined, without the line list (an object per line costs several
        times the text).
        """
        if self._loader is not None:
            self._data = self._lines = None
        elif self._lines is not None:
            if self._data is None:
                self._data = b"".join(self._lines)
            self._lines = None

    @property
    def loaded(self) -> bool:
        """Whether the bytes are in memory (a loader not yet called: False)."""
        return self._data is not None or self._lines is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Content) and (self is other or self.data == other.data)

    def __hash__(self) -> int:
        return hash(self.data)

    def is_binary(self) -> bool:
        return b"\0" in self.data[:8000]


@dataclass(frozen=True)
class File:
    """A file in the overlay: git mode and content; ``oid`` when known to be stored.

    Two files with known ids compare by id and mode: their bytes are not read for that; nor
    are a stored file's bytes read back to compare it with one in memory (the latter's id is
    computed instead).
    """

    mode: int
    content: Content
    oid: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, mode: int, data: bytes) -> File:
        return cls(mode, Content(data))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, File):
            return NotImplemented
        if self.mode != other.mode:
            return False
        if self.oid is not None and other.oid is not None:
            return self.oid == other.oid
        stored, held = (self, other) if self.oid is not None else (other, self)
        if stored.oid is not None and not stored.content.loaded and held.content.loaded:
            return blob_id(held.content.data) == stored.oid
        return self.content == other.content

    def __hash__(self) -> int:
        return hash((self.mode, self.content))


class Overlay:
    """``source`` plus in-memory changes; ``get`` and ``set`` work on repository paths."""

    def __init__(self, source: TreeSource) -> None:
        self.source = source
        self._changes: dict[str, File | None] = {}
        self._loaded: dict[str, File | None] = {}
        self._recent: set[str] = set()  # paths read or changed since ``release``
        self._files_below: dict[str, int] = {}  # folder -> changed files (not removed) in it

    def get(self, path: str) -> File | None:
        if path in self._changes:
            return self._changes[path]
        if path not in self._loaded:
            entry = self.source.entry(path)
            self._loaded[path] = None if entry is None else File(
                entry.mode, Content(loader=self._reader(entry.oid)), entry.oid)
            self._recent.add(path)
        return self._loaded[path]

    def _reader(self, oid: str) -> Callable[[], bytes]:
        return lambda: self.source.read(oid)

    def set(self, path: str, file: File | None) -> None:
        self.update({path: file})

    def update(self, files: Mapping[str, File | None]) -> None:
        for path, file in files.items():
            self._loaded.pop(path, None)  # the base file is not read again once changed
            was = self._changes.get(path) is not None
            if was != (file is not None):
                self._count_in_folders(path, 1 if file is not None else -1)
        self._changes.update(files)
        self._recent.update(files)

    def _count_in_folders(self, path: str, step: int) -> None:
        at = path.rfind("/")
        while at > 0:
            folder = path[:at]
            self._files_below[folder] = self._files_below.get(folder, 0) + step
            at = path.rfind("/", 0, at)

    def release(self) -> None:
        """Hold less between patches: the files read or changed since the last call keep
        their bytes once (see ``Content.compact``), so memory follows the changed files'
        size, not that of every line list a patch needed."""
        for path in self._recent:
            file = self._changes[path] if path in self._changes else self._loaded.get(path)
            if file is not None:
                file.content.compact()
        self._recent.clear()

    @property
    def changes(self) -> Mapping[str, File | None]:
        """Changed paths (None: removed), relative to the base tree."""
        return self._changes

    def blocked(self, path: str) -> str | None:
        """Why a file cannot be created at ``path`` (a file above it, a folder at it), or None."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            ancestor = "/".join(parts[:depth])
            if self.get(ancestor) is not None:
                return f"{ancestor} is a file"
        if self._files_below.get(path):  # counted as changes come: no walk over all of them
            return f"{path} is a folder"
        if self.source.is_dir(path) and any(
                self._changes.get(inner, True) is not None
                for inner, _ in self.source.files(path)):
            return f"{path} is a folder"
        return None

    def entries(self, store: BlobWriter,
                progress: Callable[[int], None] | None = None) -> dict[str, Entry | None]:
        """The changes as tree entries, storing new content through ``store``; ``progress``
        gets a count for each path done."""
        result: dict[str, Entry | None] = {}
        for path, file in self._changes.items():
            result[path] = None if file is None else Entry(file.mode, store_file(store, file))
            if progress is not None:
                progress(1)
        return result

    def paths(self) -> Iterable[str]:
        return self._changes.keys()


class BlobWriter(Protocol):
    """What the overlay needs to store content (``sync.git.objects.ObjectWriter`` is one)."""

    def write_bytes(self, data: bytes) -> str:
        """Store ``data`` as a blob; return its id."""
        ...


def store_file(store: BlobWriter, file: File) -> str:
    """The blob id of ``file``, storing its content when not known to be stored."""
    if file.oid is not None:
        return file.oid
    oid = store.write_bytes(file.content.data)
    object.__setattr__(file, "oid", oid)  # a cache: the id follows from the content
    return oid
