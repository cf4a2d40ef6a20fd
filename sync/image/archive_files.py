"""Random access to the files of an image archive (an OCI layout directory, a tar on disk).

``DirFiles`` and ``TarFiles`` find a file by name (a tar is indexed once; symlinks and hardlinks
between its members are followed) and open it on its own, so a layer streams straight from the
archive and may be opened again. ``LayoutBlobs`` sees those files as an OCI layout's
content-addressed ``blobs/<algorithm>/<hex>``: the ``BlobReader`` of ``oci:`` and
``oci-archive:`` sources. Documents are read whole only up to ``oci.MAX_DOCUMENT`` bytes.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from sync.errors import ImageError
from sync.image.blobs import Opener
from sync.image.layer_tar import open_archive_tar
from sync.image.oci import (
    MAX_DOCUMENT,
    OCI_INDEX,
    Descriptor,
    digest_of,
    index_entries,
    parse_document,
)
from sync.image.streams import GZIP_MAGIC, ZSTD_MAGIC, Bounded

HINT = "the archive is truncated, corrupt or not an image archive; save or copy the image again"
_MAX_LINKS = 16


class ArchiveFiles(Protocol):
    """The files of an image archive, by name ("manifest.json", "blobs/sha256/<hex>")."""

    where: str

    def exists(self, name: str) -> bool: ...

    def read(self, name: str) -> bytes:
        """A small file (a manifest, a config) whole; a large one is an error."""
        ...

    def size(self, name: str) -> int: ...

    def opener(self, name: str) -> Opener:
        """Opens the file on its own; a missing file is an error now, not when opened."""
        ...


def blob_name(digest: str) -> str:
    """Where an OCI layout keeps the blob ``digest`` (a valid digest)."""
    algorithm, _, value = digest.partition(":")
    return f"blobs/{algorithm}/{value}"


class LayoutBlobs:
    """An OCI image layout's blobs, by descriptor, checked against their digests and sizes."""

    def __init__(self, files: ArchiveFiles) -> None:
        self.files = files
        self.where = files.where
        self.hint = HINT

    def index(self) -> list[Descriptor]:
        """The entries of the layout's ``index.json``."""
        where = f"{self.where}: index.json"
        return index_entries(parse_document(self.files.read("index.json"), OCI_INDEX, where,
                                            HINT), HINT)

    def describe(self, digest: str) -> str:
        return f"{self.where}: {blob_name(digest)}"

    def document(self, descriptor: Descriptor) -> bytes:
        return self._verified(descriptor, "manifest")

    def config(self, descriptor: Descriptor) -> bytes:
        return self._verified(descriptor, "config")

    def opener(self, descriptor: Descriptor, where: str) -> Opener:
        return self.files.opener(blob_name(descriptor.digest))

    def _verified(self, descriptor: Descriptor, what: str) -> bytes:
        name = blob_name(descriptor.digest)
        data = self.files.read(name)
        actual = digest_of(data, descriptor.digest.partition(":")[0])
        if actual != descriptor.digest:
            raise ImageError(f"{self.where}: {name}: the {what} does not match its digest "
                             f"(expected {descriptor.digest}, got {actual})", hint=HINT)
        if descriptor.size is not None and descriptor.size != len(data):
            raise ImageError(f"{self.where}: {name}: the {what} is {len(data)} bytes, "
                             f"its descriptor says {descriptor.size}", hint=HINT)
        return data


