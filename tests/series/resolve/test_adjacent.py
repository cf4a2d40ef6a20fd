"""Rule adjacent-edits: two edits that touch but change different lines are both kept."""

from __future__ import annotations

from sync.series.resolve.adjacent import resolve
from sync.series.resolve.blocks import Block


def lines(*texts: str) -> tuple[bytes, ...]:
    return tuple(f"{text}\n".encode() for text in texts)


def test_edits_of_neighbouring_lines_are_both_kept():
    block = Block(ours=lines("A upstream", "b"), base=lines("a", "b"),
                  theirs=lines("a", "B patch"))
    assert resolve(block) == lines("A upstream", "B patch")


def test_an_insertion_away_from_the_other_edit_is_kept():
    block = Block(ours=lines("A", "b", "c"), base=lines("a", "b", "c"),
                  theirs=lines("a", "b", "new", "c"))
    assert resolve(block) == lines("A", "b", "new", "c")


def test_both_sides_changing_the_same_line_is_refused():
    block = Block(ours=lines("upstream"), base=lines("a"), theirs=lines("patch"))
    assert resolve(block) is None


def test_insertions_at_the_same_place_are_refused():
    """Which goes first would be a guess."""
    block = Block(ours=lines("a", "mine", "b"), base=lines("a", "b"),
                  theirs=lines("a", "yours", "b"))
    assert resolve(block) is None


def test_an_insertion_right_after_a_line_the_other_side_changed_is_kept():
    """busybox: upstream rewrote `bool "chvt (2 kb)"`, the patch adds `depends on` below it."""
    block = Block(ours=lines('bool "chvt (2.2 kb)"', "help"), base=lines('bool "chvt (2 kb)"',
                                                                         "help"),
                  theirs=lines('bool "chvt (2 kb)"', "depends on PLATFORM_LINUX", "help"))
    assert resolve(block) == lines('bool "chvt (2.2 kb)"', "depends on PLATFORM_LINUX", "help")


def test_an_insertion_inside_lines_the_other_side_replaced_is_refused():
    block = Block(ours=lines("A", "B"), base=lines("a", "b"), theirs=lines("a", "new", "b"))
    assert resolve(block) is None


def test_one_side_changing_nothing_is_not_this_rules_business():
    block = Block(ours=lines("a"), base=lines("a"), theirs=lines("b"))
    assert resolve(block) is None


def test_an_insertion_next_to_lines_the_other_side_deleted_is_refused():
    """busybox's Makefile.flags: the patch drops an `ifneq`/`endif` pair, upstream adds a block
    right after the `endif`; what the block was written to follow is gone."""
    block = Block(ours=lines("ifneq linux", "LDLIBS += resolv", "endif", "ifneq gnu", "endif"),
                  base=lines("ifneq linux", "LDLIBS += resolv", "endif"),
                  theirs=lines("LDLIBS += resolv"))
    assert resolve(block) is None


def test_an_insertion_next_to_lines_upstream_grew_is_refused():
    """smartmontools: upstream rewrote the example above and added its own cciss example where
    the patch adds one; keeping both would document it twice."""
    block = Block(ours=lines("#/dev/twl0 -d 3ware,0", "", "# cciss, upstream's words",
                             "#/dev/sda -d cciss,0"),
                  base=lines("#/dev/hdc,0"),
                  theirs=lines("#/dev/hdc,0", "# cciss, the patch's words",
                               "#/dev/sda -d cciss,0"))
    assert resolve(block) is None


def test_an_insertion_next_to_a_line_rewritten_beyond_recognition_is_refused():
    block = Block(ours=lines("completely different text", "b"), base=lines("a line", "b"),
                  theirs=lines("a line", "inserted", "b"))
    assert resolve(block) is None
