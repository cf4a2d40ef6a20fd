"""Gather a ``Review`` from the repository: the last rebase, or any two upstream commits.

- A rebase in progress (stopped at a conflict): its rows are the rebase state's own
  (``.git/simapp-sync/rebase/``), the series before is the one the state saved, and the
  patches after the stop are "not tried".
- A finished rebase: the series before is where ``patches range-diff`` looks by default (or
  ``old_rev``); its rows are replayed from both ends (``sync.series.replay``), which gives the
  same rows ``rebase-patches`` printed.
- ``--from A --to B``: a dry run of the work tree's series from A onto B.

The interdiffs are always ``range_diff`` between the series before and the series after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sync import program
from sync.config.manifest import Manifest
from sync.errors import GitError
from sync.git import Commit, Repository, worktree
from sync.git import repo as gitrepo
from sync.git.trees import TreeSource, empty_tree, read_blob
from sync.render import BAKE_NAME, OUTPUT_DIR
from sync.review.model import PatchRow, RenderedChange, Review, TargetChanges
from sync.series.engine import PatchReport
from sync.series.history import last_series_change
from sync.series.load import PATCHES, LoadedSeries, SeriesPatch, load_series
from sync.series.model import Patch
from sync.series.parse import parse_patch
from sync.series.rangediff import PatchDelta, range_diff
from sync.series.replay import absorbed, replay
from sync.series.state import RebaseState, StateStore
from sync.upstream import Upstream

RENDERED = (OUTPUT_DIR, BAKE_NAME)


def review_last_rebase(repo: Repository, manifest: Manifest, *, old_rev: str | None = None,
                       fuzz: int = 0) -> Review:
    """The review of the last rebase (the one in progress, if any)."""
    state = StateStore(gitrepo.git_dir(repo)).load()
    if state is not None and old_rev is None:
        return _in_progress(repo, manifest, state)
    old_commit = _commit(repo, old_rev, "--old") if old_rev else last_series_change(repo)
    before = _series(repo, manifest, str(old_commit.tree_id))
    now = worktree.snapshot(repo, (*manifest.targets, PATCHES, *RENDERED)).tree
    after = _series(repo, manifest, now)
    old_base = before.series.base
    new_base = after.series.base or _tip(repo, manifest)
    old_tree, new_tree = _tree_of(repo, old_base), _tree_of(repo, new_base)
    if new_tree is None:
        raise GitError(f"patches/series: the recorded upstream {new_base[:12]} is not in this "
                       "repository", hint="fetch the upstream branch, then try again")
    after_map = _by_name(after.patches)
    replayed = replay(repo, before.patches, old_tree, new_tree, after_map, fuzz=fuzz)
    deltas = range_diff(_by_name(before.patches), after_map, absorbed(replayed))
    return Review(
        title="the last rebase", old=_side(repo, old_base), new=_side(repo, new_base),
        targets=_targets(repo, manifest, old_tree, new_tree),
        patches=_rows(replayed.reports, before.patches, deltas, after_map, stopped_at=None),
        rendered=_rendered(repo, str(old_commit.tree_id), now),
        series_before=str(old_commit.id), series_after="work tree")


def review_range(repo: Repository, manifest: Manifest, from_rev: str, to_rev: str, *,
                 fuzz: int = 0) -> Review:
    """A dry run: the work tree's series carried from upstream ``from_rev`` onto ``to_rev``."""
    old, new = _commit(repo, from_rev, "--from"), _commit(repo, to_rev, "--to")
    now = worktree.snapshot(repo, (*manifest.targets, PATCHES)).tree
    before = _series(repo, manifest, now)
    result = replay(repo, before.patches, str(old.tree_id), str(new.tree_id), None, fuzz=fuzz)
    after: dict[str, Patch] = {}
    for item, report in zip(before.patches, result.reports, strict=False):
        after[item.entry.name] = _refreshed(item, report, manifest)
    stopped = result.stop.report if result.stop else None
    reports = [*result.reports, *([stopped] if stopped else [])]
    deltas = range_diff(_by_name(before.patches[:len(after)]), after, absorbed(result))
    notes = ("a dry run: nothing was written; the series is the work tree's",)
    return Review(
        title=f"upstream {from_rev} → {to_rev} (dry run)", old=_side(repo, str(old.id)),
        new=_side(repo, str(new.id)),
        targets=_targets(repo, manifest, str(old.tree_id), str(new.tree_id)),
        patches=_rows(reports, before.patches, deltas, after,
                      stopped_at=result.stop.index if result.stop else None),
        rendered=None, series_before="work tree", series_after="dry run",
        stopped_at=stopped.name if stopped else None,
        conflicts=stopped.conflicts if stopped else (), notes=notes)


