"""What applying a patch did: a status per patch, per file and per hunk, with the evidence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from sync.series.hunks import HunkResult, Landing
from sync.series.overlay import File


class Status(str, Enum):
    """How a patch (or one file of it) landed, from best to worst."""

    CLEAN = "clean"
    OFFSET = "offset"
    FUZZ = "fuzz"
    MERGED = "merged"
    PARTLY_UPSTREAM = "partly upstream"
    ALREADY_UPSTREAM = "absorbed"  # every change of the patch is upstream already
    EMPTY = "empty"
    RESOLVED = "resolved"  # a conflict the maintainer resolved (--continue)
    SKIPPED = "skipped"  # dropped at a conflict (--skip)
    CONFLICT = "conflict"

    @property
    def needs_refresh(self) -> bool:
        """The patch text no longer describes the change exactly: regenerate it."""
        return self in (Status.FUZZ, Status.MERGED, Status.PARTLY_UPSTREAM, Status.RESOLVED)

    @property
    def absorbed(self) -> bool:
        """Nothing of the patch is left to apply: ``--drop-merged`` removes it."""
        return self in (Status.ALREADY_UPSTREAM, Status.EMPTY)


NOT_TRIED = "not tried"  # after the patch a series stopped at
# The one vocabulary of a patch's status in every --json document (rebase-patches, patches
# list, check, status); sync/schemas/*.schema.json enumerate it.
PATCH_STATUSES: tuple[str, ...] = (*(status.value for status in Status), NOT_TRIED)


@dataclass(frozen=True)
class Conflict:
    """A file left with conflict markers; the sides become index stages 1, 2 and 3."""

    path: str
    base: File | None
    ours: File | None
    theirs: File | None
    merged: File | None  # what goes into the work tree
    reason: str = "conflicting changes"


@dataclass(frozen=True)
class FileOutcome:
    """One file section: its status, and where each hunk went."""

    path: str
    status: Status
    hunks: tuple[HunkResult, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class PatchOutcome:
    """Everything one patch did to the tree: ``before`` and ``after`` of every touched path."""

    status: Status
    files: tuple[FileOutcome, ...]
    before: Mapping[str, File | None]
    after: Mapping[str, File | None]
    conflicts: tuple[Conflict, ...] = ()
    evidence: tuple[str, ...] = field(default=())
    renames: tuple[tuple[str, str], ...] = ()  # upstream renames followed: (old, new path)
    rules: Mapping[str, str] = field(default_factory=dict)  # path -> merge rule that acted

    @property
    def changed(self) -> bool:
        return any(self.before.get(path) != file for path, file in self.after.items())


def status_text(status: Status, *, offset: int = 0, fuzz: int = 0, dropped: bool = False,
                renamed: bool = False) -> str:
    """A status in the words every report uses: "offset +7", "fuzz 1", "merged (3-way)"...

    ``renamed``: the patch followed an upstream rename; ``dropped``: ``--drop-merged`` or
    ``--skip`` removed it from the series.
    """
    if status is Status.OFFSET:
        text = f"offset {offset:+d}"
    elif status is Status.FUZZ:
        text = f"fuzz {fuzz}"
    elif status is Status.MERGED:
        text = "merged (3-way)"
    else:
        text = status.value
    if renamed:
        text += " (followed rename)"
    return text + (" (dropped)" if dropped else "")


def hunks_status(results: Sequence[HunkResult]) -> Status:
    """A file's status from where its hunks landed."""
    already = sum(1 for result in results if result.landing is Landing.ALREADY)
    if results and already == len(results):
        return Status.ALREADY_UPSTREAM
    if already:
        return Status.PARTLY_UPSTREAM
    if any(result.fuzz for result in results):
        return Status.FUZZ
    if any(result.offset for result in results):
        return Status.OFFSET
    return Status.CLEAN


def patch_status(files: Sequence[FileOutcome], changed: bool) -> Status:
    """A patch's status from its files' (``changed``: whether it changed the tree at all)."""
    statuses = {file.status for file in files}
    if Status.CONFLICT in statuses:
        return Status.CONFLICT
    if not files:
        return Status.EMPTY
    if not changed:
        absorbed = {Status.ALREADY_UPSTREAM, Status.PARTLY_UPSTREAM, Status.MERGED}
        return Status.ALREADY_UPSTREAM if statuses & absorbed else Status.EMPTY
    # a file already upstream leaves a stale section whatever the others did (an offset, say):
    # partly upstream, so the patch is refreshed
    statuses |= {Status.PARTLY_UPSTREAM} if Status.ALREADY_UPSTREAM in statuses else set()
    return next((status for status in (Status.MERGED, Status.PARTLY_UPSTREAM, Status.FUZZ,
                                       Status.OFFSET) if status in statuses), Status.CLEAN)
