"""Rule ``duplicate-guard``: a clean 3-way merge must not add what upstream already has.

When the patch's change is already upstream but its surroundings changed, a 3-way merge can
line the regions up differently on the two sides and take the change a second time, cleanly.
This guard looks at every block of lines the patch adds (one with enough text to recognise):
if the merge result has it more often than the patch's own result does, while upstream
already had it as often, the merge is turned into a conflict for a person to look at.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from sync.series.hunks import LineIndex
from sync.series.parse import split_lines

MIN_TEXT = 8


def duplicated(base: bytes, ours: bytes, theirs: bytes, merged: bytes) -> tuple[bytes, ...] | None:
    """The first block the patch adds that the merge duplicates, or None."""
    base_lines, their_lines = split_lines(base), split_lines(theirs)
    matcher = SequenceMatcher(None, base_lines, their_lines, autojunk=False)
    blocks = [tuple(their_lines[j1:j2]) for tag, _, _, j1, j2 in matcher.get_opcodes()
              if tag in ("insert", "replace")]
    blocks = [block for block in blocks if any(len(line.strip()) >= MIN_TEXT for line in block)]
    if not blocks:
        return None
    indexes = [LineIndex(split_lines(text)) for text in (ours, theirs, merged)]
    for block in blocks:
        in_ours, in_theirs, in_merged = (_count(index, block) for index in indexes)
        if in_merged > in_theirs and in_ours >= in_theirs:
            return block
    return None


def _count(index: LineIndex, block: Sequence[bytes]) -> int:
    return len(index.matches(list(block), 0))
