"""Carry a series from its recorded base onto a new upstream, patch by patch, in memory.

Two chains advance side by side: the *old* chain applies each patch to the recorded base (where
it applied before, so it is exact) and yields, for every file, the file before and after the
patch there; the *new* chain applies the same patch to the new upstream and, when a hunk does
not land, merges the old chain's change into it (3-way). The first conflict stops the run with
everything needed to write it out and resume later.

A file the series changes that upstream renamed since the recorded base is followed to its new
path (``upstream_renames``, found once per rebase); the 3-way ancestor is still the old chain's
file under its old path, and the refreshed patch names the new path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sync.errors import PatchError
from sync.git import Repository
from sync.git.diff import diff_counted, diff_text
from sync.git.mapped import Told
from sync.git.merge import Labels, merge_file
from sync.git.trees import (
    Entry,
    RecentBlobs,
    TreeSource,
    find_blob,
    has_blob,
    read_blob,
    write_blob_parts,
)
from sync.series.apply import ApplyOptions, apply_patch
from sync.series.load import SeriesPatch
from sync.series.model import FilePatch, Patch
from sync.series.outcome import PatchOutcome, Status, status_text
from sync.series.overlay import BlobWriter, Content, File, Overlay, store_file
from sync.series.refresh import PatchText, binary_sections, refresh, render_patch, unpaired
from sync.series.renames import UpstreamRenames
from sync.series.resolve import RuleSet

if TYPE_CHECKING:  # the rules are loaded by the first 3-way merge: a clean series needs none
    from sync.series.resolve.conflicts import Settled

# a patch this large takes a while to parse and to store: its phase then shows how far it is
SHOWN_FROM = 8 << 20
MERGE_ALGORITHM = "myers"  # measured on the Debian corpus: see benchmarks/merge_quality.py


class _Refreshed:
    """``PatchReport.new_text``: reads as bytes, kept as a ``PatchText`` (parts, not joined)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = f"_{name}"

    def __get__(self, report: object, owner: type | None = None) -> bytes | None:
        text = getattr(report, self.name, None) if report is not None else None
        return None if text is None else bytes(text)

    def __set__(self, report: object, value: bytes | PatchText | None) -> None:
        setattr(report, self.name, PatchText((value,)) if isinstance(value, bytes) else value)


@dataclass
class PatchReport:
    """One row of the report, and what to write back for the patch."""

    index: int  # 1-based position in the series
    name: str
    status: Status
    files: int
    added: int
    removed: int
    evidence: tuple[str, ...] = ()
    new_text: _Refreshed = _Refreshed()  # the refreshed patch, when its change changed
    dropped: bool = False
    conflicts: tuple[str, ...] = ()
    offset: int = 0  # the largest offset of a hunk (by size)
    fuzz: int = 0  # the largest fuzz a hunk needed
    rewritten: bool = False
    renamed: tuple[tuple[str, str], ...] = ()  # upstream renames followed: (old, new path)
    rules: tuple[tuple[str, str], ...] = ()  # (path, merge rule that resolved or refused it)

    @property
    def refreshed(self) -> PatchText | None:
        """The refreshed patch as its parts (``new_text`` joins them)."""
        text: PatchText | None = getattr(self, "_new_text", None)
        return text

    def text_blob(self, repo: Repository) -> str | None:
        """The blob id of the refreshed text (stored part by part if it is not yet)."""
        text = self.refreshed
        if text is not None and text.oid is None:
            text.oid = write_blob_parts(repo, text.parts)
        return text.oid if text is not None else None

    @property
    def status_text(self) -> str:
        """The status in the report's words ("offset +7", "merged (3-way)", ...)."""
        return status_text(self.status, offset=self.offset, fuzz=self.fuzz,
                           dropped=self.dropped, renamed=bool(self.renamed))


@dataclass(frozen=True)
class Stop:
    """The run stopped at ``index`` (0-based) on a conflict."""

    index: int
    outcome: PatchOutcome
    report: PatchReport


