"""What changed in each patch between two versions of a series: an interdiff, like
``git range-diff``, for the maintainer who reviews a rebase.

Patches are paired by name. A pair whose change is the same (same stable patch id) is
"unchanged", or "moved" when only its line numbers moved; otherwise the two diffs are compared
with line numbers and ``index`` lines taken out, and the interdiff is kept. A pair whose changed
lines have too little in common to be the same patch is marked for a full review rather than
shown as a small edit. A patch upstream now contains (its rebase status was "already upstream"
or "empty") is "absorbed", whether the series kept it or ``--drop-merged`` removed it.

Only what the patch changes counts: a pair that differs only in the format-patch signature
(``-- `` and the git version), ``index`` lines, line numbers or the diffstat is unchanged.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from sync.series.model import Patch
from sync.series.patchid import patch_id
from sync.series.refresh import canonical_preamble, diff_part

PAIRING_THRESHOLD = 0.4  # below this similarity of changed lines, a pair is not the same patch
_HUNK_HEADER = re.compile(rb"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?")


class Kind(str, Enum):
    UNCHANGED = "unchanged"
    MOVED = "moved"  # only line numbers moved
    DESCRIPTION = "description"  # the change is the same, the header or description is not
    CONTEXT = "context"  # the same lines added and removed, other context
    CHANGED = "changed"
    REVIEW = "review"  # too changed to pair: review in full
    NEW = "new"
    DROPPED = "dropped"
    ABSORBED = "absorbed"  # upstream contains the change now


SUMMARY_GROUPS = {"unchanged": (Kind.UNCHANGED, Kind.MOVED),
                  "changed": (Kind.DESCRIPTION, Kind.CONTEXT, Kind.CHANGED, Kind.REVIEW),
                  "added": (Kind.NEW,), "dropped": (Kind.DROPPED,),
                  "absorbed": (Kind.ABSORBED,)}


@dataclass(frozen=True)
class PatchDelta:
    """One patch's row in the range-diff."""

    name: str
    kind: Kind
    summary: str
    interdiff: bytes = b""  # a unified diff of the two (normalized) patches
    moved: int = 0  # the largest line shift of a hunk, for MOVED

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind.value, "summary": self.summary,
                "moved": self.moved,
                "interdiff": self.interdiff.decode("utf-8", "replace")}


def compare(name: str, old: Patch | None, new: Patch | None) -> PatchDelta:
    """How patch ``name`` changed from ``old`` to ``new`` (None: absent on that side)."""
    if old is None or new is None:
        if new is not None:
            return PatchDelta(name, Kind.NEW, "new", _unified(b"", bytes(new.text)))
        if old is not None:
            return PatchDelta(name, Kind.DROPPED, "dropped", _unified(bytes(old.text), b""))
        raise ValueError("compare needs at least one side")
    old_diff, new_diff = diff_part(old), diff_part(new)
    description = canonical_preamble(old.preamble) != canonical_preamble(new.preamble)
    if patch_id(old_diff) == patch_id(new_diff):
        moved = _moved(old, new)
        if description:
            return PatchDelta(name, Kind.DESCRIPTION, "description changed",
                              _unified(old.preamble, new.preamble), moved)
        if moved:
            return PatchDelta(name, Kind.MOVED, f"unchanged (moved {moved} lines)", b"", moved)
        return PatchDelta(name, Kind.UNCHANGED, "unchanged")
    old_lines, new_lines = normalized(old_diff), normalized(new_diff)
    interdiff = _unified_lines(old_lines, new_lines)
    if description:
        interdiff = _unified(old.preamble, new.preamble) + interdiff
    old_changed, new_changed = _changed(old_lines), _changed(new_lines)
    suffix = "; description changed" if description else ""
    if old_changed == new_changed:
        hunks = _changed_hunks(old, new)
        return PatchDelta(name, Kind.CONTEXT,
                          f"context changed in {hunks} hunk{'s' if hunks != 1 else ''}{suffix}",
                          interdiff)
    similarity = difflib.SequenceMatcher(None, old_changed, new_changed,
                                         autojunk=False).ratio()
    if similarity < PAIRING_THRESHOLD:
        return PatchDelta(name, Kind.REVIEW, "too changed to pair: review in full" + suffix,
                          interdiff)
    return PatchDelta(name, Kind.CHANGED, _changed_summary(old_changed, new_changed) + suffix,
                      interdiff)


