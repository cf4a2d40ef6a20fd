"""A new patch from edits that no patch explains (quilt ``new`` + ``refresh``).

The patch is the difference, under the targets, between what upstream + series gives and the
tree holding the maintainer's edits, written in the same canonical form as a refreshed patch: a
fixed ``From`` line, ``From:`` and ``Subject:`` headers, the description, ``---``, then the diff
as ``sync.git.diff`` produces it (so a later rebase rewrites nothing that did not change).
"""

from __future__ import annotations

from collections.abc import Sequence

from sync.git import Repository, worktree
from sync.git.diff import diff_text
from sync.git.trees import TreeSource
from sync.series.refresh import FIXED_FROM, render_patch


def header(subject: str, author: str, description: str = "") -> bytes:
    """The mail header of a new patch: ``git am`` takes author and subject from it."""
    body = f"\n{description.strip()}\n" if description.strip() else ""
    text = f"From: {author}\nSubject: [PATCH] {subject.strip()}\n{body}\n---\n"
    return FIXED_FROM + text.encode("utf-8")


def uncaptured_diff(repo: Repository, expected: str, actual: str,
                    targets: Sequence[str]) -> bytes:
    """The canonical diff from tree ``expected`` to tree ``actual`` under ``targets``."""
    changes = worktree.changes_between(repo, expected, actual, targets)
    source = TreeSource(repo, expected)
    before = {change.path: source.entry(change.path) for change in changes}
    after = {change.path: change.entry for change in changes}
    return diff_text(repo, before, after) if changes else b""


def new_patch(repo: Repository, expected: str, actual: str, targets: Sequence[str], *,
              subject: str, author: str, description: str = "") -> bytes | None:
    """The text of a patch turning ``expected`` into ``actual``; None when they are equal."""
    diff = uncaptured_diff(repo, expected, actual, targets)
    if not diff:
        return None
    return render_patch(header(subject, author, description), diff)
