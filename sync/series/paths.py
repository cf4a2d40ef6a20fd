"""Paths named by patches are untrusted: strip, unquote and confine them to the targets."""

from __future__ import annotations

import re
from collections.abc import Sequence

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


def quote(path: str) -> str:
    """The inverse of ``unquote`` for the names git would quote (used when writing headers)."""
    raw = path.encode("utf-8", "surrogateescape")
    if not any(byte < 0x20 or byte in (0x22, 0x5C, 0x7F) or byte >= 0x80 for byte in raw):
        return path
    out = []
    reverse = {value: key for key, value in _ESCAPES.items()}
    for byte in raw:
        char = bytes([byte])
        if char in reverse:
            out.append("\\" + reverse[char].decode())
        elif byte < 0x20 or byte >= 0x7F:
            out.append(f"\\{byte:03o}")
        else:
            out.append(char.decode())
    return '"' + "".join(out) + '"'


def strip_components(raw: bytes, strip: int) -> str:
    """Remove ``strip`` leading components (``patch -pN``) and decode as UTF-8."""
    name = unquote(raw)
    parts = name.split(b"/")
    if strip:
        if len(parts) <= strip:
            raise PathProblem(f"{name.decode('utf-8', 'replace')!r} has fewer than "
                              f"{strip + 1} path components for -p{strip}")
        parts = parts[strip:]
    try:
        return b"/".join(parts).decode("utf-8")
    except UnicodeDecodeError:
        raise PathProblem(f"path {name!r} is not valid UTF-8") from None


def check_path(path: str, targets: Sequence[str] | None) -> str:
    """``path`` as a clean relative path inside one of ``targets``; PathProblem otherwise."""
    if not path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise PathProblem(f"{path!r} is not a relative path")
    if "\\" in path or "\0" in path:
        raise PathProblem(f"{path!r} contains a backslash or NUL")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise PathProblem(f"{path!r} has an empty, '.' or '..' component")
        folded = part.lower().rstrip(". ")
        if folded in _GIT_ALIASES or _is_ignorable_git(part):
            raise PathProblem(f"{path!r} has a .git component")
    if targets is not None and not any(path == t or path.startswith(t + "/") for t in targets):
        raise PathProblem(f"{path!r} is outside every target ({', '.join(targets)})")
    return path


def _is_ignorable_git(part: str) -> bool:
    # HFS+ ignores some zero-width code points: ".g\u200cit" is ".git" there
    cleaned = "".join(char for char in part if char not in "\u200c\u200d\u200e\u200f\u202a"
                      "\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff")
    return cleaned != part and cleaned.lower().rstrip(". ") == ".git"
