"""git's binary patches: base85 lines, zlib, and the delta format.

A ``GIT binary patch`` section holds ``literal N`` (the whole new content) or ``delta N`` (copy
and insert instructions against the old content), each zlib-deflated and base85-encoded with a
length character at the start of every line.

Decoding is block-wise: the lines are checked one by one (cheap), then all their base85 text
is decoded at once with numpy (a few hundred MB/s, where ``base64.b85decode`` loops in Python
at ~10 MB/s) and inflated by zlib in one call. The parser does not decode at all
(``sync.series.model.BinaryHunk`` keeps the byte span); a literal is decoded only when its
content is needed and not already in the repository.

Patches are untrusted: a few hundred bytes of deflate or delta can claim gigabytes. Every size
that would be expanded (a literal's or delta's declared size, a delta's result) is checked
against ``max_binary_size()`` before anything is allocated, and inflating stops at the
declared size, so memory stays bounded by the cap whatever the patch holds.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Sequence
from typing import Any

from sync.errors import ConfigError
from sync.sizes import format_size, parse_size

_ALPHABET = (b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
             b"!#$%&()*+-;<=>?@^_`{|}~")
_BLOCK = 1 << 16  # 5-character groups decoded per numpy pass: bounds the temporary arrays


@functools.cache
def _numpy() -> tuple[Any, Any]:
    """numpy and the base85 digit table, imported on the first decode (a miss), not at start."""
    import numpy as np

    digits = np.full(256, 255, dtype=np.uint8)
    digits[np.frombuffer(_ALPHABET, dtype=np.uint8)] = np.arange(85, dtype=np.uint8)
    return np, digits


MAX_BINARY_SIZE_ENV = "SIMAPP_SYNC_MAX_BINARY_SIZE"
DEFAULT_MAX_BINARY_SIZE = 64 * 1024**2  # 8x the largest file of the real series


def max_binary_size() -> int:
    """The largest content a binary patch may expand to (``SIMAPP_SYNC_MAX_BINARY_SIZE``)."""
    spelled = os.environ.get(MAX_BINARY_SIZE_ENV)
    if not spelled:
        return DEFAULT_MAX_BINARY_SIZE
    try:
        return parse_size(spelled)
    except ValueError as error:
        raise ConfigError(f"{MAX_BINARY_SIZE_ENV}: {error}", hint="e.g. 64M, 1G") from None


def over_cap(size: int, what: str) -> str | None:
    """Why ``size`` bytes of ``what`` may not be expanded, or None when within the cap."""
    cap = max_binary_size()
    if size <= cap:
        return None
    return (f"{what} of {size:,} bytes is over the binary patch limit ({format_size(cap)}; "
            f"raise it with {MAX_BINARY_SIZE_ENV} if the patch is trusted)")


class BinaryProblem(ValueError):
    """Corrupt binary data or a delta that does not fit its source; ``line`` is 1-based."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def decode_lines(lines: Sequence[bytes], first_line: int, size: int) -> bytes:
    """Decode base85 ``lines`` (without terminators) and inflate them to ``size`` bytes."""
    lengths = []
    for number, line in enumerate(lines, first_line):
        if not line:
            raise BinaryProblem("empty line inside binary data", number)
        length = _line_length(line[0])
        if length is None:
            raise BinaryProblem(f"bad length character {chr(line[0])!r}", number)
        if len(line) - 1 != (length + 3) // 4 * 5:
            raise BinaryProblem(f"line holds {len(line) - 1} characters for {length} bytes",
                                number)
        lengths.append(length)
    decoded = _decode85(b"".join(line[1:] for line in lines), lines, first_line)
    if any(length % 4 for length in lengths[:-1]):  # padding inside: cut each line's share
        parts, at = [], 0
        for length in lengths:
            parts.append(decoded[at:at + length])
            at += (length + 3) // 4 * 4
        deflated = b"".join(parts)
    else:
        deflated = decoded[:sum(lengths)]
    problem = over_cap(size, "binary data")
    if problem is not None:
        raise BinaryProblem(problem, first_line - 1)
    inflater = zlib.decompressobj()
    try:  # never more than the header's size (+1 to see that there is more): no bomb
        data = inflater.decompress(deflated, size + 1)
    except zlib.error as error:
        raise BinaryProblem(f"corrupt deflate stream: {error}", first_line) from None
    if len(data) > size or inflater.unconsumed_tail:
        raise BinaryProblem(f"inflates to more than the {size} bytes its header says",
                            first_line)
    if len(data) != size:
        raise BinaryProblem(f"inflated to {len(data)} bytes, header says {size}", first_line)
    if not inflater.eof:
        raise BinaryProblem("corrupt deflate stream: it is cut short", first_line)
    return data


