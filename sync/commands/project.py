"""What `check` and `patches` share: the repository and manifest, and where the series is read.

The series (and the targets) are read either from the work tree (uncommitted edits included,
as ``git status`` sees them) or from a commit; the upstream tree the series applies to is the
recorded base (``# upstream:`` in patches/series), or the tip of the upstream branch when no
base is recorded.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from sync.config.manifest import MANIFEST_NAME, Manifest, load_manifest
from sync.errors import GitError
from sync.git import Commit, Repository, worktree
from sync.git import repo as gitrepo
from sync.git.trees import TreeSource
from sync.series.load import PATCHES, SERIES, LoadedSeries, load_series
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


def open_project(args: argparse.Namespace) -> tuple[Repository, Manifest]:
    """The repository around ``-C DIR`` and its manifest (``--manifest`` or the default)."""
    repo = gitrepo.open_repository(Path(args.directory))
    root = gitrepo.work_tree(repo)
    return repo, load_manifest(Path(args.manifest) if args.manifest else root / MANIFEST_NAME)


def resolve_commit(repo: Repository, rev: str, what: str = "--rev") -> Commit:
    """``rev`` as a commit; a GitError naming it otherwise."""
    found = gitrepo.find_commit(repo, rev)
    if found is None:
        raise GitError(f"{what} {rev}: no such commit",
                       hint="give a branch, tag or commit id (see `git log`)")
    return found


def source_tree(repo: Repository, manifest: Manifest, rev: str | None) -> str:
    """The tree holding the targets and patches/: commit ``rev``'s, or the work tree's."""
    if rev is not None:
        return str(resolve_commit(repo, rev).tree_id)
    return worktree.snapshot(repo, (*manifest.targets, PATCHES)).tree


def read_series(repo: Repository, manifest: Manifest, tree: str) -> LoadedSeries:
    """The series and its patches as they are in ``tree``."""
    return load_series(TreeSource(repo, tree), manifest.targets)


def upstream_of(repo: Repository, manifest: Manifest, loaded: LoadedSeries) -> SeriesBase:
    """The recorded base of the series, else the tip of the upstream branch."""
    base = loaded.series.base
    if base is not None:
        found = gitrepo.commit_by_id(repo, base)
        if found is None:
            raise GitError(f"{SERIES}: the recorded upstream {base[:12]} is not in this "
                           "repository", hint="fetch the upstream branch (or run `python -m "
                                              "sync pull`), then try again")
        return SeriesBase(Upstream.of(found), recorded=True)
    tip = gitrepo.branch_tip(repo, manifest.branch)
    if tip is None:
        raise GitError(f"branch {manifest.branch!r} does not exist and {SERIES} records no "
                       "upstream base", hint="run `python -m sync pull` first")
    return SeriesBase(Upstream.of(tip), recorded=False)
