"""Range-diff of one patch: unchanged, moved, context, changed, review, new, dropped."""

from __future__ import annotations

from sync.series.parse import parse_patch
from sync.series.rangediff import (
    Kind,
    compare,
    normalized,
    range_diff,
    summary_counts,
    summary_line,
)

HEADER = (b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
          b"From: Dev <dev@example.com>\nSubject: [PATCH] Pin it\n\nPin it.\n---\n")


def patch(body: bytes, header: bytes = HEADER, name: str = "0001-pin.patch"):
    return parse_patch(header + body, name)


def hunk(start: int, context: bytes = b" b\n", minus: bytes = b"-old\n",
         plus: bytes = b"+new\n") -> bytes:
    return (b"diff --git a/bundle/x.py b/bundle/x.py\nindex 1111111..2222222 100644\n"
            b"--- a/bundle/x.py\n+++ b/bundle/x.py\n"
            + b"@@ -%d,3 +%d,3 @@\n" % (start, start) + b" a\n" + minus + plus + context)


def test_the_same_patch_is_unchanged():
    delta = compare("0001-pin.patch", patch(hunk(10)), patch(hunk(10)))
    assert (delta.kind, delta.summary, delta.interdiff) == (Kind.UNCHANGED, "unchanged", b"")


def test_only_line_numbers_and_index_lines_moved():
    moved = hunk(17).replace(b"index 1111111..2222222", b"index 3333333..4444444")
    delta = compare("0001-pin.patch", patch(hunk(10)), patch(moved))
    assert (delta.kind, delta.summary, delta.moved) == (Kind.MOVED,
                                                       "unchanged (moved 7 lines)", 7)


def test_other_context_with_the_same_change_says_context_changed():
    delta = compare("0001-pin.patch", patch(hunk(10)), patch(hunk(12, context=b" B\n")))
    assert (delta.kind, delta.summary) == (Kind.CONTEXT, "context changed in 1 hunk")
    assert b"- b\n" in delta.interdiff and b"+ B\n" in delta.interdiff
    assert b"@@ -10" not in delta.interdiff  # line numbers are not part of the interdiff


def test_a_small_change_is_summarized_with_its_lines():
    old = patch(hunk(1, minus=b"-tensorflow==2.11\n", plus=b"+tensorflow==2.12\n"))
    new = patch(hunk(1, minus=b"-tensorflow==2.11\n", plus=b"+tensorflow==2.13\n"))
    delta = compare("0001-pin.patch", old, new)
    assert delta.kind is Kind.CHANGED
    assert delta.summary == "changed: -tensorflow==2.12 +tensorflow==2.13"
    assert b"-+tensorflow==2.12\n" in delta.interdiff
    assert b"++tensorflow==2.13\n" in delta.interdiff


def test_a_patch_rewritten_beyond_recognition_is_marked_for_full_review():
    old = patch(hunk(1, minus=b"-alpha\n", plus=b"+beta\n"))
    new = patch(hunk(1, minus=b"-gamma\n", plus=b"+delta\n"))
    delta = compare("0001-pin.patch", old, new)
    assert (delta.kind, delta.summary) == (Kind.REVIEW, "too changed to pair: review in full")
    assert delta.interdiff


def test_a_new_description_with_the_same_change_is_reported():
    other = HEADER.replace(b"\nPin it.\n", b"\nPin it, because 2.12 leaks.\n")
    delta = compare("0001-pin.patch", patch(hunk(1)), patch(hunk(1), header=other))
    assert (delta.kind, delta.summary) == (Kind.DESCRIPTION, "description changed")
    assert b"+Pin it, because 2.12 leaks.\n" in delta.interdiff


def test_range_diff_lists_new_then_dropped_patches_in_series_order():
    rows = range_diff({"0001-a.patch": patch(hunk(1)), "0002-b.patch": patch(hunk(5))},
                      {"0002-b.patch": patch(hunk(5)), "0003-c.patch": patch(hunk(9))})
    assert [(row.name, row.kind) for row in rows] == [
        ("0002-b.patch", Kind.UNCHANGED), ("0003-c.patch", Kind.NEW),
        ("0001-a.patch", Kind.DROPPED)]


def test_normalized_drops_index_lines_and_hunk_numbers_but_keeps_the_function_context():
    lines = normalized(b"index 1..2 100644\n@@ -10,3 +12,4 @@ def f():\n a\n")
    assert lines == [b"@@ def f():\n", b" a\n"]


def test_a_different_format_patch_signature_is_not_a_change():
    old = patch(hunk(1, context=b" b\n") + b"-- \n2.39.2\n\n")
    new = patch(hunk(1, context=b" B\n") + b"-- \n2.43.0\n\n")
    assert normalized(old.text[len(old.preamble):])[-1] == b" b\n"  # the signature is cut
    delta = compare("0001-pin.patch", old, new)
    assert b"2.39.2" not in delta.interdiff and b"2.43.0" not in delta.interdiff
    same = compare("0001-pin.patch", patch(hunk(1) + b"-- \n2.39.2\n\n"),
                   patch(hunk(4) + b"-- \n2.43.0\n"))
    assert same.kind is Kind.MOVED


def test_a_removed_line_that_looks_like_a_signature_still_counts():
    yaml = hunk(1, minus=b"-- \n", plus=b"+- item\n")
    delta = compare("0001-pin.patch", patch(hunk(1, minus=b"-- x\n", plus=b"+- item\n")),
                    patch(yaml))
    assert delta.kind is Kind.CHANGED


def test_absorbed_patches_are_absorbed_whether_kept_or_dropped():
    rows = range_diff({"0001-a.patch": patch(hunk(1)), "0002-b.patch": patch(hunk(5))},
                      {"0001-a.patch": patch(hunk(1))}, absorbed={"0001-a.patch", "0002-b.patch"})
    assert [(row.name, row.kind) for row in rows] == [("0001-a.patch", Kind.ABSORBED),
                                                      ("0002-b.patch", Kind.ABSORBED)]
    assert rows[0].summary == "absorbed: upstream contains it (still in the series)"
    assert rows[1].summary == "absorbed: upstream contains it (dropped from the series)"


def test_the_summary_counts_every_kind_once():
    rows = range_diff({"0001-a.patch": patch(hunk(1)), "0002-b.patch": patch(hunk(5)),
                       "0003-c.patch": patch(hunk(9))},
                      {"0001-a.patch": patch(hunk(3)), "0002-b.patch": patch(
                          hunk(5, plus=b"+newer\n")), "0004-d.patch": patch(hunk(7))})
    counts = summary_counts(rows)
    assert counts == {"unchanged": 1, "changed": 1, "added": 1, "dropped": 1, "absorbed": 0}
    assert summary_line(counts) == "1 unchanged, 1 changed, 1 added, 1 dropped, 0 absorbed"
