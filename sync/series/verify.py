"""Is a tree exactly "upstream + the series"? The one drift computation of simapp-sync.

`sync check`, the render gate and `sync patches new` all ask the same question: apply the series
(fuzz 0, 3-way from the recorded base) onto an upstream tree, in memory, and compare the result
with the targets of another tree (the work tree's snapshot, or a commit's). Each differing path
is one ``Drift``: modified, missing from the tree, or not explained by upstream + series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from sync.git import Repository, worktree
from sync.git.repo import commit_by_id
from sync.git.trees import TreeSource, read_blob
from sync.series.engine import SeriesResult, apply_series
from sync.series.guard import new_markers
from sync.series.load import LoadedSeries
from sync.series.outcome import NOT_TRIED, Status

LISTED = 20  # drifting files named in a message; the rest are counted


class DriftKind(str, Enum):
    """How a path of the targets differs from upstream + series."""

    MODIFIED = "modified"
    MISSING = "missing"  # expected, absent from the tree checked
    UNEXPLAINED = "unexplained"  # present, but neither upstream nor a patch has it

    @property
    def description(self) -> str:
        return {DriftKind.MODIFIED: "modified",
                DriftKind.MISSING: "missing from the work tree",
                DriftKind.UNEXPLAINED: "not explained by the series"}[self]


@dataclass(frozen=True)
class Drift:
    """One path under the targets that differs from what upstream + series gives."""

    path: str
    kind: DriftKind

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "kind": self.kind.value}


@dataclass(frozen=True)
class Inexact:
    """A patch that landed, but not as ``git apply`` / ``quilt push --fuzz=0`` would apply it:
    it needed fuzz or a 3-way merge, or its change is (partly) upstream already, or empty."""

    patch: str
    status: str
    evidence: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"patch": self.patch, "status": self.status, "evidence": list(self.evidence)}


EXACT = (Status.CLEAN, Status.OFFSET)


@dataclass(frozen=True)
class Verification:
    """The series applied onto ``upstream``, and how ``actual`` differs from the result.

    ``drift`` is empty when the series stopped at a conflict (nothing to compare with).
    """

    upstream: str  # the upstream tree the series was applied to
    applied: SeriesResult
    drift: tuple[Drift, ...]
    inexact: tuple[Inexact, ...] = ()
    markers: tuple[str, ...] = ()  # files the series leaves with conflict-marker lines

    @property
    def clean(self) -> bool:
        return (self.applied.stop is None and not self.drift and not self.inexact
                and not self.markers)


def base_tree(repo: Repository, loaded: LoadedSeries) -> str | None:
    """The tree of the series' recorded upstream commit, when this repository has it."""
    if loaded.series.base is None:
        return None
    found = commit_by_id(repo, loaded.series.base)
    return str(found.tree_id) if found is not None else None


def expected_tree(repo: Repository, loaded: LoadedSeries, upstream: str) -> SeriesResult:
    """The series applied onto tree ``upstream`` at fuzz 0 (3-way from the recorded base)."""
    return apply_series(repo, list(loaded.patches), upstream, base=base_tree(repo, loaded))


def statuses(repo: Repository, loaded: LoadedSeries, upstream: str) -> list[tuple[str, str]]:
    """Each patch's status and its text ("offset", "offset +3") applied onto tree ``upstream``
    (``expected_tree``'s rules); after a conflict, the later patches are "not tried"."""
    applied = expected_tree(repo, loaded, upstream)
    reports = [*applied.reports, *([applied.stop.report] if applied.stop else [])]
    found = [(report.status.value, report.status_text) for report in reports]
    return found + [(NOT_TRIED, NOT_TRIED)] * (len(loaded.patches) - len(found))


def drift_between(repo: Repository, expected: str, actual: str,
                  targets: Sequence[str]) -> tuple[Drift, ...]:
    """Every path under ``targets`` where tree ``actual`` differs from tree ``expected``."""
    wanted = TreeSource(repo, expected)
    found = []
    for change in worktree.changes_between(repo, expected, actual, targets):
        if change.entry is None:
            kind = DriftKind.MISSING
        elif wanted.entry(change.path) is None:
            kind = DriftKind.UNEXPLAINED
        else:
            kind = DriftKind.MODIFIED
        found.append(Drift(change.path, kind))
    return tuple(found)


def verify(repo: Repository, loaded: LoadedSeries, upstream: str, actual: str,
           targets: Sequence[str]) -> Verification:
    """Apply ``loaded`` onto tree ``upstream`` and compare the targets of tree ``actual``."""
    applied = expected_tree(repo, loaded, upstream)
    if applied.stop is not None:
        return Verification(upstream, applied, ())
    drift = drift_between(repo, applied.tree, actual, targets)
    inexact = tuple(Inexact(report.name, report.status_text, tuple(report.evidence))
                    for report in applied.reports if report.status not in EXACT)
    return Verification(upstream, applied, drift, inexact,
                        marked_files(repo, upstream, applied.tree, targets))


def marked_files(repo: Repository, upstream: str, patched: str,
                 targets: Sequence[str]) -> tuple[str, ...]:
    """Files the series changed that hold conflict-marker lines upstream's file did not."""
    before = TreeSource(repo, upstream)
    found = []
    for change in worktree.changes_between(repo, upstream, patched, targets):
        if change.entry is None or change.entry.mode == worktree.MODE_SYMLINK:
            continue
        old = before.entry(change.path)
        texts = [read_blob(repo, old.oid)] if old is not None else []
        if new_markers(read_blob(repo, change.entry.oid), texts):
            found.append(change.path)
    return tuple(found)


def inexact_lines(inexact: Sequence[Inexact], upstream: str, limit: int = LISTED) -> str:
    """Indented lines naming each patch that does not apply exactly, with its hunks."""
    lines = []
    for item in inexact[:limit]:
        lines.append(f"  {item.patch} does not apply exactly (fuzz 0) to {upstream}: "
                     f"{item.status}")
        lines.extend(f"    {line}" for line in item.evidence)
    if len(inexact) > limit:
        lines.append(f"  ... and {len(inexact) - limit} more")
    return "\n".join(lines)


def drift_lines(drift: Sequence[Drift], limit: int = LISTED) -> str:
    """Indented ``path (what)`` lines for a message, the first ``limit`` named."""
    lines = [f"  {item.path} ({item.kind.description})" for item in drift[:limit]]
    if len(drift) > limit:
        lines.append(f"  ... and {len(drift) - limit} more")
    return "\n".join(lines)
