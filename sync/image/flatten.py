"""Flatten image layers, bottom first, into one tree of blob ids (OCI image spec; umoci's rules).

Only what can end up in the result is remembered: entries kept by the mappings, the directories
above them, and the directories and symlinks at each source or its ancestors. Each node records
the index of the layer that last wrote it (or wrote something below it), which makes whiteouts
exact: ``.wh.NAME`` and ``.wh..wh..opq`` remove what lower layers had, wherever the marker stands
in its layer, and never what the same layer wrote. File content goes straight from the tar stream
into the ``BlobStore``; nothing is extracted and no file is held in memory.

If a source (or one of its ancestors) turns out to be a symlink in the final image, the link is
resolved inside the image and the layers are read again from the resolved path.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sync.config.manifest import PathMapping
from sync.errors import ImageError, UnsafeArchiveError
from sync.image.blobs import BlobStore
from sync.image.layer_tar import TarMembers, tar_errors
from sync.image.model import (
    MODE_EXECUTABLE,
    MODE_FILE,
    MODE_SYMLINK,
    Checkpoints,
    Layer,
    Leaf,
    Limits,
    ReadProgress,
    ReadReport,
    Tree,
)
from sync.image.safety import (
    check_kept_path,
    display,
    normalize_member_name,
    resolve_link,
    symlink_escape,
    unsafe,
)
from sync.image.selection import EXCLUDED, Selection

_OPAQUE = ".wh..wh..opq"
_MAX_PASSES = 8  # each symlinked source costs one more read of the layers
_MAX_HOPS = 40  # symlinks followed while resolving one source, as the kernel's limit
_PROGRESS_STEP = 1 << 20
_CHECKPOINT_VERSION = 1  # bump when the state or the flattening rules change
_REGULAR = frozenset((tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE))
_SKIPPED_KINDS = {
    tarfile.CHRTYPE: "chardev",
    tarfile.BLKTYPE: "blockdev",
    tarfile.FIFOTYPE: "fifo",
}


@dataclass(frozen=True)
class FlattenResult:
    """The flattened repository tree (each mapping grafted at its target) and what was found."""

    tree: Tree
    report: ReadReport


def flatten(
    layers: Sequence[Layer],
    mappings: Sequence[PathMapping],
    store: BlobStore,
    limits: Limits | None = None,
    progress: ReadProgress | None = None,
    checkpoints: Checkpoints | None = None,
) -> FlattenResult:
    """Read ``layers`` bottom first and return the kept files as a tree rooted at the repository.

    With ``checkpoints``, the state after each prefix of layers with digests is saved, and the
    longest prefix already saved (for the same selection and limits) is restored instead of
    read: only the layers above it are opened. The result is the same as a cold read.

    Raises ``ImageError`` for a corrupt or truncated layer, a digest mismatch or a source that
    does not exist, and ``UnsafeArchiveError`` for names or links that try to escape.
    """
    limits = limits or Limits()
    sources = [mapping.source.strip("/") for mapping in mappings]
    warnings: list[str] = []
    for _ in range(_MAX_PASSES):
        selection = Selection(
            [replace(m, source="/" + s) for m, s in zip(mappings, sources, strict=True)])
        state = _Pass(layers, selection, store, limits, progress)
        if checkpoints is None:
            state.run()
        else:
            selected = [(s, m.target, list(m.exclude)) for m, s in zip(mappings, sources,
                                                                    strict=True)]
            state.run(checkpoints, _chain_keys(layers, selected, limits))
        moved = False
        for index, mapping in enumerate(mappings):
            resolved, via = _resolve_source(state.root, sources[index])
            if resolved is None:
                raise ImageError(
                    f"the source {mapping.source} does not exist in the image"
                    + (f" (it resolves to /{sources[index]})" if via else ""),
                    hint=f"check paths[{index}].source in the manifest against the image",
                )
            if resolved != sources[index]:
                warnings.append(
                    f"{mapping.source}: /{via} is a symlink in the image; "
                    f"read the layers again from /{resolved}"
                )
                sources[index] = resolved
                moved = True
        if not moved:
            break
    else:
        raise ImageError(f"too many symbolic links while resolving the sources: {warnings[-1]}")
    report = state.report
    report.warnings[:0] = warnings
    tree = _graft(state, mappings, sources, selection, report)
    return FlattenResult(tree=tree, report=report)


class _Dir:
    __slots__ = ("layer", "children")

    def __init__(self, layer: int) -> None:
        self.layer = layer
        self.children: dict[str, _Node] = {}


class _Leaf:
    """A file or symlink (``link`` set); ``pending`` until a hardlink's content is known."""

    __slots__ = ("layer", "mode", "oid", "size", "link", "pending")

    def __init__(self, layer: int, mode: int, oid: str | None, size: int, link: str | None,
                 pending: _Pending | None = None) -> None:
        self.layer = layer
        self.mode = mode
        self.oid = oid
        self.size = size
        self.link = link
        self.pending = pending