@dataclass
class Rebase:
    """The state of a series being rebased; ``run`` advances it until done or a conflict."""

    repo: Repository
    patches: Sequence[SeriesPatch]
    new: Overlay
    old: Overlay | None
    store: BlobWriter
    fuzz: int = 0
    drop_merged: bool = False
    labels: Labels = Labels()
    broken: set[str] = field(default_factory=set)  # paths the old chain lost track of
    renames: Mapping[str, str] = field(default_factory=dict)  # see ``upstream_renames``
    reports: list[PatchReport] = field(default_factory=list)
    rules: RuleSet = RuleSet()
    # told which phase patch N is in ("parsing", "applying", "refreshing"...): a 100 MB patch
    # takes seconds, and its progress is shown within it
    phase: Callable[[int, str], None] = field(default=lambda _index, _what: None)

    def run(self, start: int = 0,
            progress: Callable[[int, SeriesPatch], None] | None = None) -> Stop | None:
        """Apply patches ``start``.. in order; return the first conflict, or None when done."""
        for index in range(start, len(self.patches)):
            if progress is not None:
                progress(index, self.patches[index])
            stop = self.step(index)
            if stop is not None:
                return stop
            self.patches[index].forget()  # applied: parse → apply → drop
            self.new.release()
            if self.old is not None:
                self.old.release()
        # every patch applied: the old chain is not read again, and it holds about as much as
        # the new one while the result is stored and written
        self.old = None
        return None

    def step(self, index: int) -> Stop | None:
        item = self.patches[index]
        self.phase(index, "parsing")
        patch = item.parsed(self._told(index, "reading"), self._told(index, "parsing"))
        old = _OldStep(self, index, patch)
        self.phase(index, "applying")
        options = ApplyOptions(
            fuzz=self.fuzz, merge=self._merger(item.entry.name),
            recorded=lambda file: self._recorded(old.outcome(), file),
            find_blob=lambda oid: find_blob(self.repo, oid), stored=self._stored,
            renames=self.renames, rules=self.rules)
        outcome = apply_patch(patch, self.new, options)
        old.follow(outcome)
        self.phase(index, "refreshing")
        report = self._report(index, item, outcome)
        if outcome.status is Status.CONFLICT:
            return Stop(index, outcome, report)
        self.reports.append(report)
        return None

    def resolve(self, index: int, after: dict[str, File | None]) -> PatchReport:
        """Take the maintainer's resolution of patch ``index`` (--continue) and regenerate it."""
        item = self.patches[index]
        before = {path: self.new.get(path) for path in after}
        after = {path: file for path, file in after.items() if before[path] != file}
        before = {path: before[path] for path in after}
        self.new.update(after)
        status = Status.RESOLVED if after else Status.EMPTY
        outcome = PatchOutcome(status=status, files=(), before=before, after=after,
                               evidence=("resolved by hand (--continue)",))
        report = self._report(index, item, outcome)
        if status is Status.EMPTY and not report.dropped:
            report.new_text = render_patch(item.patch.preamble, b"")
            report.rewritten = True
        self.reports.append(report)
        return report

    def skip(self, index: int) -> PatchReport:
        """Drop patch ``index`` from the series (--skip)."""
        item = self.patches[index]
        report = PatchReport(index + 1, item.entry.name, Status.SKIPPED, len(item.patch.files),
                             item.patch.added, item.patch.removed, dropped=True,
                             evidence=("dropped at a conflict (--skip)",))
        self.reports.append(report)
        return report

    # --- the old chain -----------------------------------------------------------------------
    def _advance_old(self, index: int, patch: Patch) -> PatchOutcome | None:
        if self.old is None:
            return None
        self.phase(index, "applying to the recorded base")
        try:
            outcome = apply_patch(patch, self.old, ApplyOptions(stored=self._stored))
        except PatchError:
            self.broken.update(patch.paths)
            return None
        if outcome.status is Status.CONFLICT:
            self.broken.update(patch.paths)
            return None
        return outcome

    def _shares(self, outcome: PatchOutcome) -> bool:
        """Whether the old chain's own application of the patch would give what the new
        chain's just did: every file it touched was the same on both chains before it, it
        landed as it is written (clean or at an offset: no fuzz, merge or rule; the old chain
        uses neither), it followed no rename, and nothing stops a file it creates on the old
        chain. Then the old chain takes the new chain's files, and the patch is applied once
        (``_OldStep``)."""
        assert self.old is not None
        if outcome.status not in (Status.CLEAN, Status.OFFSET) or outcome.renames \
                or outcome.rules or any(path in self.broken for path in outcome.before):
            return False
        for path, before in outcome.before.items():
            if not _same(self.old.get(path), before):
                return False
            if before is None and outcome.after.get(path) is not None \
                    and self.old.blocked(path) is not None:
                return False
        return True

    def _stored(self, oid: str) -> Content | None:
        """A stored blob as content read only when needed (None when the database lacks it)."""
        if not has_blob(self.repo, oid):
            return None
        return Content(loader=lambda: read_blob(self.repo, oid))

    def _recorded(self, outcome: PatchOutcome | None,
                  file: FilePatch) -> tuple[bytes | None, bytes | None] | None:
        if outcome is None:
            return None
        paths = [path for path in (file.old_path, file.new_path) if path is not None]
        if any(path in self.broken for path in paths):
            return None
        base = outcome.before.get(file.old_path) if file.old_path is not None else None
        theirs = outcome.after.get(file.new_path) if file.new_path is not None else None
        return (base.content.data if base is not None else None,
                theirs.content.data if theirs is not None else None)

    def _merger(self, name: str) -> Callable[[str, bytes | None, bytes, bytes, int], Settled]:
        labels = replace(self.labels, theirs=name)

        def merge(path: str, base: bytes | None, ours: bytes, theirs: bytes,
                  mode: int) -> Settled:
            from sync.series.resolve.conflicts import settle

            merged = merge_file(self.repo, path, base, ours, theirs, labels, mode,
                                algorithm=MERGE_ALGORITHM)
            return settle(base, ours, theirs, merged.clean, merged.content,
                          (labels.ours, labels.base, labels.theirs), self.rules)

        return merge

    # --- reports and refresh -----------------------------------------------------------------
    def _report(self, index: int, item: SeriesPatch, outcome: PatchOutcome) -> PatchReport:
        patch = item.patch
        hunks = [hunk for file in outcome.files for hunk in file.hunks]
        report = PatchReport(index + 1, item.entry.name, outcome.status, len(patch.files),
                             patch.added, patch.removed, evidence=outcome.evidence,
                             conflicts=tuple(conflict.path for conflict in outcome.conflicts),
                             offset=max((hunk.offset for hunk in hunks), key=abs, default=0),
                             fuzz=max((hunk.fuzz for hunk in hunks), default=0),
                             renamed=outcome.renames, rules=tuple(outcome.rules.items()))
        status = outcome.status
        if status.absorbed:
            report.added = report.removed = 0
            report.dropped = self.drop_merged
        elif status.needs_refresh or (outcome.renames and status is not Status.CONFLICT):
            # a followed rename changes the file names, and so the patch id: always rewritten
            before, after = self._entries(outcome.before), self._entries(outcome.after)
            self.phase(index, "refreshing: the new diff")
            diff = diff_counted(self.repo, before, after, binary_sections(patch),
                                lambda what: self.phase(index, f"refreshing: {what}"),
                                unpaired(patch))
            self.phase(index, "refreshing: comparing")
            text = refresh(patch, diff)
            if text is not None:  # stored at once, part by part: the patch can be dropped
                self.phase(index, "storing the refreshed patch")
                oid = write_blob_parts(self.repo, text.parts,
                                       self._told(index, "storing the refreshed patch"))
                text = PatchText(oid=oid, read=lambda: read_blob(self.repo, oid))
            report.new_text = text
            report.rewritten = text is not None
            if report.rewritten:  # counted from libgit2's patches, not re-parsed
                report.files, report.added, report.removed = diff.files, diff.added, diff.removed
        return report

    def diff(self, before: dict[str, File | None] | Any, after: dict[str, File | None] | Any
             ) -> bytes:
        """Canonical diff text between two states of the same paths."""
        return diff_text(self.repo, self._entries(before), self._entries(after))

    def _told(self, index: int, what: str) -> Told:
        """A ``progress(done, in all)`` showing ``what`` within patch ``index`` by 5% steps,
        once the work is ``SHOWN_FROM`` bytes or more."""
        shown = -1

        def told(done: int, total: int) -> None:
            nonlocal shown
            step = done * 20 // total if total >= SHOWN_FROM else shown
            if step != shown:
                shown = step
                self.phase(index, f"{what}: {step * 5}%")
        return told

    def _entries(self, files: Mapping[str, File | None]) -> dict[str, Entry | None]:
        return {path: None if file is None else Entry(file.mode, store_file(self.store, file))
                for path, file in files.items()}


