"""Which image paths are kept: the manifest's ``paths`` mappings and their ``exclude`` patterns.

Image paths have no leading slash ("opt/amazon/x"). ``exclude`` patterns follow gitignore: they are
relative to the mapping's source, a leading "/" anchors a pattern at the source itself (so
"/build/" drops ``build/`` at the top but keeps ``rl_coach/build/``), a trailing "/" matches
directories only, and nothing below an excluded directory can be re-included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from pathspec import GitIgnoreSpec

from sync.config.manifest import PathMapping

EXCLUDED: Final = "excluded"


@dataclass(frozen=True)
class Kept:
    """A kept image path: which mapping keeps it and where it lands in the repository."""

    mapping: int  # index into the mappings the selection was built from
    relative: str  # path below the mapping's source ("" for the source itself)
    target: str  # repository path: the mapping's target joined with ``relative``


class _Source:
    """One mapping, precompiled: the prefix test is a string compare, patterns compile once."""

    __slots__ = ("index", "mapping", "prefix", "slashed", "spec", "dirs")

    def __init__(self, index: int, mapping: PathMapping) -> None:
        self.index = index
        self.mapping = mapping
        self.prefix = mapping.source.strip("/")
        self.slashed = self.prefix + "/" if self.prefix else ""
        self.spec = GitIgnoreSpec.from_lines(mapping.exclude) if mapping.exclude else None
        self.dirs: dict[str, bool] = {}  # relative directory -> excluded, filled as we go

    def relative(self, path: str) -> str | None:
        if path.startswith(self.slashed):
            return path[len(self.slashed):]
        if path == self.prefix:
            return ""
        return None

    def excluded(self, relative: str, is_dir: bool) -> bool:
        if self.spec is None or not relative:
            return False
        parent = relative.rpartition("/")[0]
        if parent and self.dir_excluded(parent):
            return True
        return self.spec.match_file(relative + "/" if is_dir else relative)

    def dir_excluded(self, relative: str) -> bool:
        # entries of a directory arrive together, so the parent's verdict is nearly always cached
        verdict = self.dirs.get(relative)
        if verdict is None:
            assert self.spec is not None
            parent = relative.rpartition("/")[0]
            verdict = bool(parent) and self.dir_excluded(parent)
            verdict = verdict or self.spec.match_file(relative + "/")
            self.dirs[relative] = verdict
        return verdict

    def target(self, relative: str) -> str:
        return f"{self.mapping.target}/{relative}" if relative else self.mapping.target


class Selection:
    """Decides, for each image path, whether it is kept, excluded or outside every source."""

    def __init__(self, mappings: Sequence[PathMapping]) -> None:
        self.mappings = tuple(mappings)
        # deepest source first, so the most specific mapping answers for overlapping sources
        self._sources = sorted(
            (_Source(index, mapping) for index, mapping in enumerate(self.mappings)),
            key=lambda source: -len(source.prefix),
        )
        self._ancestors: frozenset[str] = frozenset(
            ancestor
            for source in self._sources
            for ancestor in _ancestors(source.prefix)
        )

    def select(self, path: str, is_dir: bool) -> Kept | Literal["excluded"] | None:
        """``Kept`` for a kept path, ``"excluded"`` if an exclude pattern drops it, else None."""
        excluded = False
        for source in self._sources:
            relative = source.relative(path)
            if relative is None:
                continue
            if not source.excluded(relative, is_dir):
                return Kept(source.index, relative, source.target(relative))
            excluded = True
        return EXCLUDED if excluded else None

    def keeps(self, mapping: int, relative: str, is_dir: bool) -> bool:
        """Whether mapping number ``mapping`` keeps the path ``relative`` below its source."""
        return not self._source(mapping).excluded(relative, is_dir)

    def is_ancestor(self, path: str) -> bool:
        """True when ``path`` is a proper ancestor of some source ("" is the root)."""
        return path in self._ancestors

    def is_source_or_ancestor(self, path: str) -> bool:
        """True when ``path`` is a source or one of its ancestors."""
        return path in self._ancestors or any(path == s.prefix for s in self._sources)

    def is_relevant(self, path: str) -> bool:
        """True when ``path`` is a source, below one, or an ancestor of one."""
        return path in self._ancestors or any(s.relative(path) is not None for s in self._sources)

    def overlaps(self, mapping: int) -> bool:
        """True when another mapping's source lies inside this mapping's source."""
        source = self._source(mapping)
        return any(
            other is not source and source.relative(other.prefix) is not None
            for other in self._sources
        )

    def _source(self, mapping: int) -> _Source:
        return next(source for source in self._sources if source.index == mapping)


def _ancestors(prefix: str) -> list[str]:
    """Proper ancestors of image path ``prefix``, the root ("") first."""
    if not prefix:
        return []
    parts = prefix.split("/")
    return ["/".join(parts[:count]) for count in range(len(parts))]
