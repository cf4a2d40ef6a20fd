"""Splitting a diff3-marked merge into lines and conflict blocks."""

from __future__ import annotations

from sync.series.resolve.blocks import Block, join, split_conflicts

LABELS = ("upstream", "base", "0001-x.patch")
MARKED = (b"a\n<<<<<<< upstream\nours\n||||||| base\nbase\n=======\ntheirs\n"
          b">>>>>>> 0001-x.patch\nz\n")


def test_a_conflict_becomes_a_block_between_plain_lines():
    assert split_conflicts(MARKED, *LABELS) == [
        b"a\n", Block((b"ours\n",), (b"base\n",), (b"theirs\n",)), b"z\n"]


def test_a_file_without_markers_is_all_lines():
    assert split_conflicts(b"a\nb\n", *LABELS) == [b"a\n", b"b\n"]


def test_markers_with_other_labels_or_out_of_place_are_not_interpreted():
    assert split_conflicts(MARKED.replace(b"upstream", b"HEAD"), *LABELS) is None
    assert split_conflicts(b"a\n=======\nb\n", *LABELS) is None
    assert split_conflicts(MARKED[:MARKED.index(b">>>>>>>")], *LABELS) is None  # unterminated


def test_join_writes_resolved_lines_back():
    assert join([b"a\n", b"b\n"]) == b"a\nb\n"
