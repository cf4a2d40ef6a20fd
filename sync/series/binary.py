"""git's binary patches: base85 lines, zlib, and the delta format, in pure Python.

A ``GIT binary patch`` section holds ``literal N`` (the whole new content) or ``delta N`` (copy
and insert instructions against the old content), each zlib-deflated and base85-encoded with a
length character at the start of every line.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence


class BinaryProblem(ValueError):
    """Corrupt binary data or a delta that does not fit its source; ``line`` is 1-based."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def decode_lines(lines: Sequence[bytes], first_line: int, size: int) -> bytes:
    """Decode base85 ``lines`` (without terminators) and inflate them to ``size`` bytes."""
    chunks = []
    for number, line in enumerate(lines, first_line):
        if not line:
            raise BinaryProblem("empty line inside binary data", number)
        length = _line_length(line[0])
        if length is None:
            raise BinaryProblem(f"bad length character {chr(line[0])!r}", number)
        body = line[1:]
        if len(body) != (length + 3) // 4 * 5:
            raise BinaryProblem(f"line holds {len(body)} characters for {length} bytes", number)
        try:
            chunks.append(base64.b85decode(body)[:length])
        except ValueError as error:
            raise BinaryProblem(f"invalid base85 data: {error}", number) from None
    try:
        data = zlib.decompress(b"".join(chunks))
    except zlib.error as error:
        raise BinaryProblem(f"corrupt deflate stream: {error}", first_line) from None
    if len(data) != size:
        raise BinaryProblem(f"inflated to {len(data)} bytes, header says {size}", first_line)
    return data


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