def decode_block(text: bytes, first_line: int, size: int) -> bytes:
    """``decode_lines`` for a block of lines as they stand in the patch (``\n`` or ``\r\n``)."""
    lines = text.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return decode_lines([line.rstrip(b"\r") for line in lines], first_line, size)


def _decode85(text: bytes, lines: Sequence[bytes], first_line: int) -> bytes:
    """base85 (git's alphabet) to bytes, 5 characters to 4 bytes, in numpy blocks."""
    np, table = _numpy()
    digits = table[np.frombuffer(text, dtype=np.uint8)]
    out = []
    for start in range(0, len(digits), _BLOCK * 5):
        block = digits[start:start + _BLOCK * 5].reshape(-1, 5).astype(np.uint64)
        if (block == 255).any():
            raise _bad_character(lines, first_line)
        values = block[:, 0]
        for column in range(1, 5):
            values = values * 85 + block[:, column]
        if (values > 0xFFFFFFFF).any():
            raise _bad_character(lines, first_line, "a group overflows 32 bits")
        out.append(values.astype(">u4").tobytes())
    return b"".join(out)


def _bad_character(lines: Sequence[bytes], first_line: int,
                   why: str = "a character outside base85") -> BinaryProblem:
    """The first line at fault (found by decoding line by line: only on an error)."""
    np, table = _numpy()
    for number, line in enumerate(lines, first_line):
        digits = table[np.frombuffer(line[1:], dtype=np.uint8)]
        values = np.zeros(len(digits) // 5, dtype=np.uint64)
        for column in range(5):
            values = values * 85 + digits[column::5].astype(np.uint64)
        if (digits == 255).any() or (values > 0xFFFFFFFF).any():
            return BinaryProblem(f"invalid base85 data: {why}", number)
    return BinaryProblem(f"invalid base85 data: {why}", first_line)


def _line_length(char: int) -> int | None:
    if ord("A") <= char <= ord("Z"):
        return char - ord("A") + 1
    if ord("a") <= char <= ord("z"):
        return char - ord("a") + 27
    return None


def apply_delta(source: bytes, delta: bytes) -> bytes:
    """Apply a git delta (as in pack files) to ``source``; BinaryProblem if it does not fit."""
    declared_source, position = _varint(delta, 0)
    declared_target, position = _varint(delta, position)
    if declared_source != len(source):
        raise BinaryProblem(f"delta expects a {declared_source}-byte preimage, "
                            f"the file has {len(source)} bytes")
    problem = over_cap(declared_target, "a delta's result")
    if problem is not None:
        raise BinaryProblem(problem)
    out = bytearray()
    end = len(delta)
    while position < end:
        opcode = delta[position]
        position += 1
        if opcode & 0x80:
            offset = size = 0
            for shift, bit in enumerate((0x01, 0x02, 0x04, 0x08)):
                if opcode & bit:
                    offset |= _byte(delta, position) << (8 * shift)
                    position += 1
            for shift, bit in enumerate((0x10, 0x20, 0x40)):
                if opcode & bit:
                    size |= _byte(delta, position) << (8 * shift)
                    position += 1
            size = size or 0x10000
            if offset + size > len(source):
                raise BinaryProblem("delta copies beyond the end of the preimage")
            out += source[offset:offset + size]
        elif opcode:
            if position + opcode > end:
                raise BinaryProblem("delta inserts past its own end")
            out += delta[position:position + opcode]
            position += opcode
        else:
            raise BinaryProblem("delta holds the reserved opcode 0")
        if len(out) > declared_target:  # stop at once: the header bounded the allocation
            raise BinaryProblem(f"delta produces more than the {declared_target} bytes its "
                                "header says")
    if len(out) != declared_target:
        raise BinaryProblem(f"delta produced {len(out)} bytes, header says {declared_target}")
    return bytes(out)


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = _byte(data, position)
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def _byte(data: bytes, position: int) -> int:
    if position >= len(data):
        raise BinaryProblem("delta ends in the middle of an instruction")
    return data[position]
