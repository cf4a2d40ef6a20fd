"""Rule ``adjacent-edits``: a conflict that is only two edits next to each other.

git reports a conflict when the two sides change lines that touch, even when they change
different lines: upstream edits line 10, the patch edits line 11 or inserts a line after line
10. Within one conflict block, each side's edits against the base are computed; when no base
line is changed by both, both edits are applied. Two insertions at the same place, or an
insertion between two lines the other side replaced, stay a conflict: where the inserted lines
go relative to the other side's would be a guess. An insertion right next to the other side's
edit is kept only when that edit rewrote its lines in place (as many lines, each still similar
to what it was): next to lines deleted, added or rewritten beyond recognition, what the
insertion was written to follow (or precede) is gone, and upstream may well have written the
same thing its own way there.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from sync.series.resolve.blocks import Block

Edit = tuple[int, int, tuple[bytes, ...]]  # base lines [start, stop) become these lines
SIMILAR = 0.6  # a line rewritten in place keeps this much of itself (difflib's ratio)


def resolve(block: Block) -> tuple[bytes, ...] | None:
    """The block with both sides' edits, when they are provably independent."""
    ours, theirs = _edits(block.base, block.ours), _edits(block.base, block.theirs)
    if not ours or not theirs:
        return None
    for mine in ours:
        for other in theirs:
            if not _independent(mine, other, block.base):
                return None
    out: list[bytes] = []
    cursor = 0
    for start, stop, lines in sorted(ours + theirs, key=lambda edit: (edit[0], edit[1])):
        out.extend(block.base[cursor:start])
        out.extend(lines)
        cursor = stop
    out.extend(block.base[cursor:])
    return tuple(out)


def _edits(base: Sequence[bytes], side: Sequence[bytes]) -> list[Edit]:
    matcher = SequenceMatcher(None, base, side, autojunk=False)
    return [(i1, i2, tuple(side[j1:j2])) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
            if tag != "equal"]


def _independent(first: Edit, second: Edit, base: Sequence[bytes]) -> bool:
    a_start, a_stop, _ = first
    b_start, b_stop, _ = second
    if a_start == a_stop and b_start == b_stop:
        return a_start != b_start  # two insertions at one place: which goes first?
    if a_start == a_stop:
        return _beside(a_start, second, base)
    if b_start == b_stop:
        return _beside(b_start, first, base)
    return a_stop <= b_start or b_stop <= a_start


def _beside(point: int, edit: Edit, base: Sequence[bytes]) -> bool:
    """An insertion at ``point`` is independent of ``edit``: away from it, or next to lines it
    only touched up."""
    start, stop, lines = edit
    if point < start or point > stop:
        return True
    if start < point < stop or len(lines) != stop - start:
        return False
    return all(SequenceMatcher(None, old, new).ratio() >= SIMILAR
               for old, new in zip(base[start:stop], lines, strict=True))
