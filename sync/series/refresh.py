"""Write a patch back in one canonical form, and only when its change really changed.

The canonical form: the header and description byte for byte (the mbox ``From`` line fixed, a
stale diffstat dropped), then the diff exactly as ``sync.git.diff`` produces it, no signature.
A patch is rewritten only when its stable patch id changed, so moving line numbers, or a rebase
onto an unchanged upstream, rewrites nothing.
"""

from __future__ import annotations

import re

from sync.git.diff import SectionKey
from sync.series.model import Change, Patch
from sync.series.parse import parse_patch
from sync.series.patchid import patch_id

FIXED_FROM = b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
_MBOX_FROM = re.compile(rb"^From [^\s:]+ .*\n")
_DIFFSTAT = re.compile(rb"^ (.* \| +(\d+ ?[+-]*|Bin .*)|\d+ files? changed.*| (create|delete|"
                       rb"rename|copy|mode change) .*)\n$")


def canonical_preamble(preamble: bytes) -> bytes:
    """The header and description as written back: fixed ``From`` line, no diffstat."""
    text = _MBOX_FROM.sub(FIXED_FROM, preamble, count=1) if preamble.startswith(b"From ") \
        else preamble
    lines = text.split(b"\n")
    for index in range(len(lines) - 1, -1, -1):
        if lines[index] == b"---":
            tail = lines[index + 1:]
            if all(not line.strip() or _DIFFSTAT.match(line + b"\n") for line in tail):
                text = b"\n".join(lines[:index + 1]) + b"\n"
            break
    if text and not text.endswith(b"\n"):
        text += b"\n"
    return text


def render_patch(preamble: bytes, diff: bytes) -> bytes:
    """A whole patch file from its preamble and its diff text."""
    return canonical_preamble(preamble) + diff


def diff_part(patch: Patch) -> bytes:
    """The diff sections of ``patch`` as written in its file."""
    return patch.text[len(patch.preamble):]


def binary_sections(patch: Patch) -> dict[SectionKey, bytes]:
    """The binary sections of ``patch`` by what they do, to be reused byte for byte.

    Only sections whose ``index`` line names both blobs in full: the key must say exactly
    which content the section's data stands for.
    """
    found: dict[SectionKey, bytes] = {}
    for file in patch.files:
        old, new = file.old_oid or "", file.new_oid or ""
        if file.binary is None or len(old) != 40 or len(new) != 40 or file.span[1] == 0:
            continue
        if file.change is Change.ADD:
            key = ("A", file.path, old, new, 0, file.new_mode or 0)
        elif file.change is Change.DELETE:
            key = ("D", file.path, old, new, file.old_mode or 0, 0)
        elif file.change is Change.MODIFY:
            key = ("M", file.path, old, new, file.old_mode or 0, file.new_mode or 0)
        else:
            continue
        found[key] = patch.text[file.span[0]:file.span[1]]
    return found


def refreshed(patch: Patch, diff: bytes) -> bytes | None:
    """The new text of ``patch`` for ``diff``, or None when its change did not change.

    The patch id ignores whitespace; a patch whose context lines changed only in whitespace is
    still rewritten, or it would no longer apply exactly where it was refreshed.
    """
    if patch_id(diff) == patch_id(diff_part(patch)) and _hunks(patch) == _hunks(
            parse_patch(diff, patch.name, strip=patch.strip)):
        return None
    return render_patch(patch.preamble, diff)


def _hunks(patch: Patch) -> list[tuple[str, list[tuple[tuple[bytes, ...], tuple[bytes, ...]]]]]:
    """Each file's hunks as lines, without line numbers."""
    return [(file.path, [(hunk.before, hunk.after) for hunk in file.hunks])
            for file in patch.files]
