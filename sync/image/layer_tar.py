"""Read the members of one layer's tar stream, front to back, once, in constant memory.

``TarMembers`` yields each member's header and streams a regular file's content straight from
the (decompressed) layer stream; nothing is extracted or buffered whole. Headers are parsed by a
lean parser for the fields the flattener uses, tarfile's own for anything unusual. A stream that
ends without tar's end-of-archive marker is an error, as is one over the layer caps: its size
(sparse holes included) and how far it expanded from the compressed bytes read (``Limits``).
GNU sparse members are read as ``sparse`` describes.
"""

from __future__ import annotations

import io
import re
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, cast

from sync.errors import ImageError, UnsafeArchiveError
from sync.image.model import Limits
from sync.image.safety import display
from sync.image.sparse import (
    SparseContent,
    SparseError,
    check_numbers,
    is_sparse,
    sparse_map,
)
from sync.image.streams import CHUNK, Bounded, too_expanded, too_large

_TAR_HINT = "the archive or layer is truncated or corrupt; fetch or save the image again"
# PAX extended and GNU long-name headers are read whole: real ones hold a long path or a few
# xattrs. The cap is checked before they are read, and a PAX header is checked by the linear
# parser below before tarfile's (whose regular expressions are quadratic on crafted input in
# some Python releases, CVE-2024-6232) sees it.
MAX_EXTENDED_HEADER = 64 * 1024
_EXTENDED = frozenset((tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE))
_LONG_NAMES = frozenset((tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK))
# member types with content, and the types that are skipped (and counted) by name
REGULAR = frozenset((tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE))
SKIPPED_KINDS = {
    tarfile.CHRTYPE: "chardev",
    tarfile.BLKTYPE: "blockdev",
    tarfile.FIFOTYPE: "fifo",
}


class _ForwardReader:
    """A read-only file over a stream that tarfile may ``seek`` forward in (skipping = reading).

    tarfile's own stream mode ("r|") copies its whole buffer on every header read, which makes
    a large buffer quadratic; this reader slices a 1 MiB buffer instead and lets tarfile run in
    its ordinary mode over a stream that is still read once, front to back. Over a file on
    disk (``on_disk``, read from its start) skipping seeks instead.
    """

    def __init__(self, raw: BinaryIO, where: str, limits: Limits | None,
                 on_disk: bool = False) -> None:
        self.raw = raw
        self.on_disk = on_disk
        self.chunk = 64 * 1024 if on_disk else CHUNK  # on disk, a pull is mostly one header
        self.where = where
        self.limits = limits
        self.pulled = 0  # bytes taken from raw
        self.holes = 0  # bytes of the sparse members' holes, announced by their headers
        self.buffer = b""
        self.offset = 0
        self.pos = 0
        self.last = b""  # the last block returned, to check the end-of-archive marker

    def _pull(self, size: int) -> bytes:
        chunk = self.raw.read(size)
        self.pulled += len(chunk)
        if self.limits is not None:
            self.check()
        return chunk

    def check(self) -> None:
        """Refuse a stream over the layer size cap, or expanding over the ratio cap (holes
        included in both); the compressed bytes are the stream's ``consumed``, if it has one."""
        limits = self.limits
        assert limits is not None
        expanded = self.pulled + self.holes
        if expanded > limits.max_layer_size:
            raise too_large(self.where, limits.max_layer_size)
        if expanded > limits.ratio_grace:
            compressed = getattr(self.raw, "consumed", self.pulled)
            if expanded > limits.max_layer_ratio * compressed:
                raise too_expanded(self.where, limits.max_layer_ratio, expanded, compressed)

    def tell(self) -> int:
        return self.pos

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer at the end), left to be read."""
        while len(self.buffer) - self.offset < size:
            chunk = self._pull(max(size, self.chunk))
            if not chunk:
                break
            self.buffer, self.offset = self.buffer[self.offset:] + chunk, 0
        return self.buffer[self.offset: self.offset + size]

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise ValueError("unbounded read of a layer stream")
        available = len(self.buffer) - self.offset
        if size <= available:
            data = self.buffer[self.offset: self.offset + size]
            self.offset += size
        else:
            parts = [self.buffer[self.offset:]] if available else []
            need = size - available
            self.buffer, self.offset = b"", 0
            while need > 0:
                chunk = self._pull(max(need, self.chunk))
                if not chunk:
                    break
                if len(chunk) > need:
                    parts.append(chunk[:need])
                    self.buffer, self.offset = chunk, need
                    need = 0
                else:
                    parts.append(chunk)
                    need -= len(chunk)
            data = b"".join(parts)
        self.pos += len(data)
        self.last = data
        return data

    def seek(self, position: int, whence: int = 0) -> int:
        if whence != 0 or position < self.pos:
            raise io.UnsupportedOperation("a layer stream only moves forward")
        skip = position - self.pos
        available = len(self.buffer) - self.offset
        if skip <= available:
            self.offset += skip
            self.pos = position
            return position
        self.buffer, self.offset = b"", 0
        if self.on_disk:
            self.pos = self.raw.seek(position)
            return self.pos
        self.pos += available
        skip -= available
        while skip > 0:
            chunk = self._pull(min(skip, self.chunk))
            if not chunk:
                break
            self.pos += len(chunk)
            skip -= len(chunk)
        return self.pos

    def drain(self) -> None:
        """Read to the end of the stream, so that closing it verifies the digests."""
        self.buffer, self.offset = b"", 0
        while True:
            chunk = self._pull(self.chunk)
            if not chunk:
                return
            self.pos += len(chunk)


@contextmanager
def tar_errors(where: str) -> Iterator[None]:
    """Report tarfile's errors as an ``ImageError`` naming the layer."""
    try:
        yield
    except RefusedHeader as error:
        raise UnsafeArchiveError(f"{where}: refused: {error}",
                                 hint="nothing was written; the layer is hostile or broken")\
            from None
    except (tarfile.TarError, ValueError) as error:  # tarfile lets some int() errors through
        raise ImageError(f"{where}: truncated or corrupt tar stream ({error})",
                         hint=_TAR_HINT) from None


