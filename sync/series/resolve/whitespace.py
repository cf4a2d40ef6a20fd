"""Rule ``whitespace-only``: both sides made the same change but for whitespace.

Upstream took the patch and then re-indented or re-wrapped it, or converted line endings: the
conflict block's two sides differ only in spaces, tabs and line endings. Upstream's spelling is
kept (the patch's change is already there). A block whose sides differ in anything else, even
one character, stays a conflict.
"""

from __future__ import annotations

import re

from sync.series.resolve.blocks import Block

_SPACE = re.compile(rb"\s+")


def resolve(block: Block) -> tuple[bytes, ...] | None:
    """Upstream's lines, when they equal the patch's but for whitespace."""
    ours, theirs = _squeezed(block.ours), _squeezed(block.theirs)
    if ours != theirs or ours == _squeezed(block.base):
        return None
    return block.ours


def _squeezed(lines: tuple[bytes, ...]) -> bytes:
    return _SPACE.sub(b"", b"".join(lines))
