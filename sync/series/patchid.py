"""A patch's identity, as ``git patch-id --stable`` computes it.

Line numbers, whitespace, ``index`` lines and the order of file sections do not count; the
changed lines, their context, the file names and modes do. Two texts with the same id describe
the same change, so a refresh that only moves line numbers rewrites nothing.
"""

from __future__ import annotations

import hashlib
import re

from sync.series.parse import split_lines

_HUNK_COUNTS = re.compile(rb"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_WHITESPACE = re.compile(rb"[ \t\n\v\f\r]+")


def patch_id(diff: bytes) -> str:
    """The stable patch id (40 hex digits) of the diff text in ``diff``.

    Follows git's algorithm: each file section is hashed on its own (SHA-1 of its header lines
    and hunk lines with all whitespace removed, hunk headers skipped) and the per-section digests
    are added as 160-bit little-endian numbers, so section order does not matter.
    """
    total = bytearray(20)
    digest = hashlib.sha1()
    started = False
    before = after = -1
    binary = False
    old_oid = new_oid = b""

    def flush() -> None:
        nonlocal digest
        carry = 0
        for position, byte in enumerate(digest.digest()):
            carry += total[position] + byte
            total[position] = carry & 0xFF
            carry >>= 8
        digest = hashlib.sha1()

    lines = split_lines(_without_binary_data(diff))
    for number, line in enumerate(lines):
        if line.startswith(b"\\ ") and len(line) > 12:
            continue  # "\ No newline at end of file"
        if not started:
            plain = (line.startswith(b"--- ") and number + 1 < len(lines)
                     and lines[number + 1].startswith(b"+++ "))
            if not (line.startswith(b"diff ") or plain):
                continue
            started = True
        if before == -1:
            if line.startswith((b"GIT binary patch", b"Binary files")):
                binary = True
                before = 0
                digest.update(old_oid + new_oid)
                flush()
                continue
            if line.startswith(b"index "):
                old_oid, _, rest = line[6:].partition(b"..")
                new_oid = rest.split(b" ", 1)[0].rstrip(b"\r\n")
                continue
            if line.startswith(b"--- "):
                before = after = 1
            elif not line[:1].isalpha():
                break
        if binary:
            if line.startswith(b"diff "):
                binary = False
                before = -1
            else:
                continue
        if before == 0 and after == 0:
            match = _HUNK_COUNTS.match(line)
            if match:
                before = int(match.group(1)) if match.group(1) is not None else 1
                after = int(match.group(2)) if match.group(2) is not None else 1
                continue
            if not line.startswith((b"diff ", b"--- ")):
                break
            flush()
            before = after = -1
            old_oid = new_oid = b""
            if line.startswith(b"--- "):  # a plain diff without "diff" lines
                before = after = 1
        if line[:1] in (b"-", b" "):
            before -= 1
        if line[:1] in (b"+", b" "):
            after -= 1
        digest.update(_WHITESPACE.sub(b"", line))
    if not started:
        return "0" * 40
    flush()  # git flushes once more at the end, even right after a binary section
    return bytes(total).hex()


def _without_binary_data(diff: bytes) -> bytes:
    """``diff`` with the base85 lines of its binary sections cut out (only their ``index``
    lines count, and a binary section can hold megabytes of them)."""
    marker = b"\nGIT binary patch\n"
    start = diff.find(marker)
    if start < 0:
        return diff
    parts = []
    done = 0
    while start >= 0:
        cut = start + len(marker)
        parts.append(diff[done:cut])
        following = diff.find(b"\ndiff ", cut)
        done = following + 1 if following >= 0 else len(diff)
        start = diff.find(marker, done - 1) if following >= 0 else -1
    parts.append(diff[done:])
    return b"".join(parts)
