"""Upstream's renames a series needs, found only when a patch asks for a file upstream deleted.

A patch that changes (or deletes) a file missing from the new upstream is applied where
upstream moved it (``sync.series.apply``). Which files moved is git's rename detection between
the recorded base and the new upstream, restricted to the files the series touches; finding
those reads every patch of the series. ``UpstreamRenames`` answers the same question, but
lazily: a path upstream did not delete is answered at once (one tree comparison), and the
series is read only the first time a deleted path is asked for. When it is, only the patches
whose header lines name a deleted path are parsed (exactly: their paths decide), so the answer
is the one reading and parsing every patch gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from sync.git import Repository
from sync.git.diff import deleted_and_added, pair_renames
from sync.git.trees import Entry
from sync.series.load import SeriesPatch


class UpstreamRenames(Mapping[str, str]):
    """Old path -> new path, for the files ``patches`` touch that upstream renamed between
    tree ``base`` and tree ``tree`` (git's rename detection, 50% similarity)."""

    def __init__(self, repo: Repository, base: str | None, tree: str,
                 patches: Sequence[SeriesPatch]) -> None:
        self._repo = repo
        self._trees = (base, tree)
        self._patches = patches
        self._changes: tuple[dict[str, Entry], dict[str, Entry]] | None = None
        self._found: dict[str, str] | None = None

    def _deleted_and_added(self) -> tuple[dict[str, Entry], dict[str, Entry]]:
        if self._changes is None:
            self._changes = deleted_and_added(self._repo, *self._trees)
        return self._changes

    def _all(self) -> dict[str, str]:
        if self._found is None:
            deleted, added = self._deleted_and_added()
            touched: set[str] = set()
            if deleted and added:
                for item in self._patches:
                    touched.update(item.paths_among(deleted))
            self._found = pair_renames(self._repo, {path: deleted[path] for path in touched},
                                       added)
        return self._found

    def __getitem__(self, path: str) -> str:
        if self._found is None:
            deleted, added = self._deleted_and_added()
            if path not in deleted or not added:  # not renamed, whatever the series holds
                raise KeyError(path)
        return self._all()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())