class _LeanTarInfo(tarfile.TarInfo):
    """Reads a header block for only the fields the flattener uses, about 2.5x faster.

    Parsing headers is most of the cost of skipping the hundreds of thousands of members that
    are not kept. Anything unusual (sparse files, base-256 numbers, a checksum that only the
    signed variant matches, a malformed field) goes to tarfile's own parser, which also raises
    its usual errors. Owners, times and device numbers are left at their defaults: nothing
    here may depend on them.
    """

    stored = 0  # the size in the header, kept when PAX records replace it

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> _LeanTarInfo:
        if buf[156:157] == tarfile.GNUTYPE_SPARSE and len(buf) == tarfile.BLOCKSIZE:
            name = buf[0:100].split(b"\0", 1)[0].decode(encoding, errors)
            raise RefusedHeader(f"{display(name)} is an old GNU sparse member (type 'S'), "
                                "which docker and containerd refuse too; write the layer with "
                                "a PAX sparse format (GNU tar --sparse-version=1.0) or none")
        if (len(buf) != tarfile.BLOCKSIZE or buf[124] & 0x80 or buf[100] & 0x80
                or buf.count(0) == tarfile.BLOCKSIZE):
            return super().frombuf(buf, encoding, errors)
        stored = buf[148:156]
        try:
            checksum = _octal(stored)
            mode = _octal(buf[100:108])
            size = _octal(buf[124:136])
        except ValueError:
            return super().frombuf(buf, encoding, errors)
        # the unsigned checksum is the byte sum with the checksum field read as 8 spaces;
        # adler32's low half is 1 + that byte sum modulo 65521, computed in C
        if (1 + checksum - 256 + sum(stored)) % 65521 != zlib.adler32(buf) & 0xFFFF:
            return super().frombuf(buf, encoding, errors)
        info = cls()
        name = buf[0:100].split(b"\0", 1)[0].decode(encoding, errors)
        kind = bytes(buf[156:157])
        if kind == tarfile.AREGTYPE and name.endswith("/"):
            kind = tarfile.DIRTYPE  # old V7 tars mark directories with a slash
        if kind == tarfile.DIRTYPE:
            name = name.rstrip("/")
        prefix = buf[345:500].split(b"\0", 1)[0]
        if prefix and kind not in tarfile.GNU_TYPES:
            name = prefix.decode(encoding, errors) + "/" + name  # a ustar long name
        info.name = name
        info.mode = mode
        info.size = size
        info.chksum = checksum
        info.type = kind
        info.linkname = buf[157:257].split(b"\0", 1)[0].decode(encoding, errors)
        return info


    def _proc_pax(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        records = _check_extended(self, tar)
        if not is_sparse(records):
            return super()._proc_pax(tar)  # type: ignore[misc, no-any-return]
        if self.type == tarfile.XGLTYPE:
            raise RefusedHeader(f"a global PAX header at byte {self.offset} with sparse keys")
        try:
            check_numbers(records)
        except SparseError as error:
            names = [value for key, value in records if key in (b"path", b"GNU.sparse.name")]
            name = names[-1].decode("utf-8", "surrogateescape") if names else ""
            raise RefusedHeader(f"sparse member {display(name)}: {error}") from None
        member = super()._proc_pax(tar)  # type: ignore[misc]
        _apply_sparse(member, records, tar)
        return member  # type: ignore[no-any-return]

    def _apply_pax_info(self, pax_headers: dict[str, str], encoding: str, errors: str) -> None:
        self.stored = self.size  # the header's size, before a sparse file's size replaces it
        super()._apply_pax_info(pax_headers, encoding, errors)  # type: ignore[misc]

    # sparse maps are read by ``_apply_sparse``, with bounded code, instead
    def _proc_gnusparse_00(self, *args: object) -> None:
        pass

    def _proc_gnusparse_01(self, *args: object) -> None:
        pass

    def _proc_gnusparse_10(self, *args: object) -> None:
        pass

    def _proc_gnulong(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        _check_extended(self, tar)
        return super()._proc_gnulong(tar)  # type: ignore[misc]


class RefusedHeader(tarfile.ReadError):
    """An extended header over its cap or malformed (tarfile.next() lets ReadError through)."""


def _apply_sparse(member: _LeanTarInfo, records: list[tuple[bytes, bytes]],
                  tar: tarfile.TarFile) -> None:
    """Give ``member`` its checked sparse map (``member.sparse``) and its real size."""
    reader = tar.fileobj
    assert isinstance(reader, _ForwardReader)
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
        raise RefusedHeader(f"{display(member.name)}: sparse records on a member that is not "
                            "a regular file")
    # what the archive stores: the header's size, or a PAX size record (as Go reads it)
    sizes = [value for key, value in records if key == b"size"]
    stored = int(sizes[-1]) if sizes and sizes[-1].isdigit() else member.stored
    try:
        if reader.tell() != member.offset_data:
            raise SparseError("its data is not where its header ends")
        layout = sparse_map(records, stored, reader.peek)
    except SparseError as error:
        raise RefusedHeader(f"sparse member {display(member.name)}: {error}") from None
    reader.read(layout.map_bytes)  # the map (format 1.0) is in front of the data
    member.offset_data = reader.tell()
    member.size = layout.size
    member.sparse = layout  # type: ignore[assignment]
    tar.offset = member.offset_data + -(-layout.data // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def _check_extended(info: tarfile.TarInfo, tar: tarfile.TarFile) -> list[tuple[bytes, bytes]]:
    """Refuse an extended header over ``MAX_EXTENDED_HEADER`` before it is read, and a PAX one
    that is not a sequence of well-formed ``"<length> <key>=<value>\\n"`` records; return a PAX
    header's records as (key, value) pairs."""
    kind = "GNU long-name" if info.type in _LONG_NAMES else "PAX"
    if info.size > MAX_EXTENDED_HEADER:
        raise RefusedHeader(f"a {kind} header of {info.size} bytes at byte {info.offset}, over "
                            f"the {MAX_EXTENDED_HEADER}-byte cap")
    records: list[tuple[bytes, bytes]] = []
    if info.type not in _EXTENDED:
        return records
    reader = tar.fileobj
    data = reader.peek(info.size) if isinstance(reader, _ForwardReader) else b""
    position = 0
    while position < len(data):
        if not any(data[position:]):  # NUL padding after the records
            break
        space = data.find(b" ", position, position + 12)
        digits = data[position:space] if space >= 0 else b""
        length = int(digits) if digits.isdigit() else 0
        record = data[position: position + length]
        equals = record.find(b"=", len(digits) + 2)
        if (length < len(digits) + 4 or position + length > len(data)
                or not record.endswith(b"\n") or equals < 0):
            raise RefusedHeader(f"a malformed PAX header at byte {info.offset} "
                                f"(record at offset {position})")
        # long digit runs are what makes some releases' header regex quadratic
        if _longest_digit_run(record) > 64:
            raise RefusedHeader(f"a PAX header at byte {info.offset} with an implausible "
                                "run of digits")
        records.append((record[len(digits) + 1:equals], record[equals + 1:-1]))
        position += length
    return records


def _longest_digit_run(data: bytes) -> int:
    return max((len(run) for run in _DIGITS.findall(data)), default=0)


_DIGITS = re.compile(rb"[0-9]+")


def _octal(field: bytes | bytearray) -> int:
    return int(field.split(b"\0", 1)[0].strip() or b"0", 8)


def open_archive_tar(file: BinaryIO, where: str) -> tarfile.TarFile:
    """A ``TarFile`` over an image archive on disk (read from its start) whose headers get the
    same checks as a layer's: extended headers capped and checked, sparse maps bounded."""
    reader = _ForwardReader(file, where, None, on_disk=True)
    return tarfile.open(fileobj=cast(Any, reader), mode="r:", tarinfo=_LeanTarInfo)


class TarMembers:
    """The members of one layer's tar stream, one at a time, in constant memory.

    Iterate to get each ``TarInfo``; ``content(info)`` streams the current member's bytes
    (for a ``BlobStore``); ``drain()`` reads the rest so that closing the layer verifies it.
    A stream that ends without tar's end-of-archive marker is an ``ImageError``.
    """

    def __init__(self, stream: BinaryIO, where: str, limits: Limits | None = None) -> None:
        self.stream = stream
        self.reader = _ForwardReader(stream, where, limits)
        self.where = where
        # nothing to close: a TarFile leaves a file object it was given open
        self.tar = tarfile.open(fileobj=cast(Any, self.reader), mode="r:",  # noqa: SIM115
                                encoding="utf-8", errors="surrogateescape",
                                tarinfo=_LeanTarInfo)

    def __iter__(self) -> Iterator[tarfile.TarInfo]:
        tar, reader = self.tar, self.reader
        # tarfile appends every member to this list (CPython's TarFile.members): with hundreds
        # of thousands of members that is most of our memory, and we need none of them
        remembered: list[tarfile.TarInfo] = cast(Any, tar).members
        while True:
            info = tar.next()
            if info is None:
                break
            remembered.clear()
            if info.sparse is not None and reader.limits is not None:
                self._count_holes(info)
            yield info
        # tarfile takes a missing or damaged header for the end; only zeros end an archive
        if len(reader.last) != tarfile.BLOCKSIZE or reader.last.count(0) != tarfile.BLOCKSIZE:
            raise ImageError(f"{self.where}: the tar stream ends without its end-of-archive "
                             f"marker (truncated or corrupt near byte {reader.pos})",
                             hint=_TAR_HINT)

    def _count_holes(self, info: tarfile.TarInfo) -> None:
        """A sparse member's holes count against the caps as soon as its header is read."""
        self.reader.holes += cast(Any, info.sparse).holes
        try:
            self.reader.check()
        except UnsafeArchiveError as error:
            raise UnsafeArchiveError(f"{error.message} (the holes of sparse member "
                                     f"{display(info.name)} included)", hint=error.hint) from None

    def content(self, info: tarfile.TarInfo) -> BinaryIO:
        """The content of regular file ``info``, the member just returned."""
        self.reader.seek(info.offset_data)
        short = f"{self.where}: the tar stream ends inside {display(info.name)}"
        if info.sparse is not None:  # a GNU sparse file: the holes read as zeros, chunk by chunk
            return cast(BinaryIO, SparseContent(cast(BinaryIO, self.reader),
                                                cast(Any, info.sparse), short, _TAR_HINT))
        return cast(BinaryIO, Bounded(cast(BinaryIO, self.reader), info.size, short, _TAR_HINT))

    def consumed(self) -> int:
        """Compressed bytes consumed when the stream knows them, else bytes read."""
        count = getattr(self.stream, "consumed", None)
        return count if isinstance(count, int) else self.reader.pos

    def drain(self) -> None:
        self.reader.drain()
