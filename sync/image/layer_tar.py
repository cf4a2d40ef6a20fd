"""Read the members of one layer's tar stream, front to back, once, in constant memory.

``TarMembers`` yields each member's header and streams a regular file's content straight from
the (decompressed) layer stream; nothing is extracted or buffered whole. Headers are parsed by a
lean parser for the fields the flattener uses, tarfile's own for anything unusual. A stream that
ends without tar's end-of-archive marker is an error, as is one over the layer size limit.
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
from sync.image.safety import display
from sync.image.streams import CHUNK, Bounded, too_large

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
    its ordinary mode over a stream that is still read once, front to back.
    """

    def __init__(self, raw: BinaryIO, where: str, limit: int | None) -> None:
        self.raw = raw
        self.where = where
        self.limit = limit
        self.pulled = 0  # bytes taken from raw
        self.buffer = b""
        self.offset = 0
        self.pos = 0
        self.last = b""  # the last block returned, to check the end-of-archive marker

    def _pull(self, size: int) -> bytes:
        chunk = self.raw.read(size)
        self.pulled += len(chunk)
        if self.limit is not None and self.pulled > self.limit:
            raise too_large(self.where, self.limit)
        return chunk

    def tell(self) -> int:
        return self.pos

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer at the end), left to be read."""
        while len(self.buffer) - self.offset < size:
            chunk = self._pull(max(size, CHUNK))
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
                chunk = self._pull(max(need, CHUNK))
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
        self.pos += available
        skip -= available
        self.buffer, self.offset = b"", 0
        while skip > 0:
            chunk = self._pull(min(skip, CHUNK))
            if not chunk:
                break
            self.pos += len(chunk)
            skip -= len(chunk)
        return self.pos

    def drain(self) -> None:
        """Read to the end of the stream, so that closing it verifies the digests."""
        self.buffer, self.offset = b"", 0
        while True:
            chunk = self._pull(CHUNK)
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
    except tarfile.TarError as error:
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

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> _LeanTarInfo:
        if (len(buf) != tarfile.BLOCKSIZE or buf[156:157] == tarfile.GNUTYPE_SPARSE
                or buf[124] & 0x80 or buf[100] & 0x80 or buf.count(0) == tarfile.BLOCKSIZE):
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
        _check_extended(self, tar)
        return super()._proc_pax(tar)  # type: ignore[misc]

    def _proc_gnulong(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        _check_extended(self, tar)
        return super()._proc_gnulong(tar)  # type: ignore[misc]


class RefusedHeader(tarfile.ReadError):
    """An extended header over its cap or malformed (tarfile.next() lets ReadError through)."""


def _check_extended(info: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
    """Refuse an extended header over ``MAX_EXTENDED_HEADER`` before it is read, and a PAX one
    that is not a sequence of well-formed ``"<length> <key>=<value>\\n"`` records."""
    kind = "GNU long-name" if info.type in _LONG_NAMES else "PAX"
    if info.size > MAX_EXTENDED_HEADER:
        raise RefusedHeader(f"a {kind} header of {info.size} bytes at byte {info.offset}, over "
                            f"the {MAX_EXTENDED_HEADER}-byte cap")
    if info.type not in _EXTENDED:
        return
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
        position += length


def _longest_digit_run(data: bytes) -> int:
    return max((len(run) for run in _DIGITS.findall(data)), default=0)


_DIGITS = re.compile(rb"[0-9]+")


def _octal(field: bytes | bytearray) -> int:
    return int(field.split(b"\0", 1)[0].strip() or b"0", 8)


class TarMembers:
    """The members of one layer's tar stream, one at a time, in constant memory.

    Iterate to get each ``TarInfo``; ``content(info)`` streams the current member's bytes
    (for a ``BlobStore``); ``drain()`` reads the rest so that closing the layer verifies it.
    A stream that ends without tar's end-of-archive marker is an ``ImageError``.
    """

    def __init__(self, stream: BinaryIO, where: str, max_size: int | None = None) -> None:
        self.stream = stream
        self.reader = _ForwardReader(stream, where, max_size)
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
            yield info
        # tarfile takes a missing or damaged header for the end; only zeros end an archive
        if len(reader.last) != tarfile.BLOCKSIZE or reader.last.count(0) != tarfile.BLOCKSIZE:
            raise ImageError(f"{self.where}: the tar stream ends without its end-of-archive "
                             f"marker (truncated or corrupt near byte {reader.pos})",
                             hint=_TAR_HINT)

    def content(self, info: tarfile.TarInfo) -> BinaryIO:
        """The content of regular file ``info``, the member just returned."""
        if info.sparse is not None:  # GNU sparse file: tarfile fills in the holes
            extracted = self.tar.extractfile(info)
            assert extracted is not None
            return cast(BinaryIO, extracted)
        self.reader.seek(info.offset_data)
        return cast(BinaryIO, Bounded(cast(BinaryIO, self.reader), info.size,
                                      f"{self.where}: the tar stream ends inside "
                                      f"{display(info.name)}", _TAR_HINT))

    def consumed(self) -> int:
        """Compressed bytes consumed when the stream knows them, else bytes read."""
        count = getattr(self.stream, "consumed", None)
        return count if isinstance(count, int) else self.reader.pos

    def drain(self) -> None:
        self.reader.drain()