_Node = _Dir | _Leaf


class _Pending:
    """A hardlink whose target was not kept: its content is read again from the layer."""

    __slots__ = ("target", "position", "leaves")

    def __init__(self, target: str, position: int) -> None:
        self.target = target
        self.position = position  # member index of the hardlink in its layer
        self.leaves: list[tuple[str, _Leaf]] = []


class _Pass:
    """One read of all layers for one selection, building the state tree."""

    def __init__(self, layers: Sequence[Layer], selection: Selection, store: BlobStore,
                 limits: Limits, progress: ReadProgress | None) -> None:
        self.layers = layers
        self.selection = selection
        self.store = store
        self.limits = limits
        self.progress = progress
        self.report = ReadReport()
        self.root = _Dir(-1)
        self.layer = 0
        self.where = ""
        self.pending: list[_Pending] = []

    def run(self, checkpoints: Checkpoints | None = None, keys: Sequence[str] = ()) -> None:
        """Read every layer; with ``checkpoints``, start after the longest saved prefix.

        ``keys[i]`` names the state after layers 0..i (only layers with a digest have one).
        """
        start = 0
        if checkpoints is not None:
            # shortest first, so that the store sees the whole chain in use (and keeps it)
            found = None
            for count, key in enumerate(keys, start=1):
                saved = checkpoints.load(key)
                if saved is None:
                    break
                start, found = count, saved
            if found is not None:
                self._restore(found)
        for index in range(start, len(self.layers)):
            layer = self.layers[index]
            self.layer = index
            self.where = layer.description
            self.pending = []
            self._read_layer(layer)
            if self.pending:
                _HardlinkResolver(self, index).resolve(self.pending)
            if checkpoints is not None and index < len(keys):
                state, oids = self._snapshot()
                checkpoints.save(keys[index], state, oids)

    # -- checkpoints ---------------------------------------------------------------------------

    def _snapshot(self) -> tuple[bytes, list[str]]:
        """The state tree and the report so far, as JSON, and the blob ids it refers to."""
        oids: list[str] = []

        def encode(node: _Node) -> Any:
            if type(node) is _Dir:
                return [node.layer, {name: encode(child) for name, child in
                                     node.children.items()}]
            assert isinstance(node, _Leaf) and node.pending is None
            if node.oid is not None:
                oids.append(node.oid)
            return [node.layer, node.mode, node.oid, node.size, node.link]

        report = self.report
        document = {"root": encode(self.root), "excluded": report.excluded,
                    "skipped": report.skipped, "warnings": report.warnings}
        return json.dumps(document, separators=(",", ":")).encode(), oids

    def _restore(self, saved: bytes) -> None:
        def decode(item: list[Any]) -> _Node:
            if len(item) == 2:
                directory = _Dir(item[0])
                directory.children = {name: decode(child) for name, child in item[1].items()}
                return directory
            return _Leaf(item[0], item[1], item[2], item[3], item[4])

        document = json.loads(saved)
        root = decode(document["root"])
        assert type(root) is _Dir
        self.root = root
        self.report.excluded = document["excluded"]
        self.report.skipped = dict(document["skipped"])
        self.report.warnings = list(document["warnings"])

    # -- reading -------------------------------------------------------------------------------

    def _read_layer(self, layer: Layer) -> None:
        progress = self.progress
        if progress is not None:
            progress.start_layer(layer.description, layer.size)
        rename = layer.rename
        whiteouts = layer.whiteouts
        with layer.open() as stream, tar_errors(self.where):
            # the cap holds whatever opened the layer (an archive, the engine's stream)
            members = TarMembers(stream, self.where, self.limits.max_layer_size)
            consumed = members.consumed
            reported = 0
            files = 0
            for position, info in enumerate(members):
                path = normalize_member_name(info.name, self.where)
                if rename is not None:
                    renamed = rename(path)
                    if renamed is None:
                        continue
                    path = renamed
                if not path:
                    continue  # the root directory itself
                if whiteouts and ".wh." in path:
                    marker = _whiteout(path, self.where)
                    if marker is not None:
                        self._apply_whiteout(*marker)
                        continue
                files += self._entry(path, info, members, rename, position)
                if progress is not None:
                    now = consumed()
                    if files or now - reported >= _PROGRESS_STEP:
                        progress.advance(now - reported, files)
                        reported, files = now, 0
            members.drain()
        if progress is not None:
            progress.advance(consumed() - reported, files)
            progress.finish_layer()

    def _entry(self, path: str, info: tarfile.TarInfo, members: TarMembers,
               rename: Callable[[str], str | None] | None, position: int) -> int:
        """Apply one member; return 1 when it added a kept file or symlink."""
        kind = info.type
        is_dir = kind == tarfile.DIRTYPE
        verdict = self.selection.select(path, is_dir)
        if verdict is None:
            if self.selection.is_ancestor(path):
                self._ancestor_entry(path, info, is_dir)
            return 0
        if verdict == EXCLUDED:
            self.report.excluded += 1
            # an excluded entry still replaces what lower layers had at its path
            node = self._lookup(path)
            if node is not None and not (is_dir and type(node) is _Dir):
                self._remove(path)
            return 0
        check_kept_path(path, verdict.relative, self.where)
        if kind in _REGULAR:
            size = info.size
            self._check_size(path, size)
            oid = self.store.write(members.content(info), size)
            mode = MODE_EXECUTABLE if info.mode & 0o111 else MODE_FILE
            self._put(path, _Leaf(self.layer, mode, oid, size, None))
            return 1
        if is_dir:
            self._put_dir(path)
            return 0
        if kind == tarfile.SYMTYPE:
            self._put(path, self._symlink(info.linkname))
            return 1
        if kind == tarfile.LNKTYPE:
            self._hardlink(path, info.linkname, rename, position)
            return 1
        name = _SKIPPED_KINDS.get(kind, f"type {kind.decode('latin-1')!r}")
        self.report.skipped[name] = self.report.skipped.get(name, 0) + 1
        self._remove(path)  # it still replaces what lower layers had
        return 0

    def _ancestor_entry(self, path: str, info: tarfile.TarInfo, is_dir: bool) -> None:
        """A member above a source: only its kind matters (a symlink may move the source)."""
        if is_dir:
            self._put_dir(path)
        elif info.type == tarfile.SYMTYPE:
            self._put(path, _Leaf(self.layer, MODE_SYMLINK, None, 0, info.linkname))
        else:
            self._remove(path)

    def _symlink(self, link: str) -> _Leaf:
        data = link.encode("utf-8", "surrogateescape")
        oid = self.store.write(io.BytesIO(data), len(data))
        return _Leaf(self.layer, MODE_SYMLINK, oid, len(data), link)

    def _hardlink(self, path: str, linkname: str,
                  rename: Callable[[str], str | None] | None, position: int) -> None:
        target: str | None = normalize_member_name(linkname, self.where)
        if rename is not None and target:
            target = rename(target)
        if not target:
            raise unsafe(path, f"hardlink to {display(linkname)}, outside the layer", self.where)
        node = self._lookup(target)
        if type(node) is _Dir:
            raise unsafe(path, f"hardlink to the directory {display(target)}", self.where)
        if isinstance(node, _Leaf) and (node.oid is not None or node.pending is not None):
            leaf = _Leaf(self.layer, node.mode, node.oid, node.size, node.link, node.pending)
            if node.pending is not None:
                node.pending.leaves.append((path, leaf))
        else:
            # the target is not kept (excluded or outside the sources): read it again later
            pending = _Pending(target, position)
            self.pending.append(pending)
            leaf = _Leaf(self.layer, MODE_FILE, None, 0, None, pending)
            pending.leaves.append((path, leaf))
        self._put(path, leaf)

    def _apply_whiteout(self, kind: str, path: str) -> None:
        if kind == "opaque":
            node = self._lookup(path)
            if type(node) is _Dir:
                _prune_lower(node, self.layer)
            return
        if kind != "remove":
            return
        parent_path, _, name = path.rpartition("/")
        parent = self._lookup(parent_path)
        if type(parent) is not _Dir:
            return
        node = parent.children.get(name)
        if node is None:
            return
        if node.layer < self.layer:
            del parent.children[name]
        elif type(node) is _Dir:
            _prune_lower(node, self.layer)
        # a non-directory this same layer wrote survives: whiteouts only hide lower layers

    def _check_size(self, path: str, size: int) -> None:
        if size > self.limits.max_file_size:
            raise UnsafeArchiveError(
                f"{self.where}: {display(path)} is {size} bytes, over the file size limit of "
                f"{self.limits.max_file_size}",
                hint="if the image is genuine, raise the file size limit",
            )

    # -- the state tree ------------------------------------------------------------------------

    def _lookup(self, path: str) -> _Node | None:
        node: _Node | None = self.root
        if not path:
            return node
        for part in path.split("/"):
            if type(node) is not _Dir:
                return None
            node = node.children.get(part)
            if node is None:
                return None
        return node

    def _parent(self, path: str) -> tuple[_Dir, str]:
        """The directory that holds ``path``, created or marked as written by this layer."""
        node = self.root
        layer = self.layer
        parts = path.split("/")
        for part in parts[:-1]:
            child = node.children.get(part)
            if type(child) is _Dir:
                child.layer = layer
            else:
                if child is not None:
                    self.report.warnings.append(
                        f"{self.where}: {display(path)} is below a non-directory; "
                        "the non-directory was replaced by a directory"
                    )
                child = node.children[part] = _Dir(layer)
            node = child
        return node, parts[-1]

    def _put(self, path: str, node: _Node) -> None:
        parent, name = self._parent(path)
        parent.children[name] = node

    def _put_dir(self, path: str) -> None:
        parent, name = self._parent(path)
        node = parent.children.get(name)
        if type(node) is _Dir:
            node.layer = self.layer
        else:
            parent.children[name] = _Dir(self.layer)

    def _remove(self, path: str) -> None:
        parent_path, _, name = path.rpartition("/")
        parent = self._lookup(parent_path)
        if type(parent) is _Dir:
            parent.children.pop(name, None)


