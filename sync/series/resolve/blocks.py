"""A merged file with diff3-style conflict markers, split into plain lines and conflict blocks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sync.series.parse import split_lines


@dataclass(frozen=True)
class Block:
    """One conflict: the lines each side has there (``base``: the common ancestor's)."""

    ours: tuple[bytes, ...]
    base: tuple[bytes, ...]
    theirs: tuple[bytes, ...]


Piece = bytes | Block  # a line outside any conflict, or a conflict


def split_conflicts(content: bytes, ours: str, base: str, theirs: str) -> list[Piece] | None:
    """The pieces of ``content``; None when its markers are not exactly the diff3 ones."""
    starts = (b"<<<<<<< " + ours.encode() + b"\n", b"||||||| " + base.encode() + b"\n",
              b"=======\n", b">>>>>>> " + theirs.encode() + b"\n")
    pieces: list[Piece] = []
    sides: list[list[bytes]] = []
    for line in split_lines(content):
        if not sides:
            if line == starts[0]:
                sides = [[]]
            elif line.startswith((b"<<<<<<<", b"|||||||", b">>>>>>>")) or line == starts[2]:
                return None  # a marker out of place: not ours to interpret
            else:
                pieces.append(line)
            continue
        if line == starts[len(sides)]:
            if len(sides) == 3:
                pieces.append(Block(tuple(sides[0]), tuple(sides[1]), tuple(sides[2])))
                sides = []
            else:
                sides.append([])
        elif line.startswith((b"<<<<<<<", b"|||||||", b">>>>>>>", b"=======")):
            return None
        else:
            sides[-1].append(line)
    return None if sides else pieces


def join(pieces: Sequence[Piece]) -> bytes:
    """The text of ``pieces``; every block must have been resolved to lines first."""
    out = []
    for piece in pieces:
        assert isinstance(piece, bytes), "an unresolved block"
        out.append(piece)
    return b"".join(out)
