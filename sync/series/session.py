"""The rebase session: carry patches/series onto a new upstream, resumably (a state machine).

Everything is computed in memory on git trees first; the work tree, ``patches/`` and the index
are written only at the end (or at the first conflict), after the state that can undo them is
safely under ``.git/simapp-sync/rebase/`` (``sync.series.state``):

- success: state "finishing" -> targets and patches/ written -> index -> state removed;
- conflict: state "stopping" -> files with markers written -> unmerged index entries -> state
  "conflict"; then ``resume`` (the maintainer's edit becomes the patch; ``skip`` drops it) or
  ``abort``.

A crash at any point leaves the state behind: ``resume`` writes again what was being written,
and ``abort`` puts ``patches/`` and the targets back byte for byte (from the snapshot taken
before anything was written). The session reports through a ``Display`` (warnings and progress
bars); what the command prints of the outcome is the command's business.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sync import program
from sync.errors import GitError
from sync.git import Commit, Repository, worktree
from sync.git import index as gitindex
from sync.git import repo as gitrepo
from sync.git.merge import Labels
from sync.git.objects import ObjectWriter
from sync.git.trees import (
    DirectBlobWriter,
    Entry,
    RecentBlobs,
    TreeSource,
    folders_on_paths,
    graft,
    update_tree,
    write_blob,
)
from sync.series import guard, stopped
from sync.series import state as saved
from sync.series.display import Bars, Display, Quiet  # noqa: F401 - Quiet: re-exported
from sync.series.engine import PatchReport, Rebase, Stop, old_chain, upstream_renames
from sync.series.load import PATCHES, SERIES, LoadedSeries, SeriesPatch, load_series
from sync.series.overlay import Content, File, Overlay
from sync.series.resolve import ALL_RULES, RuleSet
from sync.series.scope import Project, Scoped
from sync.series.seriesfile import Series, SeriesEntry
from sync.series.state import ConflictRecord, RebaseState, ReportRecord, StateStore
from sync.untrusted import shown_path


@dataclass
class Outcome:
    """What one action of the session did (the command reports it)."""

    action: str  # "start", "continue", "skip" or "abort"
    onto: str | None = None
    base: str | None = None
    reports: list[PatchReport] = field(default_factory=list)
    stopped: PatchReport | None = None
    written: int = 0
    removed: int = 0
    aborted: bool = False
    staged_outside: list[str] = field(default_factory=list)  # --continue: staged, taken in
    left_untracked: list[str] = field(default_factory=list)  # --continue: new, left out


class RebaseSession(Scoped):
    """One invocation on one repository: its scope (``Scoped``), the state store."""

    def __init__(self, repo: Repository, project: Project, display: Display | None = None) -> None:
        super().__init__(project, display or Quiet())
        self.repo = repo
        self.store = StateStore(gitrepo.git_dir(repo))
        self.fresh = True  # no state yet: the index is still the maintainer's own
        self.kept: set[str] = set()  # untracked files no write may touch (``guard.keep``)
        self.differing: set[str] | None = None  # the snapshot's paths unlike their index entry
        self.memory: dict[str, Content] = {}  # blob id -> content the engine still holds
        self.restored: list[ReportRecord] = []  # --continue: the records of the reports so far

    # --- start -------------------------------------------------------------------------------
    def start(self, onto: str | None, *, fuzz: int, drop_merged: bool, force: bool,
              rules: RuleSet = ALL_RULES) -> Outcome:
        self.store.refuse_if_in_progress()
        kept = self._scope_now()
        # reading a real-size work tree takes seconds: shown, not silent
        with self.display.live() as progress:
            bar = progress.bar("reading the work tree and the series", total=3)
            snap = worktree.snapshot(self.repo, self.roots)
            bar.update(1)
            if snap.uncommitted and not force:
                raise GitError("uncommitted changes in the targets or patches/: "
                               + guard.listing(snap.uncommitted),
                               hint="commit or stash them first, or pass --force")
            self.kept = set(snap.untracked)
            self.differing = {*snap.uncommitted, *snap.untracked}
            onto_commit = self._onto(onto)
            disk = TreeSource(self.repo, snap.tree)
            loaded = self._read_series(disk)
            bar.update(2)
            series, patches = loaded.series, list(loaded.patches)
            base_tree = self._base_tree(series.base)
            result = Outcome("start", onto=str(onto_commit.id), base=series.base)
            recent = RecentBlobs(self.repo)  # a file's base, read by both chains, is read once
            new = Overlay(TreeSource(self.repo, str(onto_commit.tree_id), recent))
            old = old_chain(self.repo, base_tree, str(onto_commit.tree_id), recent)
            renames = upstream_renames(self.repo, base_tree, str(onto_commit.tree_id), patches)
            bar.update(3)
        engine = Rebase(self.repo, patches, new, old, DirectBlobWriter(self.repo), fuzz=fuzz,
                        drop_merged=drop_merged, labels=_labels(str(onto_commit.id), series.base),
                        renames=renames, rules=rules)
        state = RebaseState(phase="stopping", onto=str(onto_commit.id), base=series.base,
                            backup_tree=snap.tree, had_index=False, fuzz=fuzz,
                            drop_merged=drop_merged, untracked=sorted(snap.untracked),
                            rules_off=sorted(rules.off), **kept)
        with saved.undone_on_disk_fault(self.store, self.abort):
            return self._drive(engine, 0, state, series, result, snap.tree)

    def _onto(self, onto: str | None) -> Commit:
        if onto is None:
            tip = gitrepo.branch_tip(self.repo, self.branch)
            if tip is None:
                raise GitError(f"branch {self.branch!r} does not exist",
                               hint=f"run `{program.command('pull')}` first, or pass --onto REV")
            return tip
        found = gitrepo.find_commit(self.repo, onto)
        if found is None:
            raise GitError(f"--onto {onto}: no such commit")
        return found

    def _read_series(self, disk: TreeSource) -> LoadedSeries:
        loaded = load_series(disk, self.targets, lazy=True,  # parsed as the engine reaches them
                             workdir=worktree.workdir(self.repo))
        if not loaded.found:
            self.display.warn(f"{SERIES}: not found; treating the series as empty")
        return loaded

    def _base_tree(self, base: str | None) -> str | None:
        if base is None:
            return None
        found = gitrepo.commit_by_id(self.repo, base)
        if found is None:
            self.display.warn(f"{SERIES}: the recorded upstream {base[:12]} is not in this "
                         "repository; 3-way merges fall back to the patches' index lines")
            return None
        return str(found.tree_id)

    # --- running -----------------------------------------------------------------------------
    def _drive(self, engine: Rebase, start: int, state: RebaseState, series: Series,
               result: Outcome, disk_tree: str) -> Outcome:
        """Run the engine from ``start``; then write the conflict or the result."""
        with self.display.live() as progress:
            bar = progress.bar("rebasing patches", total=len(engine.patches), completed=start)

            def advance(index: int, item: SeriesPatch) -> None:
                bar.update(index, item.entry.name)
            engine.phase = lambda at, what: bar.update(
                at, f"{engine.patches[at].entry.name} ({what})")  # within a patch: its phases

            stop = engine.run(start, advance)
            bar.update(stop.index if stop else len(engine.patches))
            result.reports = list(engine.reports)
            if stop is not None:
                self._stop(engine, stop, state, disk_tree, progress)
                result.stopped = stop.report
            else:
                self._finish(engine, state, series, disk_tree, result, progress)
        return result

    def _stop(self, engine: Rebase, stop: Stop, state: RebaseState, disk_tree: str,
              progress: Bars) -> None:
        writer = DirectBlobWriter(self.repo)
        previous = {record.path for record in state.conflicts}
        state.phase = "stopping"
        state.stopped_at = stop.index
        state.stopped = ReportRecord.of(stop.report)
        state.new_tree = _write_overlay(self.repo, engine.new)
        state.old_tree = _write_overlay(self.repo, engine.old) if engine.old else None
        state.broken = sorted(engine.broken)
        state.written_tree = update_tree(self.repo, state.new_tree, {
            path: None if file is None else Entry(file.mode, writer.write_bytes(
                file.content.data)) for path, file in stop.outcome.after.items()})
        self._remember([*engine.new.changes.values(), *stop.outcome.after.values()])
        state.conflicts = [ConflictRecord(
            conflict.path, base=_side(writer, conflict.base), ours=_side(writer, conflict.ours),
            theirs=_side(writer, conflict.theirs),
            markers=conflict.ours is not None and conflict.theirs is not None)
            for conflict in stop.outcome.conflicts]
        state.settle = sorted(previous - {record.path for record in state.conflicts})
        state.reports = self._records(engine.reports)
        self._refuse_overwrites(disk_tree, graft(self.repo, disk_tree, state.written_tree,
                                                  self.targets))
        self._backup_index(state)
        self.store.save(state)
        self._write_stop(state, disk_tree, progress)

    def _write_stop(self, state: RebaseState, disk_tree: str, progress: Bars | None) -> None:
        """Write the conflict into the work tree and the index, then mark the state stopped."""
        assert state.written_tree is not None
        target = graft(self.repo, disk_tree, state.written_tree, self.targets)
        written, entries = self._write(disk_tree, target, progress)
        conflicted = {record.path for record in state.conflicts}
        self._stage([p for p in written.written if p not in conflicted
                     and worktree.under(p, self.targets)],
                    [p for p in written.removed if worktree.under(p, self.targets)], entries,
                    progress)
        self._settle(set(state.settle) - set(written.written) - set(written.removed))
        gitindex.record_conflicts(self.repo, [gitindex.Unmerged(
            record.path, *(Entry(*side) if side else None
                           for side in (record.base, record.ours, record.theirs)))
            for record in state.conflicts])
        state.phase = "conflict"
        self.store.save(state)

    def _finish(self, engine: Rebase, state: RebaseState, series: Series, disk_tree: str,
                result: Outcome, progress: Bars) -> None:
        changed = engine.new.changes
        saving = progress.bar("storing the rebased trees",
                              total=len(changed) + folders_on_paths(changed))
        final = _write_overlay(self.repo, engine.new, saving.advance)
        self._remember(engine.new.changes.values())
        patch_changes: dict[str, Entry | None] = {}
        new_series = series.with_base(state.onto)
        for report in engine.reports:
            path = f"{PATCHES}/{report.name}"
            if report.dropped:
                patch_changes[path] = None
                new_series = new_series.without({report.name})
            elif (oid := report.text_blob(self.repo)) is not None:
                patch_changes[path] = Entry(0o100644, oid)
                entry = next(e for e in new_series.entries if e.name == report.name)
                if entry.strip != 1:  # the regenerated text has a/ and b/ prefixes
                    new_series = new_series.with_entry(SeriesEntry(report.name, 1, entry.line))
        patch_changes[SERIES] = Entry(0o100644, write_blob(self.repo, new_series.format()))
        target = update_tree(self.repo, graft(self.repo, disk_tree, final, self.targets),
                             patch_changes)
        state.phase = "finishing"
        state.final_tree = target
        state.reports = self._records(engine.reports)
        self._refuse_overwrites(disk_tree, target)
        self._backup_index(state)
        self.store.save(state)
        self._complete(state, disk_tree, result, progress)

    def _complete(self, state: RebaseState, disk_tree: str, result: Outcome,
                  progress: Bars | None) -> None:
        assert state.final_tree is not None
        written, entries = self._write(disk_tree, state.final_tree, progress)
        result.written, result.removed = len(written.written), len(written.removed)
        in_targets = [p for p in written.written if worktree.under(p, self.targets)]
        gone = [p for p in written.removed if worktree.under(p, self.targets)]
        self._stage(in_targets, gone, entries, progress)
        self._settle({record.path for record in state.conflicts} - set(in_targets) - set(gone))
        self.store.clear()

    def _refuse_overwrites(self, disk_tree: str, target: str) -> None:
        """Refuse, before the state is saved or anything written, to replace untracked files."""
        if self.kept:
            guard.refuse_overwrites(
                worktree.changes_between(self.repo, disk_tree, target, self.roots), self.kept)

    def _write(self, disk_tree: str, target: str,
               progress: Bars | None) -> tuple[worktree.WriteReport, dict[str, Entry]]:
        """Write the work tree from ``disk_tree`` to ``target``: what was written, by entry."""
        changes = worktree.changes_between(self.repo, disk_tree, target, self.roots)
        changes = guard.without_kept(changes, self.kept)
        bar = progress.bar("writing work tree", total=len(changes)) \
            if progress is not None else None
        # in any order: after a crash midway, the saved state finishes or undoes the writing
        report = worktree.write_changes(
            self.repo, changes, self.roots, bar.advance if bar is not None else None,
            self._read, ordered=False, wrote=None if bar is None else
            lambda path, done: bar.describe(f"{shown_path(path)}: {done >> 20} MB"))
        return report, {c.path: c.entry for c in changes if c.entry is not None}

    def _read(self, oid: str) -> worktree.Data | None:
        """A blob's bytes if the engine still holds them (the writer streams the others from
        the object database)."""
        content = self.memory.pop(oid, None)
        return content.data if content is not None else None

    def _remember(self, files: Iterable[File | None]) -> None:
        """Keep the contents the engine holds (stored, so with ids) for writing the work tree."""
        self.memory = {file.oid: file.content for file in files
                       if file is not None and file.oid is not None and file.content.loaded}

    def _stage(self, written: Sequence[str], removed: Sequence[str],
               entries: dict[str, Entry], progress: Bars | None) -> None:
        """Stage written files from their known blob ids and a stat (nothing read again)."""
        # thousands of files: a phase of its own, not a silent one
        bar = progress.bar("updating the index", total=len(written) + len(removed)) \
            if progress is not None else None
        gitindex.stage_known(self.repo, [(path, entries[path]) for path in written], removed,
                             bar.advance if bar is not None else None)

    def _records(self, reports: Sequence[PatchReport]) -> list[ReportRecord]:
        """The state's records of ``reports``: those read from the state kept as they are."""
        return [*self.restored, *(ReportRecord.of(report, report.text_blob(self.repo))
                                  for report in reports[len(self.restored):])]

    def _backup_index(self, state: RebaseState) -> None:
        """Keep the index as it was before the rebase wrote anything (once per rebase)."""
        if self.fresh:
            self.store.prepare()
            state.had_index = gitindex.save(self.repo, self.store.index_backup)
            self.fresh = False

    def _settle(self, paths: Iterable[str]) -> None:
        """Stage former conflicts as the maintainer left them (or as the rebase wrote them); those
        the snapshot found as their index entry holds them are staged already (no index write)."""
        paths = [path for path in paths if self.differing is None or path in self.differing]
        top = Path(worktree.workdir(self.repo))
        present = [path for path in paths if os.path.lexists(top / path)]
        if paths:
            gitindex.stage(self.repo, present, [path for path in paths if path not in present])

    # --- resume ------------------------------------------------------------------------------
    def _load(self) -> RebaseState:
        state = self.store.load()
        if state is None:
            raise GitError("no rebase-patches in progress",
                           hint=f"start one with `{program.command('rebase-patches')}`")
        self._scope_kept(state)
        return state

    def resume(self, *, skip: bool) -> Outcome:
        state = self._load()
        self.fresh = False
        result = Outcome("skip" if skip else "continue", onto=state.onto, base=state.base)
        with self.display.live() as progress:  # a second or more at real size: shown
            bar = progress.bar("reading the work tree and the stopped rebase", total=2)
            taking = worktree.Snapshotting(self.repo, self.roots, staged=False)  # in a thread
            if state.phase in ("finishing", "stopping"):  # a crash while writing: again
                snap = self._look(taking, state)
                result.reports = [record.restored(self.repo) for record in state.reports]
                if state.phase == "finishing":
                    self._complete(state, snap.tree, result, progress)
                else:
                    self._write_stop(state, snap.tree, progress)
                    assert state.stopped is not None
                    result.stopped = state.stopped.report()
                return result
            loaded = self._read_series(TreeSource(self.repo, state.backup_tree))
            series, patches = loaded.series, list(loaded.patches)
            assert state.new_tree is not None
            recent = RecentBlobs(self.repo)
            engine = Rebase(self.repo, patches,
                            Overlay(TreeSource(self.repo, state.new_tree, recent)),
                            Overlay(TreeSource(self.repo, state.old_tree, recent))
                            if state.old_tree else None, DirectBlobWriter(self.repo),
                            fuzz=state.fuzz, drop_merged=state.drop_merged,
                            labels=_labels(state.onto, state.base),
                            broken=set(state.broken), renames=self._renames(state, patches),
                            rules=RuleSet(frozenset(state.rules_off)))
            engine.reports = [record.restored(self.repo) for record in state.reports]
            self.restored = list(state.reports)
            snap = self._look(taking, state)  # the series was read while the thread scanned
            bar.update(1)
            if skip:
                engine.skip(state.stopped_at)
            else:
                files = stopped.touched(self.repo, state, self.targets)
                guard.refuse_unresolved(self.repo, self.targets, files,
                                        stopped.texts_before(self.repo, state, files),
                                        program.command("rebase-patches --continue"),
                                        snap.unstaged)
                resolution = stopped.resolution(self.repo, state, snap.tree, self.targets,
                                                self.kept)
                result.staged_outside = sorted(set(resolution) - set(files))
                result.left_untracked = sorted(set(snap.untracked) & self.kept
                                               - set(state.untracked))
                engine.resolve(state.stopped_at, resolution)
            bar.update(2)
        return self._drive(engine, state.stopped_at + 1, state, series, result, snap.tree)

    def _look(self, taking: worktree.Snapshotting, state: RebaseState) -> worktree.Snapshot:
        """The work tree as the maintainer left it; the untracked files no write may touch."""
        snap = worktree.without_leftovers(taking)
        self.kept = guard.keep(self.repo, snap, state.untracked,
                               [state.written_tree, state.final_tree])
        self.differing = {*snap.uncommitted, *snap.untracked}
        return snap

    def _renames(self, state: RebaseState,
                 patches: Sequence[SeriesPatch]) -> Mapping[str, str]:
        """The upstream renames for the patches left to apply (the applied ones are not read
        again); the same trees give the same renames for their paths."""
        if state.old_tree is None or state.base is None:
            return {}  # no recorded base in the repository: there was nothing to compare
        base = gitrepo.commit_by_id(self.repo, state.base)
        onto = gitrepo.commit_by_id(self.repo, state.onto)
        if base is None or onto is None:
            return {}
        return upstream_renames(self.repo, str(base.tree_id), str(onto.tree_id),
                                patches[state.stopped_at:])

    # --- abort -------------------------------------------------------------------------------
    def abort(self) -> Outcome:
        state = self._load()
        self.fresh = False
        snap = self._look(worktree.Snapshotting(self.repo, self.roots, staged=False), state)
        report = self._write(snap.tree, state.backup_tree, None)[0]
        gitindex.restore(self.repo, self.store.index_backup if state.had_index else None)
        self.store.clear()
        return Outcome("abort", onto=state.onto, base=state.base, aborted=True,
                      written=len(report.written), removed=len(report.removed))


# --- helpers -----------------------------------------------------------------------------------
def _labels(onto: str, base: str | None) -> Labels:
    return Labels(base=f"base {base[:7]}" if base else "patch preimage",
                  ours=f"upstream {onto[:7]}", theirs="patch")


def _write_overlay(repo: Repository, overlay: Overlay,
                   progress: Callable[[int], None] | None = None) -> str:
    """Store the overlay's changes (blobs in parallel) and write its tree."""
    with ObjectWriter(repo) as writer:
        entries = overlay.entries(writer, progress)
    return update_tree(repo, overlay.source.oid, entries, progress)


def _side(writer: DirectBlobWriter, file: File | None) -> tuple[int, str] | None:
    return None if file is None else (file.mode, file.oid or writer.write_bytes(file.content.data))