class _OldStep:
    """The old chain's side of one patch, applied only when needed.

    The new chain asks for it when a hunk does not land (the 3-way ancestor); otherwise, once
    the new chain is done, the old chain either takes the new chain's result (``Rebase._shares``:
    the same files before, the same exact application, so the same files after) or applies
    the patch itself. On a series rebased onto a release that changed a few files, nearly
    every patch is then applied once, not twice.
    """

    def __init__(self, engine: Rebase, index: int, patch: Patch) -> None:
        self.engine = engine
        self.index = index
        self.patch = patch
        self._outcome: tuple[PatchOutcome | None] | None = None  # (outcome,) once applied

    def outcome(self) -> PatchOutcome | None:
        """The old chain's outcome of the patch (None: no old chain, or it broke there)."""
        if self._outcome is None:
            self._outcome = (self.engine._advance_old(self.index, self.patch),)
        return self._outcome[0]

    def follow(self, new: PatchOutcome) -> None:
        """Advance the old chain past the patch, after the new chain applied it as ``new``."""
        engine = self.engine
        if self._outcome is not None or engine.old is None:
            return
        if engine._shares(new):
            engine.old.update(new.after)
            self._outcome = (new,)
        else:
            self.outcome()


def _same(old: File | None, new: File | None) -> bool:
    """The same file on both chains, known without reading it: one object, or the same
    stored blob and mode (both absent counts)."""
    if old is None or new is None:
        return old is new
    return old is new or (old.oid is not None and old.oid == new.oid and old.mode == new.mode)


