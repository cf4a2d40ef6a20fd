"""Rule whitespace-only: the same change on both sides, spelled with other whitespace."""

from __future__ import annotations

from sync.series.resolve.blocks import Block
from sync.series.resolve.whitespace import resolve


def test_the_patch_reindented_upstream_keeps_upstreams_spelling():
    block = Block(ours=(b"    if (x) {\n", b"        y();\n"), base=(b"if (x) y();\n",),
                  theirs=(b"\tif (x) {\n", b"\t\ty();\n"))
    assert resolve(block) == (b"    if (x) {\n", b"        y();\n")


def test_line_endings_alone_differ():
    block = Block(ours=(b"new\r\n",), base=(b"old\n",), theirs=(b"new\n",))
    assert resolve(block) == (b"new\r\n",)


def test_one_character_more_is_refused():
    block = Block(ours=(b"f(a, b);\n",), base=(b"f(a);\n",), theirs=(b"f(a, c);\n",))
    assert resolve(block) is None


def test_a_whitespace_change_on_both_sides_is_refused():
    """The patch only re-indents: keeping upstream's would drop the patch's whole change."""
    block = Block(ours=(b"  x\n",), base=(b"x\n",), theirs=(b"\tx\n",))
    assert resolve(block) is None
