"""Hardlinks whose target was not kept: find what the target was, by reading layers again.

As umoci does on disk, a link gets what its target is at that point: the last member of that name
before the link in the same layer, else what lower layers left there (unless something removed
it first). Only the layers needed are read again, and each of them to its end: a layer's stream
is verified against its digests (or, without any, against its first read) when it closes, and
what a second read found is used only once that check passed.
"""

from __future__ import annotations

import tarfile
from collections.abc import Sequence
from typing import Any, Protocol

from sync.errors import ImageError
from sync.filetree import MODE_EXECUTABLE, MODE_FILE
from sync.image.blobs import BlobStore
from sync.image.layer_tar import REGULAR, SKIPPED_KINDS, TarMembers, tar_errors
from sync.image.model import Layer, Limits, ReadReport
from sync.image.safety import display, normalize_member_name, unsafe
from sync.image.state_tree import MAX_HOPS, LeafNode, Node, Pending, classify_whiteout


class PassState(Protocol):
    """What the resolver needs of the layer pass it works for (``layer_pass.LayerPass``)."""

    layers: Sequence[Layer]
    store: BlobStore
    report: ReadReport
    limits: Limits

    def lookup(self, path: str) -> Node | None: ...

    def remove(self, path: str) -> None: ...

    def check_size(self, path: str, size: int) -> None: ...

    def symlink(self, link: str) -> LeafNode: ...

class _Seen:
    """What one layer holds for one name: its occurrences and what removes it.

    Occurrences are ``(position, ("file", mode, oid, size, link) | ("link", target) |
    ("dir",) | ("skip", kind))``; ``removed`` lists positions of whiteouts, opaque markers or
    non-directories that remove the name (or an ancestor) from lower layers.
    """

    __slots__ = ("occurrences", "removed")

    def __init__(self) -> None:
        self.occurrences: list[tuple[int, tuple[Any, ...]]] = []
        self.removed: list[int] = []


