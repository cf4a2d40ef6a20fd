"""Canonical diff text between two sets of files, as ``git format-patch -M --binary`` has it.

The text comes from libgit2 (3 lines of context, rename detection, full binary patches),
computed on small trees that hold only the paths in question, so the cost depends on
the size of the change and not on the size of the repository.
"""

from __future__ import annotations

from collections.abc import Mapping

import pygit2
from pygit2.enums import DiffFind, DiffOption

from sync.git.trees import Entry, update_tree

CONTEXT_LINES = 3


def diff_text(repo: pygit2.Repository, before: Mapping[str, Entry | None],
              after: Mapping[str, Entry | None]) -> bytes:
    """The diff (``diff --git`` sections, ``a/`` and ``b/`` prefixes) from ``before`` to ``after``.

    Both map repository paths to entries (None: absent); blobs must already be stored. Paths
    present in only one mapping are taken as absent in the other.
    """
    old_tree = repo.get(update_tree(repo, None, {p: e for p, e in before.items() if e}))
    new_tree = repo.get(update_tree(repo, None, {p: e for p, e in after.items() if e}))
    assert isinstance(old_tree, pygit2.Tree) and isinstance(new_tree, pygit2.Tree)
    flags = DiffOption.SHOW_BINARY | DiffOption.INDENT_HEURISTIC
    diff = old_tree.diff_to_tree(new_tree, flags=flags, context_lines=CONTEXT_LINES)
    # renames only: libgit2 prints copies without their "copy from/to" lines, which would turn
    # a copy into an edit of the source; a copy is written as a new file instead
    diff.find_similar(flags=DiffFind.FIND_RENAMES)
    return b"".join(patch.data for patch in diff if patch is not None)