def range_diff(before: Mapping[str, Patch], after: Mapping[str, Patch],
               absorbed: Collection[str] = ()) -> list[PatchDelta]:
    """One delta per patch name (series order): the new series' patches, then the dropped.

    ``absorbed``: the names of the patches upstream now contains (as the rebase found them).
    """
    rows = [_absorbed(name, True) if name in absorbed else compare(name, before.get(name), patch)
            for name, patch in after.items()]
    rows += [_absorbed(name, False) if name in absorbed else compare(name, patch, None)
             for name, patch in before.items() if name not in after]
    return rows


def summary_counts(deltas: Sequence[PatchDelta]) -> dict[str, int]:
    """How many patches are unchanged, changed, added, dropped and absorbed."""
    return {group: sum(1 for delta in deltas if delta.kind in kinds)
            for group, kinds in SUMMARY_GROUPS.items()}


def summary_line(counts: Mapping[str, int]) -> str:
    """E.g. "5 unchanged, 2 changed, 0 added, 1 dropped, 1 absorbed"."""
    return ", ".join(f"{counts[group]} {group}" for group in SUMMARY_GROUPS)


def _absorbed(name: str, kept: bool) -> PatchDelta:
    where = "still in the series" if kept else "dropped from the series"
    return PatchDelta(name, Kind.ABSORBED, f"absorbed: upstream contains it ({where})")


def normalized(diff: bytes) -> list[bytes]:
    """Diff lines without what a rebase changes anyway: ``index`` lines, hunk line numbers,
    the format-patch signature (``-- `` and what follows it)."""
    lines = []
    for line in _without_signature(diff).splitlines(keepends=True):
        if line.startswith(b"index "):
            continue
        lines.append(_HUNK_HEADER.sub(b"@@ ", line) if line.startswith(b"@@ ") else line)
    return lines


def _without_signature(diff: bytes) -> bytes:
    """``diff`` without a trailing format-patch signature ("-- " and the git version)."""
    at = diff.rfind(b"\n-- \n")
    if at != -1 and len(diff[at + 5:].strip().splitlines()) <= 1:
        return diff[:at + 1]
    return diff


def _changed(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if line[:1] in (b"+", b"-")
            and not line.startswith((b"+++ ", b"--- "))]


def _moved(old: Patch, new: Patch) -> int:
    shifts = [after.new_start - before.new_start
              for old_file, new_file in zip(old.files, new.files, strict=False)
              for before, after in zip(old_file.hunks, new_file.hunks, strict=False)]
    return max((abs(shift) for shift in shifts), default=0)


def _changed_hunks(old: Patch, new: Patch) -> int:
    known = {(hunk.before, hunk.after) for file in old.files for hunk in file.hunks}
    return sum(1 for file in new.files for hunk in file.hunks
               if (hunk.before, hunk.after) not in known)


def _changed_summary(old: list[bytes], new: list[bytes]) -> str:
    """E.g. "changed: -tensorflow==2.12 +tensorflow==2.13" for a small edit."""
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    gone = [line for tag, i1, i2, _j1, _j2 in matcher.get_opcodes() if tag != "equal"
            for line in old[i1:i2]]
    came = [line for tag, _i1, _i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
            for line in new[j1:j2]]
    if len(gone) + len(came) <= 2:
        words = [_short(line[1:]) for line in gone] + [_short(line[1:]) for line in came]
        signs = ["-"] * len(gone) + ["+"] * len(came)
        return "changed: " + " ".join(sign + word for sign, word in zip(signs, words,
                                                                        strict=True))
    return f"changed: {len(gone)} changed lines out, {len(came)} in"


def _short(line: bytes, limit: int = 40) -> str:
    text = line.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _unified(old: bytes, new: bytes) -> bytes:
    return _unified_lines(old.splitlines(keepends=True), new.splitlines(keepends=True))


def _unified_lines(old: list[bytes], new: list[bytes]) -> bytes:
    lines = difflib.diff_bytes(difflib.unified_diff, old, new, b"old", b"new", n=3)
    out = []
    for line in lines:
        out.append(line if line.endswith(b"\n") else line + b"\n")
    return b"".join(out)
