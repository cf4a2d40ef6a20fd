"""Write a patch back in one canonical form, and only when its change really changed.

The canonical form: the header and description byte for byte (the mbox ``From`` line fixed, a
stale diffstat dropped), then the diff exactly as ``sync.git.diff`` produces it, no signature.
A patch is rewritten only when its stable patch id changed, so moving line numbers, or a rebase
onto an unchanged upstream, rewrites nothing.

A grouped patch can be a 100 MB mail, mostly binary sections. ``refresh`` works on its file
sections: a binary section whose change is unchanged is reused as a view of the old text (no
copy, nothing decoded or encoded again), sections equal byte for byte are not hashed or parsed
again, and the new text is a ``PatchText``: its parts, stored and written one after the other
rather than joined. ``refreshed`` is the same decision on whole texts; both give the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from sync.git.diff import AddedOrDeleted, DiffText, SectionKey
from sync.git.mapped import let_go
from sync.series.model import Change, FilePatch, Patch
from sync.series.parse import parse_patch
from sync.series.patchid import patch_id

FIXED_FROM = b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
_MBOX_FROM = re.compile(rb"^From [^\s:]+ .*\n")
_SIGNATURE = re.compile(rb"(?:--[ ]?\r?\n[\s\S]*)?\s*")  # what may follow the last section
_DIFF_LINE = re.compile(rb"^diff ", re.MULTILINE)
_BINARY_MARKS = (b"\nGIT binary patch\n", b"\nBinary files ")
_BLOCK = 1 << 20
_HEAD = 1 << 16  # a section's header (its paths included) fits in this many bytes
_DIFFSTAT = re.compile(rb"^ (.* \| +(\d+ ?[+-]*|Bin .*)|\d+ files? changed.*|(create|delete|"
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


class PatchText:
    """A patch file's text: its parts in order (bytes, or views of another patch's text), or
    the blob they were stored as (``oid``, read back only if asked for).

    ``bytes(text)`` gives the whole text; ``parts`` are for hashing, storing and writing it
    without ever holding it twice.
    """

    __slots__ = ("_read", "oid", "parts")

    def __init__(self, parts: Sequence[bytes | memoryview] = (), *, oid: str | None = None,
                 read: Callable[[], bytes] | None = None) -> None:
        self.parts = tuple(parts)
        self.oid = oid
        self._read = read

    def __bytes__(self) -> bytes:
        return self._read() if self._read is not None else b"".join(self.parts)


def binary_sections(patch: Patch) -> dict[SectionKey, memoryview]:
    """The binary sections of ``patch`` by what they do, to be reused byte for byte.

    Only sections whose ``index`` line names both blobs in full: the key must say exactly
    which content the section's data stands for. Each is a view of the patch's text.
    """
    found: dict[SectionKey, memoryview] = {}
    for file, section in zip(patch.files, patch.sections, strict=True):
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
        found[key] = section
    return found


def unpaired(patch: Patch) -> set[AddedOrDeleted]:
    """The additions and deletions ``patch`` has as such, by blob id (abbreviated as its
    ``index`` lines have it, 7 digits or more): its author's diff did not pair them as renames,
    and the refresh keeps them so (``diff_counted``). None of them when the patch renames or
    copies a file: its form came from a search for renames, which the refresh makes again."""
    found: set[AddedOrDeleted] = set()
    for file in patch.files:
        if file.change in (Change.RENAME, Change.COPY):
            return set()
        letter, oid = {Change.ADD: ("A", file.new_oid),
                       Change.DELETE: ("D", file.old_oid)}.get(file.change, ("", None))
        if oid is not None and len(oid) >= 7 and oid.strip("0"):
            found.add((letter, file.path, oid.lower()))
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


def refresh(patch: Patch, diff: DiffText) -> PatchText | None:
    """``refreshed`` on ``diff``'s sections: the same decision and the same bytes, as parts.

    The old patch's sections are compared with the new ones position by position: a pair
    equal byte for byte adds the same to both patch ids (see ``_settled``) and has the same
    hunks, so only the pairs that differ are hashed and parsed.
    """
    old = _sections(patch)
    if old is None:  # not one section after another: decided on the whole texts
        text = refreshed(patch, diff.text)
        return None if text is None else PatchText((text,))
    new = diff.sections
    if len(old) == len(new):
        differ = {index for index in range(len(new)) if not _same(old[index], new[index])}
        if not differ:
            return None
        kept = [index for index in range(len(new)) if not _settled(index, old, new, differ)]
        if patch_id(b"".join(_for_id(new[k]) for k in kept)) == patch_id(
                b"".join(_for_id(old[k]) for k in kept)) and all(
                _hunks_of([patch.files[k]]) == _hunks_of(parse_patch(
                    bytes(new[k]), patch.name, strip=patch.strip).files) for k in sorted(differ)):
            return None
    return PatchText((canonical_preamble(patch.preamble), *new))


def _sections(patch: Patch) -> list[memoryview] | None:
    """The file sections of ``patch`` as views of its text, when they follow one another
    from the end of the preamble with nothing between them (only a signature after them)."""
    at = len(patch.preamble)
    found = []
    for file, section in zip(patch.files, patch.sections, strict=True):
        start, end = file.span
        if start != at or end <= start:
            return None
        found.append(section)
        at = end
    if not _SIGNATURE.fullmatch(patch.text, at) or _DIFF_LINE.search(patch.text, at):
        return None  # (the patch id would read a "diff" line after a binary section)
    return found


def _same(one: bytes | memoryview, other: bytes | memoryview) -> bool:
    """Equal bytes (views compared a block at a time: memoryview's own == goes byte by byte;
    a reused section is the old one itself, known equal without reading it)."""
    if one is other or (isinstance(one, bytes) and isinstance(other, bytes)):
        return one is other or one == other
    if len(one) != len(other):
        return False
    for at in range(0, len(one), _BLOCK):
        equal = bytes(one[at:at + _BLOCK]) == bytes(other[at:at + _BLOCK])
        let_go(one)  # (a view of a mapped patch file: its pages are read again if needed)
        let_go(other)
        if not equal:
            return False
    return True


def _kind(section: bytes | memoryview) -> str:
    """"binary", "hunks" or "header" (a section without hunks or data, such as a mode change)."""
    head = bytes(section[:_HEAD])
    if any(mark in head for mark in _BINARY_MARKS):
        return "binary"
    return "hunks" if b"\n@@ " in head else "header"


def _settled(index: int, old: Sequence[bytes | memoryview],
             new: Sequence[bytes | memoryview], differ: set[int]) -> bool:
    """Whether the equal pair at ``index`` can be left out of both patch ids.

    The stable patch id adds one digest per section, except that a section without hunks or
    data is hashed together with the one after it, and that the id gets one more digest when
    the text ends with a binary section. So a pair is left out when it is a section of its
    own, follows sections of their own on both sides, and is not the last.
    """
    if index in differ or index == len(new) - 1 or _kind(new[index]) == "header":
        return False
    return index == 0 or (_kind(old[index - 1]) != "header"
                          and _kind(new[index - 1]) != "header")


def _for_id(section: bytes | memoryview) -> bytes:
    """What the patch id reads of a section: a binary one's header, without its data."""
    head = bytes(section[:_HEAD])
    mark = head.find(_BINARY_MARKS[0])
    if mark >= 0:
        return head[:mark + len(_BINARY_MARKS[0])]
    return bytes(section)


def _hunks_of(files: Sequence[FilePatch]
              ) -> list[tuple[str, list[tuple[tuple[bytes, ...], tuple[bytes, ...]]]]]:
    return [(file.path, [(hunk.before, hunk.after) for hunk in file.hunks]) for file in files]


def _hunks(patch: Patch) -> list[tuple[str, list[tuple[tuple[bytes, ...], tuple[bytes, ...]]]]]:
    """Each file's hunks as lines, without line numbers."""
    return [(file.path, [(hunk.before, hunk.after) for hunk in file.hunks])
            for file in patch.files]
