"""Rule ``kconfig-attributes``: both sides add dependencies to the same Kconfig entry.

A Kconfig entry's ``depends on`` lines are ANDed and its ``select``/``imply`` lines are a set:
their order does not change what the entry means. When upstream and the patch each insert such
lines at the same place of an entry (busybox: upstream adds ``select LONG_OPTS`` where the
patch adds ``depends on PLATFORM_LINUX``), both are kept, in the order the Kconfig
documentation lists them (depends on, select, imply; each side's own order kept within a
kind). ``default`` lines are never reordered (the first that matches wins), and any other line
in the conflict leaves it alone.
"""

from __future__ import annotations

import re

from sync.series.resolve.blocks import Block

# an attribute line, in a Kconfig file or a busybox-style "//config:" comment
_ATTRIBUTE = re.compile(rb"^(?P<prefix>(?://config:)?[ \t]*)(?P<kind>depends on|select|imply)"
                        rb"[ \t]+\S[^\n]*\n$")
_ORDER = {b"depends on": 0, b"select": 1, b"imply": 2}


def resolve(block: Block) -> tuple[bytes, ...] | None:
    """Both sides' attribute lines, ordered by kind, when that is all the conflict is."""
    front = 0
    while (front < min(len(block.ours), len(block.theirs), len(block.base))
           and block.ours[front] == block.theirs[front] == block.base[front]):
        front += 1
    back = 0
    while (back < min(len(block.ours), len(block.theirs), len(block.base)) - front
           and block.ours[-1 - back] == block.theirs[-1 - back] == block.base[-1 - back]):
        back += 1
    if len(block.base) - front - back != 0:
        return None  # something was changed, not only added
    ours = block.ours[front:len(block.ours) - back]
    theirs = block.theirs[front:len(block.theirs) - back]
    matches = [_ATTRIBUTE.match(line) for line in (*ours, *theirs)]
    if not ours or not theirs or not all(matches):
        return None
    if len({match.group("prefix") for match in matches if match}) != 1:
        return None
    added = sorted((*ours, *(line for line in theirs if line not in ours)),
                   key=lambda line: _ORDER[_kind(line)])
    return (*block.ours[:front], *added, *block.ours[len(block.ours) - back:])


def _kind(line: bytes) -> bytes:
    match = _ATTRIBUTE.match(line)
    assert match is not None
    return match.group("kind")
