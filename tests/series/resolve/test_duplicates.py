"""Rule duplicate-guard: a clean merge that adds what upstream has already is refused."""

from __future__ import annotations

from sync.series.resolve.duplicates import duplicated

CHECK = b"    /* check for NaN */\n    if (u != u) u = U_NEU;\n"


def test_a_block_added_a_second_time_is_caught():
    base = b"{\n    register int vi;\n\n    if (v) go();\n}\n"
    ours = b"{\n    unsigned int vi;\n\n" + CHECK + b"\n    if (v) go();\n}\n"
    theirs = base.replace(b"\n\n", b"\n\n" + CHECK + b"\n")
    merged = ours.replace(b"\n    if (v)", b"\n" + CHECK + b"\n    if (v)")
    found = duplicated(base, ours, theirs, merged)
    assert found is not None and found[0] == b"    /* check for NaN */\n"


def test_a_merge_that_adds_the_block_once_is_fine():
    base = b"a\nb\n"
    theirs = b"a\n" + CHECK + b"b\n"
    ours = b"a\nb\nupstream\n"
    assert duplicated(base, ours, theirs, b"a\n" + CHECK + b"b\nupstream\n") is None


def test_short_blocks_are_not_evidence():
    """A lone brace or blank line is everywhere; its count proves nothing."""
    base, theirs = b"a\nb\n", b"a\n}\nb\n"
    assert duplicated(base, b"}\na\nb\n", theirs, b"}\na\n}\nb\n") is None
