"""patches/series: quilt's format, the recorded base, rewrites that keep every other byte."""

from __future__ import annotations

import pytest

from sync.errors import PatchError
from sync.series.seriesfile import SeriesEntry, parse_series

BASE = "a" * 40
SERIES = (b"# the community series\n"
          b"\n"
          b"0001-first.patch\n"
          b"0002-second.patch -p0\n"
          b"  # indented comment\n"
          b"sub/0003-third.patch   # trailing comment\n")


def test_entries_strip_levels_and_lines():
    series = parse_series(SERIES)
    assert series.entries == (SeriesEntry("0001-first.patch", 1, 3),
                              SeriesEntry("0002-second.patch", 0, 4),
                              SeriesEntry("sub/0003-third.patch", 1, 6))
    assert series.base is None
    assert series.format() == SERIES


def test_recording_a_base_adds_one_comment_line_and_changes_nothing_else():
    recorded = parse_series(SERIES).with_base(BASE)
    assert recorded.format() == f"# upstream: {BASE}\n".encode() + SERIES
    again = parse_series(recorded.format()).with_base("b" * 40)
    assert again.format() == f"# upstream: {'b' * 40}\n".encode() + SERIES
    assert parse_series(again.format()).base == "b" * 40


def test_dropping_entries_keeps_comments_and_blank_lines():
    dropped = parse_series(SERIES).without({"0002-second.patch"})
    assert dropped.format() == SERIES.replace(b"0002-second.patch -p0\n", b"")


def test_an_entry_can_lose_its_strip_option():
    series = parse_series(SERIES).with_entry(SeriesEntry("0002-second.patch", 1))
    assert b"0002-second.patch\n" in series.format()


def test_no_final_newline_is_kept():
    assert parse_series(b"a.patch").format() == b"a.patch"


@pytest.mark.parametrize("text, message", [
    (b"a.patch\nb.patch -R\n", "patches/series:2: unsupported option '-R'"),
    (b"../escape.patch\n", "patches/series:1: patch name"),
    (b"a.patch\n\na.patch\n", "patches/series:3: a.patch is listed twice (first on line 1)"),
])
def test_malformed_series_are_errors_naming_the_line(text: bytes, message: str):
    with pytest.raises(PatchError) as raised:
        parse_series(text)
    assert message in raised.value.message
