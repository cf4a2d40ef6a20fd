"""The git adapter: the one place that talks to pygit2.

``repo`` opens repositories, resolves revisions, reads and moves refs (compare-and-swap) and
writes commits; ``trees`` reads trees by path and updates them; ``objects`` streams blobs into
the object database and builds trees; ``worktree`` (with ``files``) and ``index`` write the
work tree and the index; ``diff`` and ``merge`` produce patch text and 3-way merges.

Code outside this package never imports pygit2: it names the types it is handed with the
aliases below (``Repository``, ``Commit``) and calls the functions of these modules.
"""

from __future__ import annotations

from typing import TypeAlias

import pygit2

# libgit2 hashes every object it reads again (strict hash verification); git does not, and at
# simapp scale that doubles the time to read a tree out (hundreds of MB): off, as in git
pygit2.settings.enable_strict_hash_verification(False)

Repository: TypeAlias = pygit2.Repository
Commit: TypeAlias = pygit2.Commit

__all__ = ["Commit", "Repository"]
