"""Placing hunks: exact, offset, fuzz, already applied — and never at a wrong place."""

from __future__ import annotations

import pygit2
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sync.git.diff import diff_text
from sync.series.hunks import Landing, apply_hunks, force_hunks, land_exactly
from sync.series.model import Hunk
from sync.series.parse import parse_patch, split_lines
from tests.series.builders import entry_of

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path_factory.mktemp("hunks") / "repo"))


def hunks_of(repo: pygit2.Repository, old: bytes, new: bytes) -> tuple[Hunk, ...]:
    """The hunks git itself would write for old -> new."""
    text = diff_text(repo, {"bundle/f": entry_of(repo, old)}, {"bundle/f": entry_of(repo, new)})
    patch = parse_patch(text, "f.patch")
    return patch.files[0].hunks if patch.files else ()


def joined(lines: list[bytes] | None) -> bytes:
    assert lines is not None
    return b"".join(lines)


def unique_lines(count: int, tag: str = "line") -> list[bytes]:
    return [f"{tag} {number}\n".encode() for number in range(count)]


# --- properties ----------------------------------------------------------------------------------
texts = st.lists(st.sampled_from([b"a\n", b"b\n", b"c\n", b"{\n", b"}\n", b"\n", b"x = 1\n"]),
                 max_size=40).map(b"".join)


@SETTINGS
@given(texts, texts, st.booleans())
def test_applying_the_diff_of_two_texts_to_the_first_gives_the_second(
        repo: pygit2.Repository, old: bytes, new: bytes, chop: bool):
    if chop and new.endswith(b"\n"):
        new = new[:-1]  # also exercise "\ No newline at end of file"
    result = apply_hunks(split_lines(old), hunks_of(repo, old, new))
    assert not result.failed
    assert joined(result.lines) == new


def edited(lines: list[bytes], data: st.DataObject) -> list[bytes]:
    result = list(lines)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(result) - 1))
        result[position] = b"changed " + result[position]
    return result


@SETTINGS
@given(st.data())
def test_an_offset_finds_the_right_place_when_the_context_is_unique(repo, data):
    original = unique_lines(data.draw(st.integers(5, 80)))
    patched = edited(original, data)
    hunks = hunks_of(repo, b"".join(original), b"".join(patched))
    # upstream inserts and removes lines away from every hunk
    touched = {n for h in hunks for n in range(h.old_start - 1, h.old_start - 1 + h.old_count)}
    inserts = sorted(data.draw(st.lists(st.integers(0, len(original)), max_size=4)))
    moved, expected = list(original), list(patched)
    for number, at in enumerate(reversed(inserts)):
        if at in touched or at - 1 in touched:
            continue
        new_line = f"upstream {number}\n".encode()
        moved.insert(at, new_line)
        expected.insert(at, new_line)
    result = apply_hunks(moved, hunks)
    assert not result.failed
    assert joined(result.lines) == b"".join(expected)


@SETTINGS
@given(st.data())
def test_fuzz_finds_the_right_place_or_refuses_never_a_wrong_one(repo, data):
    original = unique_lines(data.draw(st.integers(8, 60)))
    patched = edited(original, data)
    hunks = hunks_of(repo, b"".join(original), b"".join(patched))
    assume(hunks)
    # upstream changes one context line of one hunk and shifts the file
    hunk = data.draw(st.sampled_from(hunks))
    context = [line for line in hunk.before if line in patched]
    assume(context)
    victim = data.draw(st.sampled_from(context))
    shift = unique_lines(data.draw(st.integers(0, 5)), "top")
    upstream = shift + [b"edited " + line if line == victim else line for line in original]
    expected = shift + [b"edited " + line if line == victim else line for line in patched]
    result = apply_hunks(upstream, hunks, fuzz=data.draw(st.integers(0, 3)))
    if not result.failed:
        assert joined(result.lines) == b"".join(expected)


