"""Paths named by patches are untrusted: strip, unquote and confine them to the targets."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from sync.untrusted import has_raw_bytes, shown_path

_OCTAL = re.compile(rb"\\([0-7]{3})|\\(.)", re.DOTALL)
_ESCAPES = {b"a": b"\a", b"b": b"\b", b"t": b"\t", b"n": b"\n", b"v": b"\v", b"f": b"\f",
            b"r": b"\r", b'"': b'"', b"\\": b"\\"}
# names git itself refuses as a path component, whatever the case (NTFS/HFS aliases of .git)
_GIT_ALIASES = {".git", "git~1"}


class PathProblem(ValueError):
    """A path is unsafe or malformed; the message says why."""


def unquote(raw: bytes) -> bytes:
    """git's C-style quoting: ``"a\\tb"`` -> ``a<TAB>b``; unquoted names are returned as is."""
    if len(raw) < 2 or not (raw.startswith(b'"') and raw.endswith(b'"')):
        return raw

    def replace(match: re.Match[bytes]) -> bytes:
        if match.group(1) is not None:
            return bytes([int(match.group(1), 8) & 0xFF])
        escaped = match.group(2)
        if escaped not in _ESCAPES:
            raise PathProblem(f"invalid escape \\{escaped.decode('latin-1')} in quoted name")
        return _ESCAPES[escaped]

    return _OCTAL.sub(replace, raw[1:-1])


def strip_components(raw: bytes, strip: int) -> str:
    """Remove ``strip`` leading components (``patch -pN``) and decode as UTF-8.

    A name that is not UTF-8 keeps its bytes as surrogate escapes (``os.fsdecode``'s
    ``surrogateescape``), as every path inside simapp-sync does; the git adapter writes the
    same bytes back.
    """
    name = unquote(raw)
    parts = name.split(b"/")
    if strip:
        if len(parts) <= strip:
            raise PathProblem(f"{shown_path(os.fsdecode(name))} has fewer than "
                              f"{strip + 1} path components for -p{strip}")
        parts = parts[strip:]
    return b"/".join(parts).decode("utf-8", "surrogateescape")


def check_path(path: str, targets: Sequence[str] | None) -> str:
    """``path`` as a clean relative path inside one of ``targets``; PathProblem otherwise."""
    if not path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise PathProblem(f"{_shown(path)} is not a relative path")
    if "\\" in path or "\0" in path:
        raise PathProblem(f"{_shown(path)} contains a backslash or NUL")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise PathProblem(f"{_shown(path)} has an empty, '.' or '..' component")
        folded = part.lower().rstrip(". ")
        if folded in _GIT_ALIASES or _is_ignorable_git(part):
            raise PathProblem(f"{_shown(path)} has a .git component")
    if targets is not None and not any(path == t or path.startswith(t + "/") for t in targets):
        raise PathProblem(f"{_shown(path)} is outside every target ({', '.join(targets)})")
    return path


def _is_ignorable_git(part: str) -> bool:
    # HFS+ ignores some zero-width code points: ".g\u200cit" is ".git" there
    if part.isascii():  # (they are not ASCII; nearly every path is)
        return False
    cleaned = "".join(char for char in part if char not in "\u200c\u200d\u200e\u200f\u202a"
                      "\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff")
    return cleaned != part and cleaned.lower().rstrip(". ") == ".git"


def _shown(path: str) -> str:
    return shown_path(path) if has_raw_bytes(path) else repr(path)