@dataclass(frozen=True)
class SeriesResult:
    """``apply_series``: the tree reached, each patch's report, and the conflict if any."""

    tree: str  # the tree after the last patch that landed
    reports: tuple[PatchReport, ...]
    stop: Stop | None


def upstream_renames(repo: Repository, base: str | None, tree: str,
                     patches: Sequence[SeriesPatch]) -> Mapping[str, str]:
    """Files the series touches that upstream renamed between tree ``base`` and ``tree``
    (git's rename detection, 50% similarity), for the engine to apply each such patch where
    the file now is; found when first needed (``sync.series.renames``)."""
    return UpstreamRenames(repo, base, tree, patches)


def old_chain(repo: Repository, base: str | None, tree: str,
              recent: RecentBlobs | None = None) -> Overlay | None:
    """Where the old chain starts: tree ``base`` (None: no recorded base), or nowhere when it
    is ``tree`` itself. Onto its own base the old chain would repeat the new one patch for
    patch (a patch that fails on one fails on the other, and breaks it there), reading every
    file a second time, and its files would never be asked for as a 3-way ancestor. (``recent``:
    shared with the new chain's source, see ``TreeSource``.)"""
    return Overlay(TreeSource(repo, base, recent)) if base and base != tree else None


def apply_series(repo: Repository, patches: Sequence[SeriesPatch], tree: str, *,
                 base: str | None = None, fuzz: int = 0) -> SeriesResult:
    """Apply ``patches`` onto ``tree`` in memory (3-way from ``base`` when given).

    Nothing outside the object database is touched: this is what ``sync check`` compares the
    targets with, and what ``patches list`` reports statuses from.
    """
    from sync.git.objects import ObjectWriter
    from sync.git.trees import DirectBlobWriter, update_tree

    engine = Rebase(repo, patches, Overlay(TreeSource(repo, tree)), old_chain(repo, base, tree),
                    DirectBlobWriter(repo), fuzz=fuzz,
                    renames=upstream_renames(repo, base, tree, patches))
    stop = engine.run()
    with ObjectWriter(repo) as writer:
        entries = engine.new.entries(writer)
    return SeriesResult(update_tree(repo, tree, entries), tuple(engine.reports), stop)
