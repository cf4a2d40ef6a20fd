"""Where the series was before its last rebase or edit: what ``patches range-diff`` and
``sync report`` compare the current series with."""

from __future__ import annotations

from sync.errors import GitError
from sync.git import Commit, Repository, worktree
from sync.git import repo as gitrepo
from sync.git.trees import TreeSource
from sync.series.load import PATCHES


def last_series_change(repo: Repository) -> Commit:
    """HEAD when patches/ has uncommitted changes, else the parent of the last commit that
    changed patches/ (first-parent history)."""
    head = gitrepo.head_commit(repo)
    if head is None:
        raise GitError("no commits yet: nothing to compare the series with",
                       hint="commit the series first, or name OLD_REV")
    if worktree.status(repo, (PATCHES,)):
        return head
    commit = head
    while (parent := gitrepo.first_parent(commit)) is not None:
        if _subtree(repo, commit, PATCHES) != _subtree(repo, parent, PATCHES):
            return parent
        commit = parent
    raise GitError(f"no commit before HEAD changed {PATCHES}/: nothing to compare with",
                   hint="name the commit to compare with: patches range-diff OLD_REV")


def _subtree(repo: Repository, commit: Commit, path: str) -> str | None:
    return TreeSource(repo, str(commit.tree_id)).subtree(path)