def _chain_keys(layers: Sequence[Layer], selected: list[Any], limits: Limits) -> list[str]:
    """One key per prefix of layers that all have digests: what the state after it depends on."""
    chain = hashlib.sha256(json.dumps(
        [_CHECKPOINT_VERSION, selected, limits.max_file_size, limits.max_layer_size]).encode())
    keys = []
    for layer in layers:
        if layer.digest is None or layer.rename is not None or not layer.whiteouts:
            break
        chain.update(layer.digest.encode() + b"\n")
        keys.append(chain.copy().hexdigest())
    return keys


def _whiteout(path: str, where: str) -> tuple[str, str] | None:
    """Classify a name of a layer with whiteouts: None for an ordinary entry, else
    ("opaque", directory), ("remove", path) or ("ignore", "") for AUFS metadata."""
    if path.startswith(".wh..wh.") and path != _OPAQUE:
        return ("ignore", "")  # AUFS bookkeeping at the layer root (.wh..wh.plnk/...), as Docker
    parent, _, base = path.rpartition("/")
    if not base.startswith(".wh."):
        return None
    if base == _OPAQUE:
        return ("opaque", parent)
    name = base[4:]
    if not name:
        raise unsafe(path, "empty whiteout name '.wh.'", where)
    if name in (".", ".."):
        raise unsafe(path, f"whiteout of {name!r}", where)
    return ("remove", f"{parent}/{name}" if parent else name)