def _in_progress(repo: Repository, manifest: Manifest, state: RebaseState) -> Review:
    before = _series(repo, manifest, state.backup_tree)
    reports = [record.report(read_blob(repo, record.new_text) if record.new_text else None)
               for record in state.reports]
    after: dict[str, Patch] = {}
    for item, report in zip(before.patches, reports, strict=False):
        if not report.dropped:
            after[item.entry.name] = _refreshed(item, report, manifest)
    stopped = state.stopped.report() if state.stopped else None
    rows = [*reports, *([stopped] if stopped else [])]
    deltas = range_diff(_by_name(before.patches[:len(reports)]), after,
                        {report.name for report in reports if report.status.absorbed})
    old_tree = _tree_of(repo, state.base)
    new_tree = _tree_of(repo, state.onto) or state.backup_tree
    head = gitrepo.head_commit(repo)
    return Review(
        title="the rebase in progress", old=_side(repo, state.base),
        new=_side(repo, state.onto), targets=_targets(repo, manifest, old_tree, new_tree),
        patches=_rows(rows, before.patches, deltas, after, stopped_at=state.stopped_at),
        rendered=(), series_before=str(head.id) if head else "none",
        series_after="rebase in progress",
        stopped_at=stopped.name if stopped else None,
        conflicts=stopped.conflicts if stopped else (),
        notes=("rebase-patches stopped at a conflict: resolve it, then --continue "
               "(or --skip / --abort)",))


def _rows(reports: Sequence[PatchReport], before: Sequence[SeriesPatch],
          deltas: Sequence[PatchDelta], after: Mapping[str, Patch], *,
          stopped_at: int | None) -> tuple[PatchRow, ...]:
    """One row per rebased patch, then the untried ones, then the patches new since."""
    by_name = {delta.name: delta for delta in deltas}
    texts = {**{item.entry.name: item.patch for item in before}, **after}

    def paths(name: str) -> tuple[str, ...]:
        return tuple(texts[name].paths) if name in texts else ()

    rows = [PatchRow(report.index, report.name, report, by_name.get(report.name),
                     paths=paths(report.name)) for report in reports]
    if stopped_at is not None:
        rows += [PatchRow(number, item.entry.name, None, None, len(item.patch.files),
                          item.patch.added, item.patch.removed, paths(item.entry.name))
                 for number, item in enumerate(before, 1) if number > stopped_at + 1]
    known = {item.entry.name for item in before}
    number = len(before)
    for name, patch in after.items():
        if name not in known:
            number += 1
            rows.append(PatchRow(number, name, None, by_name.get(name), len(patch.files),
                                 patch.added, patch.removed, paths(name)))
    return tuple(rows)


def _refreshed(item: SeriesPatch, report: PatchReport, manifest: Manifest) -> Patch:
    """The patch as the rebase left it: its refreshed text, or unchanged."""
    if report.new_text is None:
        return item.patch
    return parse_patch(report.new_text, f"{PATCHES}/{item.entry.name}",
                       targets=manifest.targets)


def _targets(repo: Repository, manifest: Manifest, old_tree: str | None,
             new_tree: str) -> tuple[TargetChanges, ...]:
    """Per target folder: files added, removed and changed from ``old_tree`` to ``new_tree``."""
    found = []
    old, new = TreeSource(repo, old_tree), TreeSource(repo, new_tree)
    empty = empty_tree(repo)
    for target in manifest.targets:
        changes = worktree.changes_between(repo, old_tree, new_tree, (target,))
        added = sum(1 for change in changes
                    if change.entry is not None and old.entry(change.path) is None)
        removed = sum(1 for change in changes if change.entry is None)
        stats = gitrepo.diff_stats(repo, old.subtree(target) or empty,
                                   new.subtree(target) or empty)
        found.append(TargetChanges(target, added, removed, len(changes) - added - removed,
                                   stats.insertions, stats.deletions))
    return tuple(found)


def _rendered(repo: Repository, old_tree: str, new_tree: str) -> tuple[RenderedChange, ...]:
    """The rendered files that differ between two trees."""
    old, new = TreeSource(repo, old_tree), TreeSource(repo, new_tree)

    def files(source: TreeSource) -> dict[str, str]:
        found = {path: entry.oid for path, entry in source.files(OUTPUT_DIR)}
        bake = source.entry(BAKE_NAME)
        if bake is not None:
            found[BAKE_NAME] = bake.oid
        return found

    before, after = files(old), files(new)
    changes = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            change = ("added" if path not in before else "removed" if path not in after
                      else "changed")
            changes.append(RenderedChange(path, change))
    return tuple(changes)


def _side(repo: Repository, commit_id: str | None) -> Upstream | None:
    """The image an upstream commit records (only the commit when it records none)."""
    if not commit_id:
        return None
    commit = gitrepo.commit_by_id(repo, commit_id)
    return Upstream(commit_id, None) if commit is None else Upstream.of(commit)


def _series(repo: Repository, manifest: Manifest, tree: str) -> LoadedSeries:
    return load_series(TreeSource(repo, tree), manifest.targets)


def _by_name(patches: Sequence[SeriesPatch]) -> dict[str, Patch]:
    return {item.entry.name: item.patch for item in patches}


def _tree_of(repo: Repository, commit_id: str | None) -> str | None:
    commit = gitrepo.commit_by_id(repo, commit_id) if commit_id else None
    return str(commit.tree_id) if commit is not None else None


def _tip(repo: Repository, manifest: Manifest) -> str:
    tip = gitrepo.branch_tip(repo, manifest.branch)
    if tip is None:
        raise GitError(f"branch {manifest.branch!r} does not exist: nothing to review",
                       hint=f"run `{program.command('pull')}` first")
    return str(tip.id)


def _commit(repo: Repository, rev: str, what: str) -> Commit:
    found = gitrepo.find_commit(repo, rev)
    if found is None:
        raise GitError(f"{what} {rev}: no such commit",
                       hint="give a branch, tag or commit id (see `git log`)")
    return found
