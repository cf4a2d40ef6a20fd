"""The hook after a 3-way merge: the guard on clean merges, the block rules on conflicts."""

from __future__ import annotations

from sync.series.resolve import ADJACENT_EDITS, ALL_RULES, DUPLICATE_GUARD, RuleSet
from sync.series.resolve.conflicts import settle

LABELS = ("upstream", "base", "0001-x.patch")
MARKED = (b"a\n<<<<<<< upstream\nB upstream\nc\n||||||| base\nb\nc\n=======\nb\nC patch\n"
          b">>>>>>> 0001-x.patch\nz\n")


def test_a_conflict_every_block_of_which_a_rule_settles_is_clean_and_names_the_rule():
    settled = settle(b"a\nb\nc\nz\n", b"a\nB upstream\nc\nz\n", b"a\nb\nC patch\nz\n", False,
                     MARKED, LABELS, ALL_RULES)
    assert settled.clean and settled.content == b"a\nB upstream\nC patch\nz\n"
    assert settled.rules == (ADJACENT_EDITS,) and settled.unresolved == MARKED


def test_a_rule_turned_off_leaves_the_conflict():
    settled = settle(b"", b"", b"", False, MARKED, LABELS, RuleSet.without([ADJACENT_EDITS]))
    assert not settled.clean and settled.content == MARKED and settled.rules == ()


def test_one_block_no_rule_settles_keeps_the_whole_file_conflicted():
    other = MARKED + MARKED.replace(b"b\nC patch", b"B other\nc")  # the same line, twice
    settled = settle(b"", b"", b"", False, other, LABELS, ALL_RULES)
    assert not settled.clean and settled.content == other


def test_a_clean_merge_that_duplicates_upstreams_lines_becomes_a_conflict():
    check = b"if (u != u) u = U_NEU;\n"
    base, ours, theirs = b"{\nint a;\n\ngo();\n}\n", b"{\nlong a;\n\n" + check + b"go();\n}\n", \
        b"{\nint a;\n\n" + check + b"go();\n}\n"
    merged = b"{\nlong a;\n\n" + check + check + b"go();\n}\n"
    settled = settle(base, ours, theirs, True, merged, LABELS, ALL_RULES)
    assert not settled.clean and settled.rules == (DUPLICATE_GUARD,)
    assert b"<<<<<<< upstream\n" in settled.content and "already has" in settled.reason
    off = settle(base, ours, theirs, True, merged, LABELS, RuleSet.without(["all"]))
    assert off.clean and off.content == merged


def test_unknown_rule_names_are_refused():
    try:
        RuleSet.without(["zealous"])
    except ValueError as error:
        assert "zealous" in str(error)
    else:
        raise AssertionError("an unknown rule name was accepted")