@SETTINGS
@given(texts, texts, st.data())
def test_hunks_placed_in_the_bytes_give_what_placing_them_in_the_lines_gives(
        repo: pygit2.Repository, old: bytes, new: bytes, data: st.DataObject):
    """``land_exactly`` is ``apply_hunks`` for the texts where every hunk is where it says,
    and declines (None) everywhere else: shifted, edited, repeated or cut texts included."""
    if data.draw(st.booleans()) and new.endswith(b"\n"):
        new = new[:-1]
    hunks = hunks_of(repo, old, new)
    target = data.draw(st.sampled_from([
        old, b"a\n" + old, old + b"tail\n", old[:-1], old.replace(b"x = 1\n", b"x = 2\n", 1),
        old.replace(b"{\n", b"{\n{\n", 1), new]))
    slow = apply_hunks(split_lines(target), hunks)
    exact = not slow.failed and all(
        result.landing is Landing.APPLIED and not result.offset and not result.fuzz
        for result in slow.hunks)
    fast = land_exactly(target, hunks)
    if fast is None:
        # only an exact landing of a hunk with preimage lines may be declined for no reason:
        # after too many earlier occurrences of its preimage
        assert not exact or any(not hunk.before or target.count(b"".join(hunk.before)) > 8
                                for hunk in hunks)
        return
    assert exact and fast.data == joined(slow.lines) and fast.lines is None
    assert fast.hunks == slow.hunks
    if target == old:
        assert fast.data == new


# --- examples ------------------------------------------------------------------------------------
def make_hunk(old_start: int, before: list[bytes], after: list[bytes], leading: int,
              trailing: int) -> Hunk:
    return Hunk(old_start=old_start, old_count=len(before), new_start=old_start,
                new_count=len(after), before=tuple(before), after=tuple(after), leading=leading,
                trailing=trailing, line=1, added=len(after) - leading - trailing,
                removed=len(before) - leading - trailing)


def test_exact_then_offset_reports_where_each_hunk_landed():
    lines = unique_lines(30)
    hunk = make_hunk(11, lines[10:13] + lines[13:14] + lines[14:17],
                     lines[10:13] + [b"new\n"] + lines[14:17], 3, 3)
    exact = apply_hunks(lines, [hunk])
    assert exact.hunks[0].landing is Landing.APPLIED and exact.hunks[0].offset == 0
    moved = apply_hunks(unique_lines(5, "top") + lines, [hunk])
    assert (moved.hunks[0].line, moved.hunks[0].offset) == (16, 5)


def test_the_nearest_of_several_matches_wins():
    block = [b"{\n", b"x\n", b"}\n"]
    lines = block + [b"a\n"] * 10 + block + [b"b\n"] * 3 + block
    hunk = make_hunk(15, block, [b"{\n", b"y\n", b"}\n"], 1, 1)
    result = apply_hunks(lines, [hunk])
    assert result.hunks[0].line == 14  # the middle block, nearest to line 15
    assert joined(result.lines).count(b"y\n") == 1


def test_a_hunk_already_applied_is_recognised_at_its_place_and_at_an_offset():
    lines = unique_lines(20)
    hunk = make_hunk(5, lines[4:7], lines[4:5] + [b"added\n"] + lines[5:7], 1, 2)
    upstream = lines[:5] + [b"added\n"] + lines[5:]
    same_place = apply_hunks(upstream, [hunk])
    assert same_place.hunks[0].landing is Landing.ALREADY
    assert joined(same_place.lines) == b"".join(upstream)
    shifted = apply_hunks([b"top\n"] * 3 + upstream, [hunk])
    assert (shifted.hunks[0].landing, shifted.hunks[0].offset) == (Landing.ALREADY, 3)


def test_fuzz_needs_a_unique_match():
    lines = [b"a\n", b"b\n", b"c\n", b"d\n", b"e\n"] * 2
    hunk = make_hunk(1, [b"Z\n", b"b\n", b"c\n", b"d\n", b"e\n"],
                     [b"Z\n", b"b\n", b"C\n", b"d\n", b"e\n"], 2, 2)
    assert apply_hunks(lines, [hunk], fuzz=2).failed  # "b c d" occurs twice
    assert not apply_hunks(lines[:5], [hunk], fuzz=2).failed


