"""GNU sparse members of a layer: their maps read by bounded code and checked, their content
streamed with the holes as zeros, one chunk at a time.

Go's archive/tar, and so docker, containerd and umoci, reads the PAX sparse formats (GNU tar's
0.0, 0.1 and 1.0) as regular files whose holes read back as zeros; the old GNU format (type
``S``) it hands to its callers, which refuse it ("unhandled tar header type 83"). We do the same.

A map is checked before anything is read behind it: at most ``MAX_SPARSE_MAP`` bytes (format 1.0
stores it in front of the data; 0.0 and 0.1 in the PAX header, which has its own cap), numbers
of at most 19 digits, regions in order, not overlapping, inside the file, and exactly the bytes
stored. The holes are known from the map alone, so the caps count them when the header is read,
before a single zero is produced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from sync.errors import ImageError

MAX_SPARSE_MAP = 64 * 1024
BLOCK = 512
_CHUNK = 1 << 20
_MAX_DIGITS = 19  # 10**19 > 2**63: no file is larger


class SparseError(ValueError):
    """A sparse member whose map is malformed, too large or in an unsupported format."""


@dataclass(frozen=True)
class SparseMap:
    """Where a sparse file's data is: ``regions`` of (offset, length), the rest is holes."""

    regions: tuple[tuple[int, int], ...]
    size: int  # the file's size, holes included
    map_bytes: int  # bytes of the map stored in front of the data (format 1.0), whole blocks

    @property
    def data(self) -> int:
        """Bytes stored in the archive for the regions."""
        return sum(length for _, length in self.regions)

    @property
    def holes(self) -> int:
        """Bytes that read back as zeros."""
        return self.size - self.data


def is_sparse(records: Sequence[tuple[bytes, bytes]]) -> bool:
    """True when PAX ``records`` describe a GNU sparse file."""
    return any(key.startswith(b"GNU.sparse.") for key, _ in records)


def check_numbers(records: Sequence[tuple[bytes, bytes]]) -> None:
    """Refuse a malformed size among sparse PAX ``records`` (tarfile would raise ValueError)."""
    for key, value in records:
        if key in (b"GNU.sparse.size", b"GNU.sparse.realsize"):
            _number(value)


def sparse_map(records: Sequence[tuple[bytes, bytes]], stored: int,
               peek: Callable[[int], bytes]) -> SparseMap:
    """The checked map of a sparse member whose PAX ``records`` are given.

    ``stored`` is the member's size in the archive; ``peek(n)`` returns the first ``n`` of
    those bytes without consuming them (format 1.0 keeps its map there).
    """
    fields: dict[bytes, bytes] = {}
    offsets: list[int] = []
    lengths: list[int] = []
    for key, value in records:
        if key == b"GNU.sparse.offset":
            offsets.append(_number(value))
        elif key == b"GNU.sparse.numbytes":
            lengths.append(_number(value))
        else:
            fields[key] = value
    map_bytes = 0
    if fields.get(b"GNU.sparse.major") == b"1" and fields.get(b"GNU.sparse.minor") == b"0":
        numbers, map_bytes = _data_map(peek(min(stored, MAX_SPARSE_MAP)), stored)
        size = _number(fields.get(b"GNU.sparse.realsize", b""))
    elif b"GNU.sparse.map" in fields:  # 0.1
        text = fields[b"GNU.sparse.map"]
        numbers = [_number(item) for item in text.split(b",")] if text else []
        size = _number(fields.get(b"GNU.sparse.size", b""))
    elif offsets or lengths:  # 0.0
        if len(offsets) != len(lengths):
            raise SparseError("GNU.sparse.offset and GNU.sparse.numbytes records do not pair up")
        numbers = [number for pair in zip(offsets, lengths, strict=True) for number in pair]
        size = _number(fields.get(b"GNU.sparse.size", b""))
    else:
        found = b", ".join(sorted(fields)).decode("ascii", "backslashreplace")
        raise SparseError(f"an unsupported sparse format ({found})")
    if len(numbers) % 2:
        raise SparseError("an odd count of numbers in its sparse map")
    regions = tuple(zip(numbers[::2], numbers[1::2], strict=True))
    _check_regions(regions, size, stored - map_bytes)
    return SparseMap(regions, size, map_bytes)


def _number(text: bytes) -> int:
    if not text.isdigit() or len(text) > _MAX_DIGITS:
        shown = text[:24].decode("ascii", "backslashreplace")
        raise SparseError(f"a malformed number {shown!r} in its sparse map")
    return int(text)


def _data_map(head: bytes, stored: int) -> tuple[list[int], int]:
    """Format 1.0: a count, then that many offset and length pairs, one number a line, padded
    to whole blocks in front of the data. Returns the numbers and the bytes the map takes."""
    end = head.find(b"\n")
    count = _number(head[:end]) if end > 0 else -1
    if count < 0 or 4 * count > MAX_SPARSE_MAP:  # each number takes 2 bytes or more
        raise SparseError(f"a sparse map over the {MAX_SPARSE_MAP}-byte cap, or malformed")
    numbers: list[int] = []
    position = end + 1
    for _ in range(2 * count):
        end = head.find(b"\n", position, position + _MAX_DIGITS + 1)
        if end < 0:
            raise SparseError(f"a sparse map over the {MAX_SPARSE_MAP}-byte cap, or cut short")
        numbers.append(_number(head[position:end]))
        position = end + 1
    map_bytes = -(-position // BLOCK) * BLOCK
    if map_bytes > stored:
        raise SparseError("a sparse map longer than the member")
    return numbers, map_bytes


def _check_regions(regions: tuple[tuple[int, int], ...], size: int, data: int) -> None:
    """Regions in order, not overlapping, inside the file, holding exactly ``data`` bytes."""
    end = 0
    total = 0
    for offset, length in regions:
        if offset < end or offset + length > size:
            raise SparseError(f"a sparse region ({offset}, {length}) out of order or outside "
                              f"the file's {size} bytes")
        end = offset + length
        total += length
    if total != data:
        raise SparseError(f"its sparse regions hold {total} bytes, the archive stores {data}")


class SparseContent:
    """The content of a sparse member: the regions from ``file`` (positioned at the first
    one's bytes), zeros between them; at most one chunk per read, whatever the holes' size."""

    def __init__(self, file: BinaryIO, layout: SparseMap, short: str, hint: str) -> None:
        self.file = file
        self.regions = layout.regions
        self.size = layout.size
        self.position = 0
        self.index = 0  # the first region not wholly read
        self.short = short
        self.hint = hint

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        left = self.size - self.position
        size = min(left if size is None or size < 0 else size, left, _CHUNK)
        if size <= 0:
            return b""
        while self.index < len(self.regions) and sum(self.regions[self.index]) <= self.position:
            self.index += 1
        if self.index < len(self.regions):
            offset, length = self.regions[self.index]
        else:
            offset, length = self.size, 0
        if self.position < offset:  # in a hole
            data = bytes(min(size, offset - self.position))
        else:
            data = self.file.read(min(size, offset + length - self.position))
            if not data:
                raise ImageError(self.short, hint=self.hint)
        self.position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
