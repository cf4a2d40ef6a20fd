"""Untrusted text: control characters are found, and every spelling of ``.git`` is recognised."""

from __future__ import annotations

import pytest

from sync.untrusted import control_character, is_git_special


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