def test_fuzz_is_off_by_default_and_reported():
    lines = unique_lines(20)
    before = lines[5:12]
    hunk = make_hunk(6, [b"other\n"] + before[1:], [b"other\n"] + before[1:3] + [b"X\n"]
                     + before[4:], 3, 3)
    assert apply_hunks(lines, [hunk]).failed
    result = apply_hunks(lines, [hunk], fuzz=1)
    assert (result.hunks[0].fuzz, result.hunks[0].line) == (1, 6)
    assert joined(result.lines) == b"".join(lines[:8] + [b"X\n"] + lines[9:])


def test_a_hunk_with_short_leading_context_is_anchored_at_the_start():
    lines = unique_lines(10)
    hunk = make_hunk(1, lines[0:4], [b"first\n"] + lines[1:4], 0, 3)
    assert not apply_hunks(lines, [hunk]).failed
    assert apply_hunks([b"pre\n"] + lines, [hunk]).failed  # never moved away from line 1


def test_hunks_never_overlap_nor_go_backwards():
    lines = [b"x\n", b"y\n"] * 4
    first = make_hunk(2, [b"y\n", b"x\n"], [b"Y1\n", b"x\n"], 0, 1)
    second = make_hunk(2, [b"y\n", b"x\n"], [b"Y2\n", b"x\n"], 0, 1)  # same place again
    result = apply_hunks(lines, [first, second])
    assert joined(result.lines) == b"x\nY1\nx\nY2\nx\ny\nx\ny\n"


def test_failed_hunks_are_forced_into_a_base_and_a_theirs_for_a_merge():
    lines = unique_lines(12)
    good = make_hunk(2, lines[1:3], lines[1:2] + [b"good\n"] + lines[2:3], 1, 1)
    bad = make_hunk(8, [b"missing\n", lines[8]], [b"replaced\n", lines[8]], 0, 1)
    result = apply_hunks(lines, [good, bad])
    assert result.failed and result.lines is None
    base = force_hunks(lines, [good, bad], result.hunks, "before")
    theirs = force_hunks(lines, [good, bad], result.hunks, "after")
    assert base == lines[:7] + [b"missing\n", lines[8]] + lines[9:]
    assert theirs == lines[:2] + [b"good\n"] + lines[2:7] + [b"replaced\n", lines[8]] + lines[9:]


def test_in_the_bytes_a_hunk_lands_only_at_its_own_line():
    lines = unique_lines(30)
    hunk = make_hunk(11, lines[10:13] + lines[13:14] + lines[14:17],
                     lines[10:13] + [b"new\n"] + lines[14:17], 3, 3)
    exact = land_exactly(b"".join(lines), [hunk])
    assert exact is not None and exact.data == b"".join(lines[:13] + [b"new\n"] + lines[14:])
    assert (exact.hunks[0].line, exact.hunks[0].start, exact.hunks[0].stop) == (11, 10, 17)
    assert land_exactly(b"".join(unique_lines(5, "top") + lines), [hunk]) is None  # an offset


def test_in_the_bytes_a_preimage_must_start_a_line_and_a_last_line_must_end_the_text():
    hunk = make_hunk(3, [b"c"], [b"C"], 0, 0)  # "\ No newline" on both sides, no context
    assert land_exactly(b"a\nb\nc", [hunk]).data == b"a\nb\nC"
    assert land_exactly(b"a\nb\ncd", [hunk]) is None  # the text's last line is "cd"
    assert land_exactly(b"a\nb\nc\n", [hunk]) is None  # "c" has a newline there
    inner = make_hunk(1, [b"b\n"], [b"B\n"], 0, 0)
    assert land_exactly(b"ab\nb\n", [inner]) is None  # "b\n" at line 1 is inside "ab"
    assert land_exactly(b"b\nb\n", [inner]).data == b"B\nb\n"


def test_in_the_bytes_a_repeated_preimage_is_found_at_its_line_after_the_earlier_ones():
    block = [b"{\n", b"x\n", b"}\n"]
    lines = block * 5
    hunk = make_hunk(7, block, [b"{\n", b"y\n", b"}\n"], 1, 1)
    exact = land_exactly(b"".join(lines), [hunk])
    assert exact is not None
    assert exact.data == b"".join(block * 2 + [b"{\n", b"y\n", b"}\n"] + block * 2)
    assert exact.data == joined(apply_hunks(lines, [hunk]).lines)