def _prune_lower(directory: _Dir, layer: int) -> None:
    """Remove everything below ``directory`` that a layer under ``layer`` wrote."""
    for name, child in list(directory.children.items()):
        if child.layer < layer:
            del directory.children[name]
        elif type(child) is _Dir:
            _prune_lower(child, layer)


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


class _HardlinkResolver:
    """Finds the content of hardlink targets that were not kept, by reading layers again.

    As umoci does on disk, a link gets what its target is at that point: the last member of
    that name before the link in the same layer, else what lower layers left there (unless
    something removed it first). Only the layers needed are read again, each up to what matters.
    """

    def __init__(self, state: _Pass, layer: int) -> None:
        self.state = state
        self.layer = layer
        self.scans: dict[int, dict[str, _Seen]] = {}
        self.wanted: dict[int, set[str]] = {}

    def resolve(self, pending: list[_Pending]) -> None:
        self.stop = max(item.position for item in pending)
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
                    if self.state._lookup(path) is leaf:
                        self.state._remove(path)
                    continue
                _, leaf.mode, leaf.oid, leaf.size, leaf.link = result
                leaf.pending = None

    def _follow(self, name: str, layer: int, before: int, depth: int) -> tuple[Any, ...] | None:
        """What ``name`` is just before member ``before`` of ``layer``; None when a layer must
        be read (again) first."""
        where = self.state.layers[self.layer].description
        if depth > _MAX_HOPS:
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
            scans.update(self._scan(layer, names - set(scans), stop))
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
        with layer.open() as stream, tar_errors(where):
            members = TarMembers(stream, where)
            for position, info in enumerate(members):
                if stop is not None and position >= stop:
                    break
                path: str | None = normalize_member_name(info.name, where)
                if rename is not None and path:
                    path = rename(path)
                if path is None or path not in watch:
                    if path and layer.whiteouts and ".wh." in path:
                        marker = _whiteout(path, where)
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
        if kind in _REGULAR:
            state._check_size(path, info.size)
            oid = state.store.write(members.content(info), info.size)
            mode = MODE_EXECUTABLE if info.mode & 0o111 else MODE_FILE
            return ("file", mode, oid, info.size, None)
        if kind == tarfile.SYMTYPE:
            leaf = state._symlink(info.linkname)
            return ("file", leaf.mode, leaf.oid, leaf.size, leaf.link)
        if kind == tarfile.LNKTYPE:
            target: str | None = normalize_member_name(info.linkname, layer.description)
            if layer.rename is not None and target:
                target = layer.rename(target)
            return ("link", target)
        if kind == tarfile.DIRTYPE:
            return ("dir",)
        return ("skip", _SKIPPED_KINDS.get(kind, f"type {kind!r}"))


