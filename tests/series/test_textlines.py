"""``Lines`` is ``split_lines`` cut a window at a time: same lines, same offsets, any order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.series import textlines
from sync.series.parse import parse_patch
from sync.series.textlines import Lines, split_lines

TEXTS = st.lists(st.sampled_from([b"", b"a", b"\r", b" x y", b"@@ -1 +1 @@", b"z" * 40]),
                 max_size=60).map(lambda parts: b"\n".join(parts)) | st.binary(max_size=300)


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textlines, "WINDOW", 16)  # many windows even in short texts


@settings(max_examples=150, deadline=None)
@given(TEXTS)
def test_lines_end_at_each_newline_only(text: bytes):
    pieces = text.split(b"\n")
    assert split_lines(text) == [piece + b"\n" for piece in pieces[:-1]] + (
        [pieces[-1]] if pieces[-1] else [])


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.lists(st.integers(0, 80), max_size=30))
def test_every_line_and_offset_is_that_of_the_whole_split(text: bytes, asked: list[int]):
    whole = split_lines(text)
    lines = Lines(text)
    assert len(lines) == len(whole)
    for index in asked + list(range(len(whole))):  # out of order first, then in order
        if index < len(whole):
            assert lines[index] == whole[index]
            assert lines.offset(index) == sum(map(len, whole[:index]))
        else:
            assert lines.offset(index) == len(text)
            with pytest.raises(IndexError):
                lines[index]


def test_a_skip_moves_past_lines_without_cutting_them():
    text = b"head\n" + b"".join(b"data %d\n" % k for k in range(100)) + b"\ntail\n"
    lines = Lines(text)
    assert lines[0] == b"head\n"
    lines.skip_to(102, text.index(b"tail"))
    assert lines[102] == b"tail\n" and lines[101] == b"\n" and lines[0] == b"head\n"


def test_a_patch_parses_the_same_whatever_the_window(monkeypatch: pytest.MonkeyPatch):
    text = (b"Subject: x\n\n---\n"
            b"diff --git a/bundle/a.py b/bundle/a.py\nindex 1111111..2222222 100644\n"
            b"--- a/bundle/a.py\n+++ b/bundle/a.py\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n"
            b"diff --git a/bundle/b.bin b/bundle/b.bin\nnew file mode 100644\n"
            b"index 0000000000000000000000000000000000000000.."
            b"3333333333333333333333333333333333333333\n"
            b"GIT binary patch\nliteral 5\nMcmZQzWMXDu0001u00031\n\n"
            b"diff --git a/bundle/c.py b/bundle/c.py\nindex 4444444..5555555 100644\n"
            b"--- a/bundle/c.py\n+++ b/bundle/c.py\n@@ -1 +1 @@\n-x\n+y\n-- \n2.39\n")
    small = parse_patch(text, "p")
    monkeypatch.setattr(textlines, "WINDOW", 1 << 16)
    assert parse_patch(text, "p") == small
    assert [file.span for file in small.files] == [
        (text.index(b"diff --git a/bundle/" + name), text.index(end))
        for name, end in ((b"a.py", b"diff --git a/bundle/b.bin"),
                          (b"b.bin", b"diff --git a/bundle/c.py"))] + [
        (text.index(b"diff --git a/bundle/c.py"), text.index(b"-- \n"))]
