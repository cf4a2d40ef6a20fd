"""The state of a stopped ``rebase-patches``, kept under ``.git/simapp-sync/rebase/``.

One JSON document, replaced atomically (temp file, fsync, rename): a crash leaves the previous
document or the new one. Trees and texts are referenced by git object ids; the objects are in
the object database before the document that names them is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.errors import GitError

STATE_VERSION = 1
STATE_FILE = "state.json"
INDEX_BACKUP = "index.backup"


@dataclass
class ConflictRecord:
    """A conflicted path and its three sides as ``[mode, blob id]`` (or None)."""

    path: str
    base: tuple[int, str] | None
    ours: tuple[int, str] | None
    theirs: tuple[int, str] | None
    markers: bool = True  # the work tree file holds conflict markers


@dataclass
class ReportRecord:
    """A finished patch: its report row and, when refreshed, the id of its new text."""

    row: dict[str, Any]
    new_text: str | None = None  # blob id


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
    stopped: dict[str, Any] | None = None  # its report row
    settle: list[str] = field(default_factory=list)  # former conflicts to stage when stopped
    new_tree: str | None = None  # new chain before the conflicting patch
    old_tree: str | None = None  # old chain after the conflicting patch
    broken: list[str] = field(default_factory=list)
    written_tree: str | None = None  # what was written for the conflict
    conflicts: list[ConflictRecord] = field(default_factory=list)
    reports: list[ReportRecord] = field(default_factory=list)
    final_tree: str | None = None  # phase "finishing": the tree being written
    version: int = STATE_VERSION


class StateStore:
    """Where the state lives; ``load`` returns None when no rebase is in progress."""

    def __init__(self, git_dir: Path) -> None:
        self.folder = git_dir / "simapp-sync" / "rebase"

    @property
    def index_backup(self) -> Path:
        return self.folder / INDEX_BACKUP

    def exists(self) -> bool:
        return (self.folder / STATE_FILE).exists()

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def load(self) -> RebaseState | None:
        path = self.folder / STATE_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise GitError(f"{path}: unreadable rebase state: {error}",
                           hint="remove the folder to forget the rebase (the work tree is "
                                "not restored then)") from None
        if raw.get("version") != STATE_VERSION:
            raise GitError(f"{path}: rebase state version {raw.get('version')} is not "
                           f"{STATE_VERSION}", hint="finish it with the version that started it")
        raw["conflicts"] = [ConflictRecord(**_tuples(item)) for item in raw["conflicts"]]
        raw["reports"] = [ReportRecord(**item) for item in raw["reports"]]
        return RebaseState(**raw)

    def save(self, state: RebaseState) -> None:
        self.prepare()
        path = self.folder / STATE_FILE
        temporary = path.with_name(STATE_FILE + ".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(_as_json(state), handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
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


def _as_json(state: RebaseState) -> dict[str, Any]:
    # not dataclasses.asdict: it deep-copies every report row, which is slow for long series
    document = dict(vars(state))
    document["conflicts"] = [vars(record) for record in state.conflicts]
    document["reports"] = [vars(record) for record in state.reports]
    return document


def _tuples(item: dict[str, Any]) -> dict[str, Any]:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in
            item.items()}
