"""The opened checkout every command works in: repository, manifest, series and lock, once.

The CLI opens one ``Workspace`` (``-C DIR``, ``--manifest``) and hands it to the command; the
command asks it for what it needs instead of re-discovering the project:

- ``repo``, ``root`` and ``manifest`` (read and validated on first use: a command that does
  not need it, such as a stopped rebase's ``--continue``, never loads the YAML parser);
- the series: ``work_series()`` reads ``patches/`` from the work tree (uncommitted edits
  included, as ``git status`` sees them; read once per workspace), ``series_at(tree)`` from any
  tree, and ``base_of(series)`` the upstream commit it is measured against;
- the rebase state: ``refuse_if_rebasing()`` is the one "rebase in progress" guard (exit 1,
  naming ``rebase-patches --continue/--skip/--abort``), and ``session()`` the rebase itself;
- ``lock()``: the exclusive lock a command that writes holds while it writes, so that two
  simapp-sync processes never write one checkout at once (exit 1 when it is taken).

Layer: between the commands and the domain. Commands import it; the domain (image, series,
render) never does: it is handed the repository, manifest and trees it needs.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sync import program
from sync.config import MANIFEST_NAME
from sync.errors import GitError, WorkspaceBusy
from sync.git import Commit, Repository, worktree
from sync.git import repo as gitrepo
from sync.git.trees import TreeSource
from sync.series.load import PATCHES, SERIES, LoadedSeries, load_series
from sync.series.state import StateStore

if TYPE_CHECKING:  # imported by the methods that use them: a command pays for what it runs
    from sync.config.manifest import Manifest
    from sync.series.scope import Scope
    from sync.series.session import Display, RebaseSession
    from sync.upstream import Upstream


@dataclass(frozen=True)
class SeriesBase:
    """The upstream commit a series is measured against, and why that one."""

    upstream: Upstream
    recorded: bool  # the series' own "# upstream:" record (else the branch tip)

    @property
    def commit(self) -> str:
        """The upstream commit's id."""
        return self.upstream.commit

    @property
    def tree(self) -> str:
        """The upstream commit's tree: what the series applies to."""
        assert self.upstream.tree is not None  # always read from a commit here
        return self.upstream.tree


