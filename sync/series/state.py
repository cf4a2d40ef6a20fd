"""The on-disk state of a stopped ``rebase-patches`` (its own versioned format, not --json).

The rebase session (``sync.series.session``) owns this format; the CLI's ``--json`` output is
built separately and may change without touching it. It lives in ``.git/simapp-sync/rebase/``:

- ``state.json``: one JSON object ``{"format": 2, "phase": ..., ...}``, replaced atomically
  (temp file, fsync, rename): a crash leaves the previous document or the new one. Trees and
  texts are referenced by git object ids; the objects are in the object database before the
  document that names them is written.
- ``index.backup``: the index as it was before the rebase wrote anything.

A document of another format (written by another version of simapp-sync) is refused with a
message saying how to get out; nothing is guessed. Format history: 1 stored report rows in the
``--json`` shape under ``"version"``; 2 (this one) stores patch reports in its own shape.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync import program
from sync.errors import RETRY, DiskFault, GitError, RebaseInProgress, disk_faults
from sync.git import Repository
from sync.git.trees import read_blob
from sync.series.engine import PatchReport
from sync.series.outcome import Status
from sync.series.refresh import PatchText

STATE_FORMAT = 2
STATE_FILE = "state.json"
INDEX_BACKUP = "index.backup"
IN_PROGRESS = "a rebase-patches is in progress: the series is not settled"


def in_progress_hint() -> str:
    """What to do about a stopped rebase, spelled the way the user runs us."""
    return (f"finish it with `{program.command('rebase-patches --continue')}` (or --skip), "
            f"or undo it with `{program.command('rebase-patches --abort')}`, then try again")


def undone_hint() -> str:
    """A rebase that met a disk fault and put everything back."""
    return f"{RETRY}; nothing was changed (what the rebase had written was put back)"


def not_undone_hint(error: BaseException) -> str:
    """A rebase that met a disk fault and could not put everything back either."""
    return (f"the rebase could not be undone ({error}); free some space, then "
            f"`{program.command('rebase-patches --abort')}` puts the targets, patches/ and the "
            "index back as they were")


@contextmanager
def undone_on_disk_fault(store: StateStore, abort: Callable[[], object]) -> Iterator[None]:
    """A disk fault while a rebase starts: ``abort`` puts back what it wrote once its state is
    saved (before that, forgetting the state is enough), or the hint says how to."""
    try:
        yield
    except DiskFault as fault:
        try:
            abort() if store.exists() else store.clear()
        except Exception as error:
            raise DiskFault(fault.message, hint=not_undone_hint(error)) from error
        raise DiskFault(fault.message, hint=undone_hint()) from fault.__cause__


@contextmanager
def still_in_progress() -> Iterator[None]:
    """A disk fault while a stopped rebase goes on (or is aborted): its state stays, and the
    hint says how to go on once there is space."""
    try:
        yield
    except DiskFault as fault:
        raise DiskFault(fault.message, hint=(
            f"{RETRY}: the rebase is still in progress; then run "
            f"`{program.command('rebase-patches --continue')}` (or --skip) again, or "
            f"`{program.command('rebase-patches --abort')}` to put everything back as it was "
            "before it started")) from fault.__cause__


Side = tuple[int, str]  # (git mode, blob id)


@dataclass
class ConflictRecord:
    """A conflicted path and its three sides as ``(mode, blob id)`` (or None)."""

    path: str
    base: Side | None
    ours: Side | None
    theirs: Side | None
    markers: bool = True  # the work tree file holds conflict markers


@dataclass
class ReportRecord:
    """A patch report as the state keeps it; ``new_text`` is the blob id of a refreshed text."""

    index: int
    name: str
    status: str
    files: int
    added: int
    removed: int
    evidence: list[str] = field(default_factory=list)
    new_text: str | None = None
    dropped: bool = False
    conflicts: list[str] = field(default_factory=list)
    offset: int = 0
    fuzz: int = 0
    rewritten: bool = False
    renamed: list[tuple[str, str]] = field(default_factory=list)
    rules: list[tuple[str, str]] = field(default_factory=list)  # (path, merge rule)

    @classmethod
    def of(cls, report: PatchReport, new_text: str | None = None) -> ReportRecord:
        """The record of ``report`` (its refreshed text already stored as blob ``new_text``)."""
        return cls(report.index, report.name, report.status.value, report.files, report.added,
                   report.removed, list(report.evidence), new_text, report.dropped,
                   list(report.conflicts), report.offset, report.fuzz, report.rewritten,
                   list(report.renamed), list(report.rules))

    def report(self, new_text: bytes | PatchText | None = None) -> PatchReport:
        """The ``PatchReport`` back, with the refreshed text read from the blob."""
        return PatchReport(index=self.index, name=self.name, status=Status(self.status),
                           files=self.files, added=self.added, removed=self.removed,
                           evidence=tuple(self.evidence), new_text=new_text,
                           dropped=self.dropped, conflicts=tuple(self.conflicts),
                           offset=self.offset, fuzz=self.fuzz, rewritten=self.rewritten,
                           renamed=tuple((old, new) for old, new in self.renamed),
                           rules=tuple((path, rule) for path, rule in self.rules))

    def restored(self, repo: Repository) -> PatchReport:
        """The ``PatchReport`` back, its refreshed text read from ``repo`` only if asked for."""
        oid = self.new_text
        return self.report(None if oid is None else PatchText(oid=oid,
                                                              read=lambda: read_blob(repo, oid)))


@dataclass
class RebaseState:
    """Everything ``--continue``, ``--skip`` and ``--abort`` need."""

    # "stopping" (writing a conflict), "conflict" (waiting for the maintainer),
    # "finishing" (writing the result)
    phase: str
    onto: str  # the upstream commit being rebased onto
    base: str | None  # the recorded base the series came from
    backup_tree: str  # targets and patches/ as they were before the rebase
    had_index: bool
    fuzz: int = 0
    drop_merged: bool = False
    stopped_at: int = 0  # 0-based index of the conflicting patch
    stopped: ReportRecord | None = None  # its report
    settle: list[str] = field(default_factory=list)  # former conflicts to stage when stopped
    new_tree: str | None = None  # new chain before the conflicting patch
    old_tree: str | None = None  # old chain after the conflicting patch
    broken: list[str] = field(default_factory=list)
    written_tree: str | None = None  # what was written for the conflict
    conflicts: list[ConflictRecord] = field(default_factory=list)
    reports: list[ReportRecord] = field(default_factory=list)
    final_tree: str | None = None  # phase "finishing": the tree being written
    untracked: list[str] = field(default_factory=list)  # untracked at the start: never touched
    rules_off: list[str] = field(default_factory=list)  # merge rules turned off (--no-rule)
    # the manifest's targets and upstream branch when the rebase started, and an id of the
    # manifest file's bytes then (all None in a state of an earlier simapp-sync: the manifest is
    # read when it goes on)
    targets: list[str] | None = None
    branch: str | None = None
    manifest: str | None = None


class StateStore:
    """Where the state lives; ``load`` returns None when no rebase is in progress."""

    def __init__(self, git_dir: Path) -> None:
        self.folder = git_dir / "simapp-sync" / "rebase"

    @property
    def index_backup(self) -> Path:
        return self.folder / INDEX_BACKUP

    def exists(self) -> bool:
        return (self.folder / STATE_FILE).exists()

    def refuse_if_in_progress(self) -> None:
        """The "rebase in progress" guard: ``RebaseInProgress`` (exit 1) while one is stopped."""
        if self.exists():
            raise RebaseInProgress(IN_PROGRESS, hint=in_progress_hint())

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def load(self) -> RebaseState | None:
        path = self.folder / STATE_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise _unreadable(path, str(error)) from None
        if not isinstance(raw, dict):
            raise _unreadable(path, "not a JSON object")
        found = raw.pop("format", None) if "format" in raw else raw.pop("version", None)
        if found != STATE_FORMAT:
            raise GitError(f"{path}: rebase state format {found} is not the format this "
                           f"simapp-sync reads ({STATE_FORMAT}): another version of "
                           "simapp-sync stopped this rebase",
                           hint="finish or --abort it with the version that started it, or "
                                f"remove {self.folder} to forget it (the work tree and "
                                "patches/ are then left as they are)")
        try:
            return _state(raw)
        except (KeyError, TypeError, ValueError) as error:
            raise _unreadable(path, f"{type(error).__name__}: {error}") from None

    def save(self, state: RebaseState) -> None:
        """Replace the state document atomically; on a disk fault (``DiskFault``) the
        previous document stays and no temporary file is left."""
        path = self.folder / STATE_FILE
        temporary = path.with_name(STATE_FILE + ".tmp")
        # json.dumps, not json.dump: only the former uses the C encoder (a long series' state
        # is thousands of records)
        text = json.dumps(_document(state), separators=(",", ":"))
        try:
            with disk_faults("writing", path):
                self.prepare()
                with open(temporary, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable where we can
            folder_fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder_fd)
            finally:
                os.close(folder_fd)

    def clear(self) -> None:
        """Forget the rebase: first the state document (the commit point), then the rest."""
        (self.folder / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(OSError):  # .git/simapp-sync too, unless something else is in it
            self.folder.parent.rmdir()


def _unreadable(path: Path, why: str) -> GitError:
    return GitError(f"{path}: unreadable rebase state: {why}",
                    hint="remove the folder to forget the rebase (the work tree is not "
                         "restored then)")


def _document(state: RebaseState) -> dict[str, Any]:
    # not dataclasses.asdict: it deep-copies every record, which is slow for long series
    document: dict[str, Any] = {"format": STATE_FORMAT, **vars(state)}
    document["stopped"] = vars(state.stopped) if state.stopped is not None else None
    document["conflicts"] = [vars(record) for record in state.conflicts]
    document["reports"] = [vars(record) for record in state.reports]
    return document


def _state(raw: dict[str, Any]) -> RebaseState:
    raw["stopped"] = _report(raw["stopped"]) if raw.get("stopped") is not None else None
    raw["conflicts"] = [ConflictRecord(**_sides(item)) for item in raw["conflicts"]]
    raw["reports"] = [_report(item) for item in raw["reports"]]
    targets = raw.get("targets")  # a string would be taken letter by letter
    if targets is not None and (not isinstance(targets, list)
                                or not all(isinstance(target, str) for target in targets)):
        raise TypeError(f"targets must be a list of folder names, not {targets!r}")
    return RebaseState(**raw)


def _report(item: dict[str, Any]) -> ReportRecord:
    return ReportRecord(**{**item, "renamed": [tuple(pair) for pair in item["renamed"]]})


def _sides(item: dict[str, Any]) -> dict[str, Any]:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in
            item.items()}
