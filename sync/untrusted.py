"""Checks on text that comes from outside (image configs, registries, manifests, trailers).

A newline or another control character in such text could forge a commit-message trailer, a
Dockerfile instruction or a terminal escape; a name that git folds to ``.git`` could write into
the repository's own metadata. These predicates are shared by every module that records or
renders such text, so the rule is the same everywhere.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path

# Code points git ignores when it compares a name with ".git" on HFS+ (see git's utf8.c,
# is_hfs_dotgit): zero-width joiners and marks, direction overrides, the byte-order mark.
_HFS_IGNORED = frozenset(
    [0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x206A, 0x206B,
     0x206C, 0x206D, 0x206E, 0x206F, 0xFEFF])


def control_character(text: str) -> str | None:
    """The first control character (or line/paragraph separator) in ``text``, else None."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return char
    return None


def is_git_special(component: str) -> bool:
    """True when git, on some filesystem, would treat path component ``component`` as ``.git``.

    Covers case (``.GIT``), NTFS short names (``git~1``), NTFS trailing dots and spaces and
    alternate streams (``.git.``, ``.git ``, ``.git::$INDEX_ALLOCATION``) and the characters
    HFS+ ignores (``.g\\u200cit``).
    """
    folded = "".join(char for char in component if ord(char) not in _HFS_IGNORED).lower()
    base = folded.split(":", 1)[0].rstrip(". ")
    return base in (".git", "git~1")


def symlinked_folder(root: Path, relative: str) -> str | None:
    """The first folder on the way from ``root`` to ``relative`` that is a symlink (or not a
    folder), as a path relative to ``root``; None when every existing folder is a real one.

    Writers check this before they create or replace a file, so that a symlinked folder in a
    checkout cannot send their output outside the repository.
    """
    parts = [part for part in relative.split("/")[:-1] if part not in ("", ".")]
    current = root
    for index, part in enumerate(parts):
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return None  # created as a real folder from here on
        if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
            return "/".join(parts[:index + 1])
    return None
