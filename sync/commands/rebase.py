"""`sync rebase-patches`: re-apply patches/series onto the upstream branch, resumably.

Everything is computed in memory on git trees first; the work tree, ``patches/`` and the index
are written only at the end (or at the first conflict), after the state that can undo them is
safely under ``.git/simapp-sync/rebase/``:

- success: state "finishing" -> targets and patches/ written -> index -> state removed;
- conflict: state "conflict" -> files with markers written -> unmerged index entries -> exit 1;
  then ``--continue`` (the maintainer's edit becomes the patch), ``--skip`` or ``--abort``.

A crash at any point leaves the state behind, and ``--abort`` puts ``patches/`` and the targets
back byte for byte (from the snapshot taken before anything was written).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress
from rich.text import Text

from sync.errors import ConflictError, GitError
from sync.git import Commit, Repository, worktree
from sync.git import index as gitindex
from sync.git import repo as gitrepo
from sync.git.merge import Labels
from sync.git.objects import ObjectWriter
from sync.git.trees import (
    MODE_TREE,
    DirectBlobWriter,
    Entry,
    TreeSource,
    read_blob,
    update_tree,
    write_blob,
)
from sync.manifest import MANIFEST_NAME, Manifest, load_manifest
from sync.series.engine import PatchReport, Rebase, Stop, upstream_renames
from sync.series.load import PATCHES, SERIES, LoadedSeries, SeriesPatch, load_series
from sync.series.outcome import Status
from sync.series.overlay import Content, File, Overlay
from sync.series.seriesfile import Series, SeriesEntry
from sync.series.state import ConflictRecord, RebaseState, ReportRecord, StateStore
from sync.ui import UI, short_oid

ACTIONS = ("start", "continue", "skip", "abort")
CONFLICT_HINT = ("resolve them (git status / git mergetool), then: "
                 "python -m sync rebase-patches --continue\n"
                 "  or skip this patch: --skip · or give up and restore everything: --abort")


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `rebase-patches` and its options."""
    parser = subparsers.add_parser(
        "rebase-patches", parents=[common],
        help="re-apply patches/series onto the upstream branch (3-way, resumable)",
        description="Apply the patch series onto the tip of the upstream branch (or --onto), "
                    "refresh the patches, record the new base and write the targets.")
    parser.add_argument("--onto", metavar="REV", default=None,
                        help="the upstream commit to rebase onto (default: the manifest's branch)")
    parser.add_argument("--fuzz", type=_fuzz, default=0, metavar="N",
                        help="ignore up to N context lines at each end of a hunk (default 0; "
                             "always reported)")
    parser.add_argument("--drop-merged", action="store_true",
                        help="remove patches that upstream now contains, or that became empty")
    parser.add_argument("--force", action="store_true",
                        help="start even with uncommitted changes in the targets or patches/")
    actions = parser.add_mutually_exclusive_group()
    for action, text in (("continue", "go on after resolving the conflicts"),
                         ("skip", "drop the conflicting patch from the series and go on"),
                         ("abort", "restore patches/ and the targets as they were")):
        actions.add_argument(f"--{action}", dest="action", action="store_const", const=action,
                             help=text)
    parser.set_defaults(handler=run, action="start")


def run(args: argparse.Namespace, ui: UI) -> int:
    """CLI adapter: build the collaborators, then call ``rebase_patches``."""
    repo = gitrepo.open_repository(Path(args.directory))
    root = gitrepo.work_tree(repo)
    manifest = load_manifest(Path(args.manifest) if args.manifest else root / MANIFEST_NAME)
    return rebase_patches(repo, manifest, ui, onto=args.onto, fuzz=args.fuzz,
                          drop_merged=args.drop_merged, force=args.force, action=args.action)