# -- sources and the result tree ---------------------------------------------------------------


def _resolve_source(root: _Dir, source: str) -> tuple[str | None, str]:
    """Where ``source`` really is: (path, "") if found as is, (new path, symlink) if it moved
    through a symlink, (None, ...) if it does not exist."""
    parts = source.split("/") if source else []
    node: _Node = root
    done: list[str] = []
    via = ""
    hops = 0
    while parts:
        part = parts.pop(0)
        child = node.children.get(part) if type(node) is _Dir else None
        if child is None:
            if via:  # the layers were read for the old path: read them again for the new one
                return "/".join([*done, part, *parts]), via
            return None, via
        if isinstance(child, _Leaf) and child.link is not None:
            hops += 1
            if hops > _MAX_HOPS:
                raise ImageError(f"too many levels of symbolic links resolving /{source}")
            via = via or "/".join([*done, part])
            target = resolve_link("/".join(done), child.link)
            parts = [*(target.split("/") if target else []), *parts]
            node, done = root, []
            continue
        done.append(part)
        node = child
    return "/".join(done), via


def _graft(state: _Pass, mappings: Sequence[PathMapping], sources: list[str],
           selection: Selection, report: ReadReport) -> Tree:
    tree = Tree()
    for index, mapping in enumerate(mappings):
        node = state._lookup(sources[index])
        assert node is not None  # _resolve_source found it
        keep = (
            (lambda relative, is_dir, i=index: selection.keeps(i, relative, is_dir))
            if selection.overlaps(index) else None
        )
        content = _convert(node, "", mapping.target, keep, report)
        if content is None:
            report.warnings.append(f"{mapping.source}: nothing to keep (empty or all excluded)")
            continue
        parent = tree
        *folders, name = mapping.target.split("/")
        for folder in folders:
            child = parent.children.setdefault(folder, Tree())
            assert isinstance(child, Tree)  # targets do not overlap
            parent = child
        parent.children[name] = content
    return tree


def _convert(node: _Node, relative: str, root: str,
             keep: Callable[[str, bool], bool] | None, report: ReadReport) -> Tree | Leaf | None:
    """The result subtree for ``node``; empty directories (and excluded entries) vanish.

    ``root`` is the mapping's target, ``relative`` the node's path below it.
    """
    if isinstance(node, _Leaf):
        if keep is not None and not keep(relative, False):
            return None
        assert node.oid is not None and node.pending is None
        report.files += 1
        if node.link is None:
            report.bytes += node.size
        else:
            warning = symlink_escape(f"{root}/{relative}" if relative else root, node.link, root)
            if warning:
                report.warnings.append(warning)
        return Leaf(node.mode, node.oid)
    if keep is not None and relative and not keep(relative, True):
        return None
    children: dict[str, Tree | Leaf] = {}
    for name in sorted(node.children):
        child = _convert(node.children[name], f"{relative}/{name}" if relative else name,
                         root, keep, report)
        if child is not None:
            children[name] = child
    return Tree(children) if children else None