class DirFiles:
    """The files of an OCI layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.root / name)  # what is there is judged when it is read

    def size(self, name: str) -> int:
        return self._stat(name).st_size

    def read(self, name: str) -> bytes:
        if self._stat(name).st_size > MAX_DOCUMENT:
            raise ImageError(f"{self.where}: {name} is too large for a manifest", hint=HINT)
        with self.opener(name)() as stream:
            data = b"".join(iter(lambda: stream.read(MAX_DOCUMENT + 1), b""))
        if len(data) > MAX_DOCUMENT:  # it grew after the check
            raise ImageError(f"{self.where}: {name} is too large for a manifest", hint=HINT)
        return data

    def opener(self, name: str) -> Opener:
        path = self.root / name
        self._stat(name)

        @contextmanager
        def open_file() -> Iterator[BinaryIO]:
            # O_NONBLOCK: a FIFO swapped in after the check cannot hang the open; fstat then
            # judges what was really opened
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as error:
                raise ImageError(f"{self.where}: cannot read {name}: {error}") from None
            with os.fdopen(fd, "rb", buffering=0) as file:
                _regular(os.fstat(fd), self.where, name)
                os.set_blocking(fd, True)
                yield cast(BinaryIO, file)

        return open_file

    def _stat(self, name: str) -> os.stat_result:
        """The stat of ``name`` (links followed), which must be a regular file; never opened."""
        try:
            found = os.stat(self.root / name)
        except FileNotFoundError:
            raise ImageError(f"{self.where}: {name} is missing", hint=HINT) from None
        except OSError as error:
            raise ImageError(f"{self.where}: cannot read {name}: {error}") from None
        return _regular(found, self.where, name)


def _regular(found: os.stat_result, where: str, name: str) -> os.stat_result:
    """``found`` if it is a regular file; a FIFO, device, socket or folder is an error."""
    if not stat.S_ISREG(found.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(found.st_mode) else "a device"
                if stat.S_ISCHR(found.st_mode) or stat.S_ISBLK(found.st_mode) else "a socket"
                if stat.S_ISSOCK(found.st_mode) else "a folder"
                if stat.S_ISDIR(found.st_mode) else "not a regular file")
        raise ImageError(f"{where}: {name} is {kind}, not a regular file; refusing to open it",
                         hint="an OCI layout holds only regular files (blobs, index.json, "
                              "oci-layout)")
    return found


class TarFiles:
    """The members of a tar archive on disk, indexed once, each readable on its own."""

    def __init__(self, path: Path, members: dict[str, tarfile.TarInfo]) -> None:
        self.path = path
        self.where = str(path)
        self.members = members

    @classmethod
    @contextmanager
    def open(cls, path: Path) -> Iterator[TarFiles]:
        """Index the archive at ``path``; a compressed or truncated archive is an error."""
        try:
            with path.open("rb") as file:
                members = _index(file, path)
        except FileNotFoundError:
            raise ImageError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"{path}: is a directory", hint="use oci:DIR for a layout directory"
                             ) from None
        except tarfile.TarError as error:
            raise ImageError(f"{path}: not a readable tar archive ({error})", hint=HINT) from None
        yield cls(path, members)

    def _member(self, name: str) -> tarfile.TarInfo:
        info = self.members.get(name)
        for _ in range(_MAX_LINKS):
            if info is None:
                raise ImageError(f"{self.where}: {name} is missing from the archive", hint=HINT)
            if info.issym():
                target = posixpath.normpath(
                    posixpath.join(posixpath.dirname(info.name.removeprefix("./")),
                                   info.linkname))
                info = self.members.get(target)
            elif info.islnk():
                info = self.members.get(posixpath.normpath(info.linkname.removeprefix("./")))
            elif info.isfile():
                return info
            else:
                raise ImageError(f"{self.where}: {name} is not a file", hint=HINT)
        raise ImageError(f"{self.where}: {name}: too many links", hint=HINT)

    def exists(self, name: str) -> bool:
        try:
            self._member(name)
        except ImageError:
            return False
        return True

    def size(self, name: str) -> int:
        return self._member(name).size

    def read(self, name: str) -> bytes:
        info = self._member(name)
        if info.size > MAX_DOCUMENT:
            raise ImageError(f"{self.where}: {name} is too large for a manifest", hint=HINT)
        with self.opener(name)() as stream:
            return stream.read(info.size)

    def opener(self, name: str) -> Opener:
        info = self._member(name)
        short = f"{self.where}: {name}: ends early (truncated)"

        @contextmanager
        def open_member() -> Iterator[BinaryIO]:
            with self.path.open("rb", buffering=0) as file:
                file.seek(info.offset_data)
                yield cast(BinaryIO, Bounded(file, info.size, short, HINT))

        return open_member


def _index(file: BinaryIO, path: Path) -> dict[str, tarfile.TarInfo]:
    """Every member of the tar ``file`` by its normalized name, checked to be all there."""
    head = file.read(4)
    if head.startswith(GZIP_MAGIC) or head.startswith(ZSTD_MAGIC):
        raise ImageError(f"{path}: the archive itself is compressed",
                         hint="decompress it first (gunzip / unzstd), then retry")
    size = file.seek(0, 2)
    file.seek(0)
    members: dict[str, tarfile.TarInfo] = {}
    with open_archive_tar(file, str(path)) as tar:
        for info in tar:
            name = posixpath.normpath(info.name.removeprefix("./"))
            if "\0" in name or info.sparse is not None:
                raise ImageError(f"{path}: member {name!r} is " + (
                    "a sparse file" if info.sparse is not None else "named with a NUL byte"),
                    hint=HINT)
            if info.isfile() and info.offset_data + info.size > size:
                raise ImageError(f"{path}: {name} is cut short (truncated archive)", hint=HINT)
            members[name] = info
        end = tar.offset
    # tarfile takes a missing header for the end: only a zero block really is one
    file.seek(end)
    if file.read(tarfile.BLOCKSIZE) != bytes(tarfile.BLOCKSIZE):
        raise ImageError(f"{path}: the archive ends early or is corrupt after byte {end} "
                         "(truncated?)", hint=HINT)
    return members