@dataclass
class Workspace:
    """A simapp checkout: its repository and manifest, and what commands read from them."""

    repo: Repository
    manifest_path: Path  # read on the first use of ``manifest``
    loaded: Manifest | None = field(default=None, repr=False)  # the manifest, once read
    _work_series: tuple[str, LoadedSeries] | None = field(default=None, init=False, repr=False)

    @classmethod
    def open(cls, directory: Path | str = ".", manifest: Path | str | None = None) -> Workspace:
        """The repository around ``directory`` and its manifest's path (default: at the top)."""
        repo = gitrepo.open_repository(Path(directory))
        return cls(repo, Path(manifest) if manifest else gitrepo.work_tree(repo) / MANIFEST_NAME)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Workspace:
        """The workspace the global options ``-C DIR`` and ``--manifest PATH`` name."""
        return cls.open(args.directory, args.manifest)

    @property
    def manifest(self) -> Manifest:
        """The manifest, read and validated on first use (a ``ConfigError`` names the file, key
        and line of what is wrong)."""
        if self.loaded is None:
            from sync.config.manifest import load_manifest

            self.loaded = load_manifest(self.manifest_path)
        return self.loaded

    def scope(self) -> Scope:
        """What of the manifest a rebase works on: its targets and upstream branch."""
        from sync.series.scope import Scope

        return Scope(self.manifest.targets, self.manifest.branch, str(self.manifest_path))

    def fingerprint(self) -> str | None:
        """An id of the manifest file's bytes, read without parsing them (None: unreadable)."""
        try:
            return hashlib.sha256(self.manifest_path.read_bytes()).hexdigest()
        except OSError:
            return None

    @property
    def root(self) -> Path:
        """The top of the work tree."""
        return gitrepo.work_tree(self.repo)

    @property
    def roots(self) -> tuple[str, ...]:
        """What the series governs in the work tree: the targets and ``patches/``."""
        return (*self.manifest.targets, PATCHES)

    # --- the rebase state --------------------------------------------------------------------
    @property
    def rebase_state(self) -> StateStore:
        return StateStore(gitrepo.git_dir(self.repo))

    def rebase_in_progress(self) -> bool:
        return self.rebase_state.exists()

    def refuse_if_rebasing(self) -> None:
        """The guard of every command that must not run while a rebase is stopped."""
        self.rebase_state.refuse_if_in_progress()

    def session(self, display: Display | None = None) -> RebaseSession:
        """The rebase session of this checkout (``rebase-patches``)."""
        from sync.series.session import RebaseSession

        return RebaseSession(self.repo, self, display)  # it asks for the scope when it needs it

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the checkout's writer lock for the block.

        An advisory ``flock`` on the ``.git`` folder itself: nothing is written for it, and the
        kernel releases it when the process ends, even by SIGKILL, so the lock of a killed
        process is free at once and the next command takes it (git's own ``index.lock`` files
        are not involved). A refusal names the holder's pid, read from ``/proc/locks``.
        """
        fd = os.open(gitrepo.git_dir(self.repo), os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(os.fstat(fd))
                running = f"pid {holder}" if holder is not None else "pid unknown"
                raise WorkspaceBusy(
                    f"another simapp-sync is running, {running}: it is writing {self.root}",
                    hint="wait for it to finish, then run this again") from None
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    # --- the series --------------------------------------------------------------------------
    def snapshot(self) -> worktree.Snapshot:
        """The work tree's targets and ``patches/`` stored as a tree (nothing else written)."""
        return worktree.snapshot(self.repo, self.roots)

    def work_series(self) -> tuple[str, LoadedSeries]:
        """The work tree's tree (targets and ``patches/``) and the series in it; read once."""
        if self._work_series is None:
            tree = self.snapshot().tree
            self._work_series = (tree, self.series_at(tree))
        return self._work_series

    def series_at(self, tree: str) -> LoadedSeries:
        """The series and its patches as they are in ``tree``."""
        return load_series(TreeSource(self.repo, tree), self.manifest.targets)

    def commit(self, rev: str, what: str = "--rev") -> Commit:
        """``rev`` as a commit; a GitError naming the option ``what`` otherwise."""
        found = gitrepo.find_commit(self.repo, rev)
        if found is None:
            raise GitError(f"{what} {rev}: no such commit",
                           hint="give a branch, tag or commit id (see `git log`)")
        return found

    def upstream_tip(self) -> Commit | None:
        """The tip of the manifest's upstream branch; None before the first pull."""
        return gitrepo.branch_tip(self.repo, self.manifest.branch)

    def base_of(self, loaded: LoadedSeries) -> SeriesBase:
        """The recorded base of the series, else the tip of the upstream branch."""
        from sync.upstream import Upstream

        base = loaded.series.base
        if base is not None:
            found = gitrepo.commit_by_id(self.repo, base)
            if found is None:
                raise GitError(f"{SERIES}: the recorded upstream {base[:12]} is not in this "
                               "repository", hint="fetch the upstream branch (or run "
                                                  f"`{program.command('pull')}`), then try again")
            return SeriesBase(Upstream.of(found), recorded=True)
        tip = self.upstream_tip()
        if tip is None:
            raise GitError(f"branch {self.manifest.branch!r} does not exist and {SERIES} "
                           "records no upstream base",
                           hint=f"run `{program.command('pull')}` first")
        return SeriesBase(Upstream.of(tip), recorded=False)


def _lock_holder(info: os.stat_result) -> int | None:
    """The pid holding a ``flock`` on the file ``info`` describes (Linux ``/proc/locks``)."""
    inode = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode \
                and fields[4].isdigit():
            return int(fields[4])
    return None
