"""Read ``patches/series`` and its patch files out of a tree (the work tree's or a commit's)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sync import program
from sync.errors import PatchError
from sync.git.mapped import Told, blob_at, let_go
from sync.git.trees import TreeSource
from sync.series.model import Patch
from sync.series.parse import parse_patch
from sync.series.seriesfile import Series, SeriesEntry, empty_series, parse_series
from sync.series.textlines import Text

PATCHES = "patches"
SERIES = f"{PATCHES}/series"
# the lines a patch names its files on (a name is the end of such a line, after any -pN prefix)
_HEADER_LINES = re.compile(rb"^(?:diff --git |--- |\+\+\+ |rename |copy )[^\n]*", re.MULTILINE)


class SeriesPatch:
    """A patch of the series with its entry (name, -pN); parsed when first asked for.

    Made with a parsed ``patch``, or with a ``read(told)`` function giving its text (telling
    ``told``, when not None, how far a long read is): then it is read and parsed on first use,
    and ``forget`` drops it again (a rebase parses each patch when it reaches it and drops it
    once applied, so memory does not grow with the series).
    """

    __slots__ = ("_patch", "_read", "_targets", "entry")

    def __init__(self, entry: SeriesEntry, patch: Patch | None = None, *,
                 read: Callable[[Told | None], Text] | None = None,
                 targets: Sequence[str] | None = None) -> None:
        assert patch is not None or read is not None
        self.entry = entry
        self._patch = patch
        self._read = read
        self._targets = targets

    @property
    def patch(self) -> Patch:
        return self.parsed()

    def parsed(self, reading: Told | None = None, parsing: Told | None = None) -> Patch:
        """``patch``, telling ``reading`` and ``parsing`` (done, in all) how far each is."""
        if self._patch is None:
            assert self._read is not None
            self._patch = self._parse(self._read(reading), parsing)
        return self._patch

    def _parse(self, text: Text, progress: Told | None = None) -> Patch:
        return parse_patch(text, f"{PATCHES}/{self.entry.name}", strip=self.entry.strip,
                           targets=self._targets, progress=progress)

    def paths_among(self, candidates: Collection[str]) -> set[str]:
        """Which of ``candidates`` the patch touches (``patch.paths``).

        Read but not parsed when no header line (``diff --git``, ``---``, ``+++``, ``rename``,
        ``copy``) names a candidate: a path the patch touches is always in one (or is quoted,
        and then the patch is parsed). Parsed, it is forgotten again.
        """
        if self._patch is not None or self._read is None:
            return {path for path in self.patch.paths if path in candidates}
        text = self._read(None)
        headers = b"\n".join(_HEADER_LINES.findall(text))
        let_go(text)
        if b'"' not in headers and not any(os.fsencode(path) in headers for path in candidates):
            return set()
        # parsed again when applied: memory does not grow with the series
        return {path for path in self._parse(text).paths if path in candidates}

    def forget(self) -> None:
        """Drop the parsed patch when it can be read again (it is parsed anew if needed)."""
        if self._read is not None:
            self._patch = None


@dataclass(frozen=True)
class LoadedSeries:
    """The series file and its patches, as read from one tree."""

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


def load_series(source: TreeSource, targets: Sequence[str], *, lazy: bool = False,
                workdir: str | None = None) -> LoadedSeries:
    """Parse the series file and every patch it names; paths are confined to ``targets``.

    A missing series file is an empty series; a missing patch file is a PatchError naming the
    series line. ``lazy``: each patch is read and parsed only when first used (a malformed one
    is then an error when the rebase reaches it, still before anything is written), from the
    work tree at ``workdir`` when its file there is the one in ``source`` (checked by id).
    """
    entry = source.entry(SERIES)
    if entry is None:
        return LoadedSeries(empty_series(SERIES), (), found=False)
    series = parse_series(source.read(entry.oid), SERIES)
    # one walk of the folder: a lookup by path per patch reads the folder's tree again each time
    present = dict(source.files(PATCHES))
    patches = []
    for item in series.entries:
        found = present.get(f"{PATCHES}/{item.name}")
        if found is None:
            raise PatchError(f"{SERIES}:{item.line}: {item.name}: no such patch file in "
                             f"{PATCHES}/", hint="restore the file or remove its line")
        if lazy:
            patches.append(SeriesPatch(item, read=_reader(source, found.oid, workdir, item.name),
                                       targets=targets))
            continue
        patch = parse_patch(source.read(found.oid), f"{PATCHES}/{item.name}",
                            strip=item.strip, targets=targets)
        patches.append(SeriesPatch(item, patch))
    return LoadedSeries(series, tuple(patches), found=True)


def _reader(source: TreeSource, oid: str, workdir: str | None,
            name: str) -> Callable[[Told | None], Text]:
    """How to read a patch: from the work tree's file when it holds the blob, mapped when it
    is large (a grouped mail is then never resident whole: ``sync.git.mapped``), else from
    the database."""
    if not workdir or "/" in name or name in (".", ".."):
        return lambda _told: source.read(oid)
    path = os.path.join(workdir, PATCHES, name)
    return lambda told: blob_at(source.repo, oid, path, told) or source.read(oid)
