"""What the maintainer left at a stop, read when the rebase goes on (``--continue``): the files
the stopped patch touched, their texts from before the stop, and the resolution to take."""

from __future__ import annotations

from collections.abc import Sequence

from sync.git import Repository, worktree
from sync.git.trees import TreeSource, read_blob
from sync.series.overlay import Content, File
from sync.series.state import RebaseState


def touched(repo: Repository, state: RebaseState, targets: Sequence[str]) -> set[str]:
    """The files the stopped patch touched: its conflicts and what the stop wrote."""
    assert state.new_tree is not None and state.written_tree is not None
    return {record.path for record in state.conflicts} | {
        change.path for change in worktree.changes_between(
            repo, state.new_tree, state.written_tree, targets)}


def texts_before(repo: Repository, state: RebaseState,
                 files: set[str]) -> dict[str, list[bytes]]:
    """Each file's texts from before the stop (conflict markers already in them are fine)."""
    sources = [TreeSource(repo, tree) for tree in (state.new_tree, state.backup_tree)]
    sides = {record.path: [side for side in (record.base, record.ours, record.theirs)
                           if side is not None] for record in state.conflicts}
    before: dict[str, list[bytes]] = {}
    for path in files:
        entries = [source.entry(path) for source in sources]
        oids = {entry.oid for entry in entries if entry is not None}
        oids.update(oid for _mode, oid in sides.get(path, []))
        before[path] = [read_blob(repo, oid) for oid in sorted(oids)]
    return before


def resolution(repo: Repository, state: RebaseState, disk_tree: str, targets: Sequence[str],
               kept: set[str]) -> dict[str, File | None]:
    """The files the maintainer left under the targets that differ from the patch's base
    (the untracked files in ``kept`` are not part of it)."""
    assert state.new_tree is not None
    changes = worktree.changes_between(repo, state.new_tree, disk_tree, targets)
    return {change.path: None if change.entry is None else File(
        change.entry.mode, Content(read_blob(repo, change.entry.oid)), change.entry.oid)
        for change in changes if change.path not in kept}
