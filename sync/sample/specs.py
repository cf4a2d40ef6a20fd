"""Descriptions of image content for the sample's writers: entries, layers, images, and streams.

Describe a layer as a list of entries (``File``, ``Dir``, ``Symlink``, ``Fifo``, ``Whiteout``; any
object with a ``member()`` method is an entry, so tests add their own kinds), an image as an
``ImageSpec`` of ``LayerSpec``s. Content may be a ``Stream`` that produces its bytes on demand,
so a multi-gigabyte image never has to fit in memory. Metadata is fixed (mtime 0, owner 0:0)
unless an entry says otherwise, so what is written is deterministic.
"""

from __future__ import annotations

import functools
import hashlib
import io
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, Protocol

Compression = Literal["none", "gzip", "gzip-multi", "zstd", "zstd-multi"]
DEFAULT_CREATED = "2024-01-01T00:00:00Z"
CHUNK = 1 << 20  # bytes per read when content streams


@dataclass(frozen=True)
class Stream:
    """``size`` bytes produced by ``chunks()``, called afresh each time the content is written."""

    size: int
    chunks: Callable[[], Iterable[bytes]]

    @classmethod
    def pattern(cls, size: int, seed: bytes = b"simapp") -> Stream:
        """``size`` bytes of deterministic, poorly compressible data; each seed gives other
        bytes. Cheap enough to describe hundreds of thousands of files."""
        offset = int.from_bytes(hashlib.sha256(seed).digest()[:4], "big") % CHUNK

        def chunks() -> Iterator[bytes]:
            noise = _noise()
            block = noise[offset:] + noise[:offset]  # rotated: other seeds, other bytes
            left = size
            while left > 0:
                yield block[: min(left, len(block))]
                left -= len(block)

        return cls(size, chunks)

    @classmethod
    def zeros(cls, size: int) -> Stream:
        """``size`` zero bytes (highly compressible)."""

        def chunks() -> Iterator[bytes]:
            left = size
            while left > 0:
                yield bytes(min(left, CHUNK))
                left -= CHUNK

        return cls(size, chunks)


@functools.lru_cache(maxsize=1)
def _noise() -> bytes:
    """1 MiB of hash output: incompressible, and the same on every run."""
    return b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(CHUNK // 32))


class Entry(Protocol):
    """One member of a layer tar: anything that can describe itself as a tar member."""

    def member(self) -> tuple[tarfile.TarInfo, BinaryIO | None]:
        """The member's header, and its content for regular files (None otherwise)."""
        ...


@dataclass(frozen=True)
class Meta:
    """Metadata every entry may vary; none of it may change the flattened tree."""

    mtime: int = field(default=0, kw_only=True)
    uid: int = field(default=0, kw_only=True)
    gid: int = field(default=0, kw_only=True)

    def stamp(self, info: tarfile.TarInfo) -> tarfile.TarInfo:
        """``info`` with this entry's times and owners (and no owner names)."""
        info.mtime = self.mtime
        info.uid, info.gid = self.uid, self.gid
        info.uname = info.gname = ""
        return info


@dataclass(frozen=True)
class File(Meta):
    """A regular file."""

    path: str
    content: bytes | Stream = b""
    mode: int = 0o644

    def member(self) -> tuple[tarfile.TarInfo, BinaryIO | None]:
        info = tarfile.TarInfo(self.path)
        info.mode = self.mode
        content: BinaryIO
        if isinstance(self.content, Stream):
            info.size = self.content.size
            content = io.BufferedReader(StreamReader(self.content), CHUNK)
        else:
            info.size = len(self.content)
            content = io.BytesIO(self.content)
        return self.stamp(info), content


@dataclass(frozen=True)
class Dir(Meta):
    """A directory."""

    path: str
    mode: int = 0o755

    def member(self) -> tuple[tarfile.TarInfo, BinaryIO | None]:
        info = tarfile.TarInfo(self.path)
        info.type, info.mode = tarfile.DIRTYPE, self.mode
        return self.stamp(info), None


@dataclass(frozen=True)
class Symlink(Meta):
    """A symbolic link to ``target`` (kept verbatim)."""

    path: str
    target: str

    def member(self) -> tuple[tarfile.TarInfo, BinaryIO | None]:
        info = tarfile.TarInfo(self.path)
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, self.target, 0o777
        return self.stamp(info), None


@dataclass(frozen=True)
class Fifo(Meta):
    """A named pipe."""

    path: str

    def member(self) -> tuple[tarfile.TarInfo, BinaryIO | None]:
        info = tarfile.TarInfo(self.path)
        info.type = tarfile.FIFOTYPE
        return self.stamp(info), None


@dataclass(frozen=True)
class Whiteout(Meta):
    """Removes ``path`` (and what is below it) of lower layers: writes ``dir/.wh.name``."""

    path: str

    def member(self) -> tuple[tarfile.TarInfo, BinaryIO | None]:
        parent, _, name = self.path.rpartition("/")
        info = tarfile.TarInfo(f"{parent}/.wh.{name}" if parent else f".wh.{name}")
        return self.stamp(info), io.BytesIO(b"")


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its entries in archive order, and how the blob is compressed."""

    entries: Sequence[Entry]
    compression: Compression = "gzip"


@dataclass(frozen=True)
class ImageSpec:
    """One image: layers bottom first, tags ("name:tag" for Docker; OCI ref names), platform."""

    layers: Sequence[LayerSpec]
    tags: tuple[str, ...] = ("sample:latest",)
    platform: str = "linux/amd64"
    created: str = DEFAULT_CREATED


@dataclass(frozen=True)
class BuiltLayer:
    """A layer blob as written."""

    digest: str  # of the blob (compressed) bytes
    diff_id: str  # of the uncompressed tar
    size: int  # blob bytes
    compression: Compression
    media_type: str


@dataclass(frozen=True)
class BuiltImage:
    """What was written for one image, for tests to compare with what the reader reports."""

    config_digest: str
    manifest_digest: str
    layers: tuple[BuiltLayer, ...]
    tags: tuple[str, ...]
    index_digest: str | None = None  # the image index holding it, when written with index=True


class StreamReader(io.RawIOBase):
    """A file object over a ``Stream``; checks that it produces exactly ``size`` bytes."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.chunks = iter(stream.chunks())
        self.pending = b""
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            chunk = next(self.chunks, None)
            if chunk is None:
                if self.produced != self.stream.size:
                    raise ValueError(f"stream produced {self.produced} bytes, "
                                     f"not {self.stream.size}")
                return 0
            self.pending = bytes(chunk)
            self.produced += len(chunk)
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count
