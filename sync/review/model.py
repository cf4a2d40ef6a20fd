"""What a review of an upstream bump holds: both upstream images, what changed in each target,
one row per patch (with its interdiff) and the rendered files that changed.

Every number here comes from the same place the other commands take it from: the rows are
``PatchReport``s (``rebase-patches --json``), the interdiffs ``PatchDelta``s (``patches
range-diff``), the image identities the upstream commits' trailers (``pull``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sync.series.engine import PatchReport
from sync.series.rangediff import Kind, PatchDelta
from sync.upstream import Upstream

NOT_TRIED = "not tried"  # after the patch a stopped rebase waits on
NEW = "new"  # in the series after, not before (added since, e.g. `patches new`)

# how the page and the markdown group statuses, from best to worst
CATEGORIES = ("clean", "offset", "fuzz", "merged", "partly upstream", "resolved",
              "absorbed", "empty", "dropped", "new", "conflict", "not tried")


def side_json(side: Upstream | None) -> dict[str, Any]:
    """One side of the review in ``--json``: the upstream commit and the image it records."""
    if side is None:
        return {"commit": None, "image": None, "tag": None, "digest": None, "image_id": None,
                "created": None}
    return {"commit": side.commit, "image": side.image, "tag": side.tag, "digest": side.digest,
            "image_id": side.image_id, "created": side.created}


@dataclass(frozen=True)
class TargetChanges:
    """Files added, removed and changed upstream under one target folder."""

    target: str
    added: int
    removed: int
    changed: int
    insertions: int = 0
    deletions: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target, "added": self.added, "removed": self.removed,
                "changed": self.changed, "insertions": self.insertions,
                "deletions": self.deletions}


@dataclass(frozen=True)
class PatchRow:
    """One patch: its rebase row (None for a patch new since), and what the patch became."""

    index: int
    name: str
    report: PatchReport | None
    delta: PatchDelta | None
    files: int = 0  # for rows without a report (new, not tried): the patch's own counts
    added: int = 0
    removed: int = 0
    paths: tuple[str, ...] = ()  # the files the patch changes (for syntax colours)

    @property
    def category(self) -> str:
        """The status the filter and the counts group by."""
        if self.report is None:
            return NEW if self.delta is not None and self.delta.kind is Kind.NEW else NOT_TRIED
        return "dropped" if self.report.dropped else self.report.status.value

    @property
    def status_text(self) -> str:
        if self.report is None:
            return self.category
        return self.report.status_text

    @property
    def counts(self) -> tuple[int, int, int]:
        """(files, added, removed) as the rebase reported them."""
        if self.report is None:
            return self.files, self.added, self.removed
        return self.report.files, self.report.added, self.report.removed

    @property
    def changed(self) -> bool:
        """True when the patch itself changed: its interdiff is worth reading."""
        return self.delta is not None and bool(self.delta.interdiff) and self.delta.kind not in (
            Kind.UNCHANGED, Kind.MOVED, Kind.NEW, Kind.DROPPED)

    def as_json(self) -> dict[str, Any]:
        files, added, removed = self.counts
        return {"index": self.index, "name": self.name, "status": self.category,
                "status_text": self.status_text, "files": files, "added": added,
                "removed": removed, "rebase": _rebase_row(self.report) if self.report else None,
                "range_diff": self.delta.as_json() if self.delta else None}


def _rebase_row(report: PatchReport) -> dict[str, Any]:
    """The patch's row with the fields and words of ``rebase-patches --json``."""
    return {"index": report.index, "name": report.name, "status": report.status.value,
            "status_text": report.status_text, "files": report.files, "added": report.added,
            "removed": report.removed, "offset": report.offset, "fuzz": report.fuzz,
            "evidence": list(report.evidence), "rewritten": report.rewritten,
            "dropped": report.dropped, "conflicts": list(report.conflicts),
            "renamed": [{"from": old, "to": new} for old, new in report.renamed],
            "rules": dict(report.rules)}


@dataclass(frozen=True)
class RenderedChange:
    """A rendered file (``docker/Dockerfile.<variant>``, ``docker-bake.json``) that changed."""

    path: str
    change: str  # "added", "removed", "changed"


@dataclass(frozen=True)
class Review:
    """The whole review; ``as_json`` is ``sync report --json``."""

    title: str  # what is compared, in words
    old: Upstream | None  # None when there is no such commit (e.g. the series records no base)
    new: Upstream | None
    targets: tuple[TargetChanges, ...]
    patches: tuple[PatchRow, ...]
    rendered: tuple[RenderedChange, ...] | None  # None: not applicable (a dry run)
    series_before: str  # where the series before was read (a commit id)
    series_after: str  # "work tree", "rebase in progress" or "dry run"
    stopped_at: str | None = None
    conflicts: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def count_by_status(self) -> dict[str, int]:
        counted = Counter(row.category for row in self.patches)
        return {category: counted[category] for category in CATEGORIES if counted[category]}

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "old": side_json(self.old), "new": side_json(self.new),
                "targets": [target.as_json() for target in self.targets],
                "patches": [row.as_json() for row in self.patches],
                "counts": self.count_by_status(),
                "rendered": None if self.rendered is None else
                [{"path": item.path, "change": item.change} for item in self.rendered],
                "series_before": self.series_before, "series_after": self.series_after,
                "stopped_at": self.stopped_at, "conflicts": list(self.conflicts),
                "notes": list(self.notes)}
