"""Checks on text that comes from outside (image configs, registries, manifests, trailers).

A newline or another control character in such text could forge a commit-message trailer, a
Dockerfile instruction or a terminal escape; a name that git folds to ``.git`` could write into
the repository's own metadata. These predicates are shared by every module that records or
renders such text, so the rule is the same everywhere.

File names are ``str`` everywhere inside simapp-sync; a name that is not UTF-8 holds its bytes as
surrogate escapes (``os.fsdecode``), and ``shown_path`` is how such a name is printed.
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


_C_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f",
              0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def path_bytes(path: str) -> bytes:
    """The bytes of file name ``path`` (surrogate escapes back to the bytes they stand for)."""
    return path.encode("utf-8", "surrogateescape")


def shown_path(path: str) -> str:
    """``path`` as git prints it: C-quoted with octal escapes (``"caf\\351.txt"``) when it is not
    UTF-8 or holds a control character, a double quote or a backslash; as it is otherwise.

    The result is always valid UTF-8 text, so it can go into a message, a JSON document or a page.
    """
    try:
        raw = path_bytes(path)
    except UnicodeEncodeError:  # a lone surrogate no file name decodes to: shown, never fatal
        raw = path.encode("utf-8", "surrogatepass")
    if raw.decode("utf-8", "replace") == path and not any(
            byte < 0x20 or byte in (0x22, 0x5C, 0x7F) for byte in raw):
        return path
    out = []
    for byte in raw:
        if byte in _C_ESCAPES:
            out.append(_C_ESCAPES[byte])
        elif byte < 0x20 or byte >= 0x7F:
            out.append(f"\\{byte:03o}")
        else:
            out.append(chr(byte))
    return '"' + "".join(out) + '"'


def has_raw_bytes(text: str) -> bool:
    """Whether ``text`` holds bytes that are not UTF-8 (as surrogate escapes)."""
    return any("\udc80" <= char <= "\udcff" for char in text)


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
