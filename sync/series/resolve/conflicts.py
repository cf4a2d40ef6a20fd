"""The hook after a 3-way merge: guard a clean result, try the rules on a conflicting one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sync.series.resolve import (
    ADJACENT_EDITS,
    DUPLICATE_GUARD,
    KCONFIG_ATTRIBUTES,
    RuleSet,
    adjacent,
    duplicates,
    kconfig,
)
from sync.series.resolve.blocks import Block, Piece, join, split_conflicts

# the block rules, tried in this order on each conflict block
BLOCK_RULES: tuple[tuple[str, Callable[[Block], tuple[bytes, ...] | None]], ...] = (
    (ADJACENT_EDITS, adjacent.resolve),
    (KCONFIG_ATTRIBUTES, kconfig.resolve),
)


@dataclass(frozen=True)
class Settled:
    """What the rules made of a merge: the content, clean or not, and the rules that acted."""

    clean: bool
    content: bytes
    rules: tuple[str, ...] = ()
    reason: str = ""  # why a clean merge was refused
    unresolved: bytes | None = None  # the merge with its conflicts, when a rule resolved them


def settle(base: bytes | None, ours: bytes, theirs: bytes, clean: bool, content: bytes,
           labels: tuple[str, str, str], rules: RuleSet) -> Settled:
    """Apply the rules in force to one file's 3-way merge (``labels``: ours, base, theirs)."""
    if clean:
        if base is not None and rules.on(DUPLICATE_GUARD):
            twice = duplicates.duplicated(base, ours, theirs, content)
            if twice is not None:
                first = twice[0].decode("utf-8", "replace").strip()
                return Settled(False, _whole_file_conflict(base, ours, theirs, labels),
                               (DUPLICATE_GUARD,),
                               f"the merge would add lines upstream already has ({first!r})")
        return Settled(True, content)
    pieces = split_conflicts(content, *labels)
    if pieces is None:
        return Settled(False, content)
    used: list[str] = []
    resolved: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, bytes):
            resolved.append(piece)
            continue
        lines = None
        for name, rule in BLOCK_RULES:
            if rules.on(name):
                lines = rule(piece)
                if lines is not None:
                    used.append(name)
                    break
        if lines is None:
            return Settled(False, content)
        resolved.extend(lines)
    return Settled(True, join(resolved), tuple(dict.fromkeys(used)), unresolved=content)


def _whole_file_conflict(base: bytes, ours: bytes, theirs: bytes,
                         labels: tuple[str, str, str]) -> bytes:
    def side(text: bytes) -> bytes:
        return text if not text or text.endswith(b"\n") else text + b"\n"

    ours_label, base_label, theirs_label = (label.encode() for label in labels)
    return (b"<<<<<<< " + ours_label + b"\n" + side(ours) + b"||||||| " + base_label + b"\n"
            + side(base) + b"=======\n" + side(theirs) + b">>>>>>> " + theirs_label + b"\n")
