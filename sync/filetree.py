"""The normalized file tree every layer agrees on: folders of git modes and blob ids.

The flattener produces it (``sync.image``), the git adapter writes and reads it (``sync.git``);
it lives below both so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

# git file modes, the only ones a flattened tree holds
MODE_FILE = 0o100644
MODE_EXECUTABLE = 0o100755
MODE_SYMLINK = 0o120000


@dataclass(frozen=True)
class Leaf:
    """A file or symlink in the flattened tree: a git mode and a blob id."""

    mode: int
    oid: str


@dataclass
class Tree:
    """A directory: child name -> ``Tree`` or ``Leaf``. Names are str; one that is not UTF-8
    holds its bytes as surrogate escapes (``os.fsdecode``), which the git adapter writes back."""

    children: dict[str, Tree | Leaf] = field(default_factory=dict)

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Leaf]]:
        """Yield (path, leaf) for every file below, in sorted path order."""
        for name in sorted(self.children):
            node = self.children[name]
            path = f"{prefix}{name}"
            if isinstance(node, Tree):
                yield from node.walk(path + "/")
            else:
                yield path, node