def _fuzz(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fuzz needs a number, not {text!r}") from None
    if not 0 <= value <= 10:
        raise argparse.ArgumentTypeError("--fuzz must be between 0 and 10")
    return value


@dataclass
class Result:
    """What happened, for the table and for --json."""

    action: str
    onto: str | None = None
    base: str | None = None
    reports: list[PatchReport] = field(default_factory=list)
    stopped: PatchReport | None = None
    written: int = 0
    removed: int = 0
    aborted: bool = False
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        status = "aborted" if self.aborted else "conflict" if self.stopped else "done"
        return {
            "action": self.action, "status": status, "onto": self.onto, "base": self.base,
            "patches": [report.as_json() for report in self.reports]
            + ([self.stopped.as_json()] if self.stopped else []),
            "stopped_at": self.stopped.name if self.stopped else None,
            "conflicts": list(self.stopped.conflicts) if self.stopped else [],
            "dropped": [report.name for report in self.reports if report.dropped],
            "rewritten": [report.name for report in self.reports if report.rewritten],
            "files_written": self.written, "files_removed": self.removed,
            "seconds": round(self.seconds, 3),
        }


def rebase_patches(repo: Repository, manifest: Manifest, ui: UI, *,
                   onto: str | None = None, fuzz: int = 0, drop_merged: bool = False,
                   force: bool = False, action: str = "start") -> int:
    """Rebase ``patches/series`` onto ``onto`` (default: the upstream branch); 0 done, 1 conflict.

    ``action`` is "start", or "continue", "skip", "abort" for a stopped rebase.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    started = time.monotonic()
    session = _Session(repo, manifest, ui)
    if action == "start":
        result = session.start(onto, fuzz=fuzz, drop_merged=drop_merged, force=force)
    elif action == "abort":
        result = session.abort()
    else:
        result = session.resume(skip=action == "skip")
    result.seconds = time.monotonic() - started
    _report(result, ui)
    return 1 if result.stopped else 0


class _Session:
    """One invocation: the repository, its targets, and the state store."""

    def __init__(self, repo: Repository, manifest: Manifest, ui: UI) -> None:
        self.repo = repo
        self.ui = ui
        self.targets = manifest.targets
        self.roots = (*manifest.targets, PATCHES)
        self.branch = manifest.branch
        self.store = StateStore(gitrepo.git_dir(repo))
        self.fresh = True  # no state yet: the index is still the maintainer's own

    # --- start -------------------------------------------------------------------------------
    def start(self, onto: str | None, *, fuzz: int, drop_merged: bool, force: bool) -> Result:
        if self.store.exists():
            raise GitError("a rebase-patches is already in progress",
                           hint="finish it with --continue or --skip, or undo it with --abort")
        snap = worktree.snapshot(self.repo, self.roots)
        if snap.uncommitted and not force:
            raise GitError("uncommitted changes in the targets or patches/: "
                           + _list(snap.uncommitted),
                           hint="commit or stash them first, or pass --force")
        onto_commit = self._onto(onto)
        disk = TreeSource(self.repo, snap.tree)
        loaded = self._read_series(disk)
        series, patches = loaded.series, list(loaded.patches)
        base_tree = self._base_tree(series.base)
        result = Result("start", onto=str(onto_commit.id), base=series.base)
        new = Overlay(TreeSource(self.repo, str(onto_commit.tree_id)))
        old = Overlay(TreeSource(self.repo, base_tree)) if base_tree else None
        renames = upstream_renames(self.repo, base_tree, str(onto_commit.tree_id), patches)
        engine = Rebase(self.repo, patches, new, old, DirectBlobWriter(self.repo), fuzz=fuzz,
                        drop_merged=drop_merged, labels=_labels(str(onto_commit.id), series.base),
                        renames=renames)
        state = RebaseState(phase="stopping", onto=str(onto_commit.id), base=series.base,
                            backup_tree=snap.tree, had_index=False, fuzz=fuzz,
                            drop_merged=drop_merged)
        return self._drive(engine, 0, state, series, result, snap.tree)

    def _onto(self, onto: str | None) -> Commit:
        if onto is None:
            tip = gitrepo.branch_tip(self.repo, self.branch)
            if tip is None:
                raise GitError(f"branch {self.branch!r} does not exist",
                               hint="run `python -m sync pull` first, or pass --onto REV")
            return tip
        found = gitrepo.find_commit(self.repo, onto)
        if found is None:
            raise GitError(f"--onto {onto}: no such commit")
        return found

    def _read_series(self, disk: TreeSource) -> LoadedSeries:
        loaded = load_series(disk, self.targets)
        if not loaded.found:
            self.ui.warn(f"{SERIES}: not found; treating the series as empty")
        return loaded

    def _base_tree(self, base: str | None) -> str | None:
        if base is None:
            return None
        found = gitrepo.commit_by_id(self.repo, base)
        if found is None:
            self.ui.warn(f"{SERIES}: the recorded upstream {base[:12]} is not in this "
                         "repository; 3-way merges fall back to the patches' index lines")
            return None
        return str(found.tree_id)

    # --- running -----------------------------------------------------------------------------
    def _drive(self, engine: Rebase, start: int, state: RebaseState, series: Series,
               result: Result, disk_tree: str) -> Result:
        """Run the engine from ``start``; then write the conflict or the result."""
        with self.ui.progress(transfer=False) as progress:
            task = progress.add_task("rebasing patches", total=len(engine.patches),
                                     completed=start, detail="")

            def advance(index: int, item: SeriesPatch) -> None:
                progress.update(task, completed=index, detail=item.entry.name)

            stop = engine.run(start, advance)
            progress.update(task, completed=stop.index if stop else len(engine.patches),
                            detail="")
            result.reports = list(engine.reports)
            if stop is not None:
                self._stop(engine, stop, state, disk_tree, progress)
                result.stopped = stop.report
            else:
                self._finish(engine, state, series, disk_tree, result, progress)
        return result

    def _stop(self, engine: Rebase, stop: Stop, state: RebaseState, disk_tree: str,
              progress: Progress) -> None:
        writer = DirectBlobWriter(self.repo)
        previous = {record.path for record in state.conflicts}
        state.phase = "stopping"
        state.stopped_at = stop.index
        state.stopped = stop.report.as_json()
        state.new_tree = _write_overlay(self.repo, engine.new)
        state.old_tree = _write_overlay(self.repo, engine.old) if engine.old else None
        state.broken = sorted(engine.broken)
        state.written_tree = update_tree(self.repo, state.new_tree, {
            path: None if file is None else Entry(file.mode, writer.write_bytes(
                file.content.data)) for path, file in stop.outcome.after.items()})
        state.conflicts = [ConflictRecord(
            conflict.path, base=_side(writer, conflict.base), ours=_side(writer, conflict.ours),
            theirs=_side(writer, conflict.theirs),
            markers=conflict.ours is not None and conflict.theirs is not None)
            for conflict in stop.outcome.conflicts]
        state.settle = sorted(previous - {record.path for record in state.conflicts})
        state.reports = [_record(self.repo, report) for report in engine.reports]
        self._backup_index(state)
        self.store.save(state)
        self._write_stop(state, disk_tree, progress)

    def _write_stop(self, state: RebaseState, disk_tree: str, progress: Progress | None) -> None:
        """Write the conflict into the work tree and the index, then mark the state stopped."""
        assert state.written_tree is not None
        target = _graft(self.repo, disk_tree, state.written_tree, self.targets)
        written, _count = self._write(disk_tree, target, progress)
        conflicted = {record.path for record in state.conflicts}
        gitindex.stage(self.repo, [p for p in written.written if p not in conflicted
                                   and worktree.under(p, self.targets)],
                       [p for p in written.removed if worktree.under(p, self.targets)])
        self._settle(set(state.settle) - set(written.written) - set(written.removed))
        gitindex.record_conflicts(self.repo, [gitindex.Unmerged(
            record.path, *(Entry(*side) if side else None
                           for side in (record.base, record.ours, record.theirs)))
            for record in state.conflicts])
        state.phase = "conflict"
        self.store.save(state)

    def _finish(self, engine: Rebase, state: RebaseState, series: Series, disk_tree: str,
                result: Result, progress: Progress) -> None:
        final = _write_overlay(self.repo, engine.new)
        patch_changes: dict[str, Entry | None] = {}
        new_series = series.with_base(state.onto)
        for report in engine.reports:
            path = f"{PATCHES}/{report.name}"
            if report.dropped:
                patch_changes[path] = None
                new_series = new_series.without({report.name})
            elif report.new_text is not None:
                patch_changes[path] = Entry(0o100644, write_blob(self.repo, report.new_text))
                entry = next(e for e in new_series.entries if e.name == report.name)
                if entry.strip != 1:  # the regenerated text has a/ and b/ prefixes
                    new_series = new_series.with_entry(SeriesEntry(report.name, 1, entry.line))
        patch_changes[SERIES] = Entry(0o100644, write_blob(self.repo, new_series.format()))
        target = update_tree(self.repo, _graft(self.repo, disk_tree, final, self.targets),
                             patch_changes)
        state.phase = "finishing"
        state.final_tree = target
        state.reports = [_record(self.repo, report) for report in engine.reports]
        self._backup_index(state)
        self.store.save(state)
        self._complete(state, disk_tree, result, progress)

    def _complete(self, state: RebaseState, disk_tree: str, result: Result,
                  progress: Progress | None) -> None:
        assert state.final_tree is not None
        written = self._write(disk_tree, state.final_tree, progress)[0]
        result.written, result.removed = len(written.written), len(written.removed)
        in_targets = [p for p in written.written if worktree.under(p, self.targets)]
        gone = [p for p in written.removed if worktree.under(p, self.targets)]
        gitindex.stage(self.repo, in_targets, gone)
        self._settle({record.path for record in state.conflicts} - set(in_targets) - set(gone))
        self.store.clear()

    def _write(self, disk_tree: str, target: str,
               progress: Progress | None) -> tuple[worktree.WriteReport, int]:
        changes = worktree.changes_between(self.repo, disk_tree, target, self.roots)
        task = progress.add_task("writing work tree", total=len(changes), detail="") \
            if progress is not None else None

        def advance(count: int) -> None:
            if progress is not None and task is not None:
                progress.advance(task, count)

        report = worktree.write_changes(self.repo, changes, self.roots, advance)
        return report, len(changes)

    def _backup_index(self, state: RebaseState) -> None:
        """Keep the index as it was before the rebase wrote anything (once per rebase)."""
        if self.fresh:
            self.store.prepare()
            state.had_index = gitindex.save(self.repo, self.store.index_backup)
            self.fresh = False

    def _settle(self, paths: Iterable[str]) -> None:
        """Stage former conflicts as the maintainer left them (or as the rebase wrote them)."""
        top = Path(worktree.workdir(self.repo))
        present = [path for path in paths if os.path.lexists(top / path)]
        gitindex.stage(self.repo, present, [path for path in paths if path not in present])

    # --- resume ------------------------------------------------------------------------------
    def _load(self) -> RebaseState:
        state = self.store.load()
        if state is None:
            raise GitError("no rebase-patches in progress",
                           hint="start one with `python -m sync rebase-patches`")
        return state

    def resume(self, *, skip: bool) -> Result:
        state = self._load()
        self.fresh = False
        action = "skip" if skip else "continue"
        result = Result(action, onto=state.onto, base=state.base)
        snap = worktree.snapshot(self.repo, self.roots)
        if state.phase in ("finishing", "stopping"):  # a crash while writing: write it again
            result.reports = [_report_from(self.repo, record) for record in state.reports]
            if state.phase == "finishing":
                self._complete(state, snap.tree, result, None)
            else:
                self._write_stop(state, snap.tree, None)
                assert state.stopped is not None
                result.stopped = PatchReport.from_json(state.stopped)
            return result
        backup = TreeSource(self.repo, state.backup_tree)
        loaded = self._read_series(backup)
        series, patches = loaded.series, list(loaded.patches)
        assert state.new_tree is not None
        engine = Rebase(self.repo, patches, Overlay(TreeSource(self.repo, state.new_tree)),
                        Overlay(TreeSource(self.repo, state.old_tree)) if state.old_tree
                        else None, DirectBlobWriter(self.repo), fuzz=state.fuzz,
                        drop_merged=state.drop_merged, labels=_labels(state.onto, state.base),
                        broken=set(state.broken), renames=self._renames(state, patches))
        engine.reports = [_report_from(self.repo, record) for record in state.reports]
        if skip:
            engine.skip(state.stopped_at)
        else:
            self._check_resolved(state, engine.patches[state.stopped_at].entry.name)
            engine.resolve(state.stopped_at, self._resolution(state, snap.tree))
        return self._drive(engine, state.stopped_at + 1, state, series, result, snap.tree)

    def _renames(self, state: RebaseState, patches: Sequence[SeriesPatch]) -> dict[str, str]:
        """The upstream renames the run that stopped followed (the same trees give the same)."""
        if state.old_tree is None or state.base is None:
            return {}  # no recorded base in the repository: there was nothing to compare
        base = gitrepo.commit_by_id(self.repo, state.base)
        onto = gitrepo.commit_by_id(self.repo, state.onto)
        if base is None or onto is None:
            return {}
        return upstream_renames(self.repo, str(base.tree_id), str(onto.tree_id), patches)

    def _check_resolved(self, state: RebaseState, name: str) -> None:
        top = Path(worktree.workdir(self.repo))
        labels = _labels(state.onto, state.base)
        left = []
        for record in state.conflicts:
            if not record.markers:
                continue
            path = top / record.path
            if path.is_symlink() or not path.is_file():
                continue
            for line in path.read_bytes().split(b"\n"):
                if line.startswith((b"<<<<<<< " + labels.ours.encode(),
                                    b">>>>>>> " + name.encode())):
                    left.append(record.path)
                    break
        if left:
            raise ConflictError(f"still has conflict markers: {_list(left)}",
                                hint="edit the files until no <<<<<<< / >>>>>>> lines are "
                                     "left, then run --continue again (or --skip / --abort)")

    def _resolution(self, state: RebaseState, disk_tree: str) -> dict[str, File | None]:
        """The files the maintainer left under the targets that differ from the patch's base."""
        assert state.new_tree is not None
        changes = worktree.changes_between(self.repo, state.new_tree, disk_tree, self.targets)
        return {change.path: None if change.entry is None else File(
            change.entry.mode, Content(read_blob(self.repo, change.entry.oid)), change.entry.oid)
            for change in changes}

    # --- abort -------------------------------------------------------------------------------
    def abort(self) -> Result:
        state = self._load()
        self.fresh = False
        snap = worktree.snapshot(self.repo, self.roots)
        report, _ = self._write(snap.tree, state.backup_tree, None)
        gitindex.restore(self.repo, self.store.index_backup if state.had_index else None)
        self.store.clear()
        return Result("abort", onto=state.onto, base=state.base, aborted=True,
                      written=len(report.written), removed=len(report.removed))


# --- helpers -----------------------------------------------------------------------------------
def _labels(onto: str, base: str | None) -> Labels:
    return Labels(base=f"base {short_oid(base)}" if base else "patch preimage",
                  ours=f"upstream {short_oid(onto)}", theirs="patch")


def _write_overlay(repo: Repository, overlay: Overlay) -> str:
    """Store the overlay's changes (blobs in parallel) and write its tree."""
    with ObjectWriter(repo) as writer:
        entries = overlay.entries(writer)
    return update_tree(repo, overlay.source.oid, entries)


def _graft(repo: Repository, base: str, source: str, targets: Sequence[str]) -> str:
    """``base`` with each target folder replaced by the one in ``source``."""
    found = TreeSource(repo, source)
    changes: dict[str, Entry | None] = {}
    for target in targets:
        subtree = found.subtree(target)
        changes[target] = Entry(MODE_TREE, subtree) if subtree else None
    return update_tree(repo, base, changes)


def _side(writer: DirectBlobWriter, file: File | None) -> tuple[int, str] | None:
    if file is None:
        return None
    return (file.mode, file.oid or writer.write_bytes(file.content.data))


def _record(repo: Repository, report: PatchReport) -> ReportRecord:
    text = write_blob(repo, report.new_text) if report.new_text is not None else None
    return ReportRecord(row=report.as_json(), new_text=text)


def _report_from(repo: Repository, record: ReportRecord) -> PatchReport:
    text = read_blob(repo, record.new_text) if record.new_text else None
    return PatchReport.from_json(record.row, text)


def _list(paths: Sequence[str] | set[str], limit: int = 12) -> str:
    ordered = sorted(paths)
    shown = ", ".join(ordered[:limit])
    return shown + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")


# --- output ------------------------------------------------------------------------------------
_STYLE = {Status.CLEAN: "green", Status.OFFSET: "green", Status.FUZZ: "yellow",
          Status.MERGED: "yellow", Status.PARTLY_UPSTREAM: "cyan",
          Status.ALREADY_UPSTREAM: "cyan", Status.EMPTY: "cyan", Status.RESOLVED: "yellow",
          Status.SKIPPED: "magenta", Status.CONFLICT: "bold red"}


def _table(rows: Sequence[PatchReport]) -> Text:
    """One row per patch. Aligned here rather than with rich's Table, which lays out every
    cell on its own and takes seconds for a series of a thousand patches."""
    cells = [("#", "patch", "status", "files", "±lines")]
    for report in rows:
        absorbed = report.status in (Status.ALREADY_UPSTREAM, Status.EMPTY, Status.SKIPPED)
        # the row the rebase stopped at shouts, as git's CONFLICT lines do
        status = report.status_text
        if report.status is Status.CONFLICT:
            status = "CONFLICT" + status.removeprefix(Status.CONFLICT.value)
        cells.append((str(report.index), report.name, status,
                      "—" if absorbed else str(report.files),
                      "—" if absorbed else f"+{report.added} −{report.removed}"))
    widths = [max(len(row[column]) for row in cells) for column in range(5)]
    lines = []
    for number, row in enumerate(cells):
        line = Text(style="bold" if number == 0 else "")
        line.append(row[0].rjust(widths[0]) + "  " + row[1].ljust(widths[1]) + "  ")
        style = _STYLE[rows[number - 1].status] if number else ""
        line.append(row[2].ljust(widths[2]), style=style)
        line.append("  " + row[3].rjust(widths[3]) + "  " + row[4].rjust(widths[4]))
        lines.append(line)
    return Text("\n").join(lines)


def _report(result: Result, ui: UI) -> None:
    ui.emit_json(result.as_json())
    if result.aborted:
        ui.print(f"rebase aborted: patches/ and the targets are back as they were "
                 f"({result.written} files restored, {result.removed} removed)")
        return
    rows = result.reports + ([result.stopped] if result.stopped else [])
    if rows:
        ui.print(_table(rows), soft_wrap=True)
    for report in rows:
        if report.status not in (Status.CLEAN, Status.OFFSET) or report.dropped \
                or report.renamed:
            for line in report.evidence:
                ui.print(f"  {report.name}: {line}", markup=False, soft_wrap=True)
    if result.stopped is not None:
        ui.print(f"stopped at {result.stopped.name}: "
                 f"{_list(result.stopped.conflicts) or 'the patch'} has conflicts", markup=False,
                 soft_wrap=True)
        ui.print(f"  {CONFLICT_HINT}", markup=False, soft_wrap=True)
        return
    base = f"{short_oid(result.base)} → " if result.base else ""
    rewritten = sum(1 for report in result.reports if report.rewritten)
    dropped = [report.name for report in result.reports if report.dropped]
    ui.print(f"series rebased onto upstream {base}{short_oid(result.onto)}: "
             f"{len(result.reports)} patches, {rewritten} refreshed, {len(dropped)} dropped; "
             f"{result.written} files written, {result.removed} removed", markup=False,
             soft_wrap=True)
    if dropped:
        ui.print(f"  dropped from the series: {', '.join(dropped)}", markup=False,
                 soft_wrap=True)