class HardlinkResolver:
    """Finds the content of hardlink targets that were not kept, by reading layers again.

    As umoci does on disk, a link gets what its target is at that point: the last member of
    that name before the link in the same layer, else what lower layers left there (unless
    something removed it first). Only the layers needed are read again, each verified whole.
    """

    def __init__(self, state: PassState, layer: int) -> None:
        self.state = state
        self.layer = layer
        self.scans: dict[int, dict[str, _Seen]] = {}
        self.wanted: dict[int, set[str]] = {}

    def resolve(self, pending: list[Pending]) -> None:
        """Give each link waiting in ``pending`` its target's content (or skip it, as its
        target is skipped)."""
        self.stop = max(item.position for item in pending)
        self.pending = pending
        while True:
            results = [self._follow(item.target, self.layer, item.position, 0)
                       for item in pending]
            if all(result is not None for result in results):
                break
            self._scan_wanted()
        skipped = self.state.report.skipped
        for item, result in zip(pending, results, strict=True):
            assert result is not None
            for path, leaf in item.leaves:
                if result[0] == "skip":  # a link to a device or FIFO is skipped like its target
                    skipped[result[1]] = skipped.get(result[1], 0) + 1
                    if self.state.lookup(path) is leaf:
                        self.state.remove(path)
                    continue
                _, leaf.mode, leaf.oid, leaf.size, leaf.link = result
                leaf.pending = None

    def _follow(self, name: str, layer: int, before: int, depth: int) -> tuple[Any, ...] | None:
        """What ``name`` is just before member ``before`` of ``layer``; None when a layer must
        be read (again) first."""
        where = self.state.layers[self.layer].description
        if depth > MAX_HOPS:
            raise unsafe(name, "hardlinks form a loop", where)
        seen = self.scans.get(layer, {}).get(name)
        if seen is None:
            self.wanted.setdefault(layer, set()).add(name)
            return None
        earlier = [item for item in seen.occurrences if item[0] < before]
        if earlier:
            position, occurrence = earlier[-1]
            if occurrence[0] == "link":
                if not occurrence[1]:
                    raise unsafe(name, "hardlink target outside the layer", where)
                return self._follow(occurrence[1], layer, position, depth + 1)
            if occurrence[0] == "dir":
                raise unsafe(name, "hardlink to a directory", where)
            return occurrence
        if layer == 0 or any(position < before for position in seen.removed):
            raise unsafe(name, "hardlink target does not exist", where)
        return self._follow(name, layer - 1, 1 << 62, depth)

    def _scan_wanted(self) -> None:
        for layer, names in sorted(self.wanted.items()):
            scans = self.scans.setdefault(layer, {})
            stop = self.stop if layer == self.layer else None
            try:
                scans.update(self._scan(layer, names - set(scans), stop))
            except ImageError as error:
                link = self.pending[0]
                raise type(error)(
                    f"{error.message} (the layer was read again to resolve the hardlink "
                    f"{display(link.leaves[0][0])} -> {display(link.target)}, looking for "
                    f"{', '.join(display(name) for name in sorted(names))})",
                    hint=error.hint) from None
        self.wanted.clear()

    def _scan(self, index: int, names: set[str], stop: int | None) -> dict[str, _Seen]:
        """Occurrences of ``names`` in layer ``index`` (before member ``stop``, if given)."""
        state = self.state
        layer = state.layers[index]
        where = layer.description
        rename = layer.rename
        found = {name: _Seen() for name in names}
        watch: dict[str, list[str]] = {}  # a name or a proper ancestor -> the names below it
        for name in names:
            parts = name.split("/")
            for count in range(len(parts) + 1):
                watch.setdefault("/".join(parts[:count]), []).append(name)
        # closing the stream reads the rest of it and verifies it: an error there discards all
        # that this read found
        with layer.open() as stream, tar_errors(where):
            members = TarMembers(stream, where, state.limits)
            for position, info in enumerate(members):
                if stop is not None and position >= stop:
                    break
                path: str | None = normalize_member_name(info.name, where)
                if rename is not None and path:
                    path = rename(path)
                if path is None or path not in watch:
                    if path and layer.whiteouts and ".wh." in path:
                        marker = classify_whiteout(path, where)
                        if marker is not None:
                            self._scan_whiteout(*marker, position, watch, found)
                    continue
                if path in found:
                    found[path].occurrences.append(
                        (position, self._occurrence(path, info, members, layer)))
                if info.type != tarfile.DIRTYPE:  # a non-directory replaces what was below it
                    for name in watch[path]:
                        if name != path:
                            found[name].removed.append(position)
        return found

    def _scan_whiteout(self, kind: str, path: str, position: int,
                       watch: dict[str, list[str]], found: dict[str, _Seen]) -> None:
        if kind == "opaque":
            names = [name for name in watch.get(path, ()) if name != path]
        elif kind == "remove":
            names = watch.get(path, [])
        else:
            return
        for name in names:
            found[name].removed.append(position)

    def _occurrence(self, path: str, info: tarfile.TarInfo, members: TarMembers,
                    layer: Layer) -> tuple[Any, ...]:
        state = self.state
        kind = info.type
        if kind in REGULAR:
            state.check_size(path, info.size)
            oid = state.store.write(members.content(info), info.size)
            mode = MODE_EXECUTABLE if info.mode & 0o111 else MODE_FILE
            return ("file", mode, oid, info.size, None)
        if kind == tarfile.SYMTYPE:
            leaf = state.symlink(info.linkname)
            return ("file", leaf.mode, leaf.oid, leaf.size, leaf.link)
        if kind == tarfile.LNKTYPE:
            target: str | None = normalize_member_name(info.linkname, layer.description)
            if layer.rename is not None and target:
                target = layer.rename(target)
            return ("link", target)
        if kind == tarfile.DIRTYPE:
            return ("dir",)
        return ("skip", SKIPPED_KINDS.get(kind, f"type {kind!r}"))


