"""The render gate, shared by `render` and `build` (not a command itself).

Images are built only from a tree that is exactly "current upstream + the series". Before
anything is written or built:

1. the series is applied, in memory, to the tip of the upstream branch (fuzz 0: fuzz can
   misapply silently, so a patch that needs it is not clean); a conflict refuses, naming the
   patch and its files;
2. the work tree's targets must equal that result (what `sync check` verifies); any drifting
   file refuses, named.

Both refusals are ``CheckFailed`` (exit 1). The gate reads the work tree and the object database
only; the blobs it stores on the way are unreferenced and harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from sync.errors import CheckFailed, GitError, PatchError
from sync.git import repo as gitrepo
from sync.git import worktree
from sync.git.objects import ObjectWriter
from sync.git.trees import DirectBlobWriter, TreeSource, update_tree
from sync.manifest import Manifest
from sync.render import Upstream
from sync.series.engine import PatchReport, Rebase, SeriesPatch
from sync.series.outcome import Status
from sync.series.overlay import Overlay
from sync.series.parse import parse_patch
from sync.series.seriesfile import Series, empty_series, parse_series
from sync.series.state import StateStore
from sync.ui import short_oid
from sync.upstream import UpstreamRecord

PATCHES = "patches"
SERIES = f"{PATCHES}/series"
LISTED = 20  # drifting files named in the message; the rest are counted


@dataclass(frozen=True)
class GateResult:
    """The gate passed: what the images get labelled with, and how each patch landed."""

    upstream: Upstream
    reports: tuple[PatchReport, ...]

    def summary(self) -> str:
        """One line for the command's output, e.g. "3 patches apply to upstream 1a2b3c4 ..."."""
        counts: dict[str, int] = {}
        for report in self.reports:
            counts[report.status.value] = counts.get(report.status.value, 0) + 1
        detail = ", ".join(f"{count} {status}" for status, count in counts.items())
        patches = f"{len(self.reports)} patch{'es' if len(self.reports) != 1 else ''}"
        return (f"series: {patches} apply to upstream {short_oid(self.upstream.commit)}"
                f"{f' ({detail})' if detail else ''}; the work tree matches")


def render_gate(repo: pygit2.Repository, manifest: Manifest) -> GateResult:
    """Pass (returning the upstream identity) or raise ``CheckFailed`` naming what is wrong."""
    tip = gitrepo.branch_tip(repo, manifest.branch)
    if tip is None:
        raise GitError(f"branch {manifest.branch!r} does not exist: nothing to render from",
                       hint="run `python -m sync pull` first")
    if StateStore(Path(repo.path)).exists():
        raise CheckFailed("a rebase-patches is in progress: the series is not settled",
                          hint="finish it with `python -m sync rebase-patches --continue` "
                               "(or --skip / --abort), then try again")
    upstream = _upstream(tip, manifest)
    snap = worktree.snapshot(repo, (*manifest.targets, PATCHES))
    disk = TreeSource(repo, snap.tree)
    series = _load_series(disk)
    engine = Rebase(repo, _load_patches(series, disk, manifest.targets),
                    Overlay(TreeSource(repo, str(tip.tree_id))), _old_chain(repo, series),
                    DirectBlobWriter(repo), fuzz=0)
    stop = engine.run()
    where = f"upstream {short_oid(upstream.commit)}"
    if stop is not None:
        raise CheckFailed(
            f"the patch series does not apply cleanly to {where}:\n"
            + _patch_lines([*engine.reports, stop.report])
            + "\n  (later patches were not tried)",
            hint="run `python -m sync rebase-patches`, resolve the conflicts, commit, then "
                 "try again")
    with ObjectWriter(repo) as writer:
        expected = update_tree(repo, str(tip.tree_id), engine.new.entries(writer))
    drift = worktree.changes_between(repo, expected, snap.tree, manifest.targets)
    if drift:
        raise CheckFailed(
            f"the work tree's targets differ from {where} + series:\n"
            + _drift_lines(drift, TreeSource(repo, expected)),
            hint="capture intended edits with `python -m sync patches new NAME`, or run "
                 "`python -m sync rebase-patches` to rewrite the targets (`python -m sync "
                 "check` shows the drift)")
    return GateResult(upstream, tuple(engine.reports))


def _upstream(tip: pygit2.Commit, manifest: Manifest) -> Upstream:
    record = UpstreamRecord.from_trailers(gitrepo.trailers(tip.message))
    if record is None:  # a branch made by hand: label with what the manifest asks for
        return Upstream(commit=str(tip.id), image=manifest.reference, digest=manifest.digest)
    return Upstream(commit=str(tip.id), image=record.image, digest=record.digest,
                    image_id=record.image_id)


# The two loaders below mirror what `rebase-patches` reads (the series and patches as they are
# in the work tree); they belong in sync/series once that package exposes a loader.
def _load_series(disk: TreeSource) -> Series:
    entry = disk.entry(SERIES)
    if entry is None:
        return empty_series(SERIES)
    return parse_series(disk.read(entry.oid), SERIES)


def _load_patches(series: Series, disk: TreeSource,
                  targets: Sequence[str]) -> list[SeriesPatch]:
    patches = []
    for entry in series.entries:
        found = disk.entry(f"{PATCHES}/{entry.name}")
        if found is None:
            raise PatchError(f"{SERIES}:{entry.line}: {entry.name}: no such patch file in "
                             f"{PATCHES}/", hint="restore the file or remove its line")
        patch = parse_patch(disk.read(found.oid), f"{PATCHES}/{entry.name}",
                            strip=entry.strip, targets=targets)
        patches.append(SeriesPatch(entry, patch))
    return patches


def _old_chain(repo: pygit2.Repository, series: Series) -> Overlay | None:
    """The recorded base, which lets a moved hunk land by a 3-way merge as rebase would."""
    if series.base is None:
        return None
    found = repo.get(series.base)
    if not isinstance(found, pygit2.Commit):
        return None
    return Overlay(TreeSource(repo, str(found.tree_id)))


def _patch_lines(reports: Sequence[PatchReport]) -> str:
    lines = []
    for report in reports:
        if report.status in (Status.CONFLICT, Status.FUZZ):
            files = ", ".join(report.conflicts) or "the patch"
            lines.append(f"  {report.name}: {report.status.value} in {files}")
    return "\n".join(lines)


def _drift_lines(drift: Sequence[worktree.Change], expected: TreeSource) -> str:
    lines = []
    for change in drift[:LISTED]:
        if change.entry is None:
            what = "missing from the work tree"
        elif expected.entry(change.path) is None:
            what = "not explained by the series"
        else:
            what = "modified"
        lines.append(f"  {change.path} ({what})")
    if len(drift) > LISTED:
        lines.append(f"  ... and {len(drift) - LISTED} more")
    return "\n".join(lines)
