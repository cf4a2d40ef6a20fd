"""Rule ``upstream-context-changed``: hunks upstream already has, though their context moved.

A hunk whose preimage is nowhere in the file may still be upstream: the change was taken, and
the lines around it were edited since (re-indented declarations, a renamed variable). Then a
3-way merge sees two different edits of that region and can add the change a second time.

A failed hunk counts as already upstream when its postimage, with at most ``MAX_TRIM`` context
lines cut at each end (never a changed line, and never the last context line of an end),
occurs exactly once in the file, in order with the other hunks, while its preimage cut the
same way occurs nowhere (for a hunk that removes lines); and the change carries enough text to
be recognised (at least one changed line with ``MIN_TEXT`` non-blank bytes).
Otherwise the hunk stays failed and the 3-way merge (or a conflict) decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sync.series.hunks import HunkResult, Landing, LineIndex, TextResult, apply_hunks
from sync.series.model import Hunk

MAX_TRIM = 3
MIN_TEXT = 8


def already_upstream(lines: Sequence[bytes], hunks: Sequence[Hunk],
                     text: TextResult) -> TextResult | None:
    """``text`` with every failed hunk found already upstream, or None if one is not."""
    index = LineIndex(list(lines))
    found: dict[int, int] = {}
    for result in text.hunks:
        if result.landing is not Landing.FAILED:
            continue
        start = _find(index, hunks[result.index])
        if start is None:
            return None
        found[result.index] = start
    remaining = [hunk for number, hunk in enumerate(hunks) if number not in found]
    rest = apply_hunks(list(lines), remaining)
    if rest.failed or rest.lines is None:
        return None
    results: list[HunkResult] = []
    landed = iter(rest.hunks)
    for number, hunk in enumerate(hunks):
        if number in found:
            line = found[number]
            results.append(HunkResult(number, Landing.ALREADY, line=line + 1,
                                      offset=line - hunk.expected_index))
        else:
            results.append(replace(next(landed), index=number))
    if not _in_order(results):
        return None
    return TextResult(rest.lines, tuple(results))


def _find(index: LineIndex, hunk: Hunk) -> int | None:
    """Where the hunk's trimmed postimage is, when that is proof the change is there."""
    if not _recognisable(hunk):
        return None
    for trim in range(0, MAX_TRIM + 1):
        front, back = _keep_one(trim, hunk.leading), _keep_one(trim, hunk.trailing)
        after = list(hunk.after[front:len(hunk.after) - back])
        before = list(hunk.before[front:len(hunk.before) - back])
        if len(after) < 2:
            continue
        spots = index.matches(after, 0)
        if len(spots) > 1:
            return None  # ambiguous: less context would not make it less so
        # a removed line still there means the change is not (wholly) upstream
        if spots and not (hunk.removed and index.matches(before, 0)):
            return spots[0]
    return None


def _keep_one(trim: int, context: int) -> int:
    """Cut up to ``trim`` context lines, always keeping one where the hunk has any."""
    return min(trim, max(context - 1, 0))


def _recognisable(hunk: Hunk) -> bool:
    changed = [line for line in hunk.after[hunk.leading:len(hunk.after) - hunk.trailing]]
    changed += [line for line in hunk.before[hunk.leading:len(hunk.before) - hunk.trailing]]
    return any(len(line.strip()) >= MIN_TEXT for line in changed)


def _in_order(results: Sequence[HunkResult]) -> bool:
    lines = [result.line for result in results]
    return all(a <= b for a, b in zip(lines, lines[1:], strict=False))
