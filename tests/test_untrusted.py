"""Untrusted text: control characters are found, every spelling of ``.git`` is recognised, and a
file name that is not UTF-8 keeps its bytes and prints as git quotes it."""

from __future__ import annotations

import os

import pytest

from sync.untrusted import (
    control_character,
    has_raw_bytes,
    is_git_special,
    path_bytes,
    shown_path,
)


@pytest.mark.parametrize("name", [
    ".git", ".GIT", ".Git", "git~1", "GIT~1", ".git.", ".git ", ".git. . ", ".g\u200cit",
    ".git\u200d", "\ufeff.git", ".\u202egit", ".git::$INDEX_ALLOCATION", ".GiT:stream",
])
def test_every_spelling_git_folds_to_dot_git_is_special(name: str):
    assert is_git_special(name)


@pytest.mark.parametrize("name", ["git", ".github", ".gitx", "git~2", "x.git", ".gitignore"])
def test_names_that_only_look_alike_are_not(name: str):
    assert not is_git_special(name)


@pytest.mark.parametrize("text, found", [
    ("2024-01-01T00:00:00Z", None), ("a\nb", "\n"), ("a\rb", "\r"), ("\x1b[2J", "\x1b"),
    ("a\x00b", "\x00"), ("a\u2028b", "\u2028"), ("a\x85b", "\x85"), ("caf\u00e9", None),
])
def test_control_characters_and_line_separators_are_found(text: str, found: str | None):
    assert control_character(text) == found


@pytest.mark.parametrize("raw, shown", [
    (b"bundle/caf\xe9.txt", '"bundle/caf\\351.txt"'),  # Latin-1: not UTF-8
    (b"odd-\xc3(.txt", '"odd-\\303(.txt"'),  # a lead byte without its continuation
    (b"tab\there", '"tab\\there"'), (b'a"b\\c', '"a\\"b\\\\c"'), (b"del\x7f", '"del\\177"'),
    ("caf\u00e9.txt".encode(), "caf\u00e9.txt"), (b"plain/path.py", "plain/path.py"),
])
def test_file_names_are_shown_as_git_quotes_them(raw: bytes, shown: str):
    assert shown_path(os.fsdecode(raw)) == shown
    assert shown.encode("utf-8").decode("utf-8") == shown  # always printable UTF-8


def test_a_name_keeps_its_bytes_through_str():
    name = os.fsdecode(b"d\xff/caf\xe9.txt")
    assert has_raw_bytes(name) and not has_raw_bytes("caf\u00e9")
    assert path_bytes(name) == b"d\xff/caf\xe9.txt"
