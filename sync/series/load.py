"""Read ``patches/series`` and its patch files out of a tree (the work tree's or a commit's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sync import program
from sync.errors import PatchError
from sync.git.trees import TreeSource
from sync.series.model import Patch
from sync.series.parse import parse_patch
from sync.series.seriesfile import Series, SeriesEntry, empty_series, parse_series

PATCHES = "patches"
SERIES = f"{PATCHES}/series"


@dataclass(frozen=True)
class SeriesPatch:
    """A patch of the series with its entry (name, -pN)."""

    entry: SeriesEntry
    patch: Patch


@dataclass(frozen=True)
class LoadedSeries:
    series: Series
    patches: tuple[SeriesPatch, ...]
    found: bool  # False when there is no patches/series at all

    def find(self, name: str) -> SeriesPatch:
        """Patch ``name`` (its file name, or its 1-based number); a PatchError listing names."""
        for item in self.patches:
            if item.entry.name == name:
                return item
        if name.isdigit() and 1 <= int(name) <= len(self.patches):
            return self.patches[int(name) - 1]
        known = ", ".join(item.entry.name for item in self.patches[:10]) or "none"
        raise PatchError(f"{name}: no such patch in {SERIES}",
                         hint=f"give a name (or number) from `{program.command('patches list')}`; "
                              f"the series has: {known}")


def load_series(source: TreeSource, targets: Sequence[str]) -> LoadedSeries:
    """Parse the series file and every patch it names; paths are confined to ``targets``.

    A missing series file is an empty series; a missing patch file is a PatchError naming the
    series line.
    """
    entry = source.entry(SERIES)
    if entry is None:
        return LoadedSeries(empty_series(SERIES), (), found=False)
    series = parse_series(source.read(entry.oid), SERIES)
    patches = []
    for item in series.entries:
        found = source.entry(f"{PATCHES}/{item.name}")
        if found is None:
            raise PatchError(f"{SERIES}:{item.line}: {item.name}: no such patch file in "
                             f"{PATCHES}/", hint="restore the file or remove its line")
        patch = parse_patch(source.read(found.oid), f"{PATCHES}/{item.name}",
                            strip=item.strip, targets=targets)
        patches.append(SeriesPatch(item, patch))
    return LoadedSeries(series, tuple(patches), found=True)
