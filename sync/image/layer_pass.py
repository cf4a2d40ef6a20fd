"""One read of every layer for one selection: each tar member kept, excluded, whited out or skipped.

Only what can end up in the result is remembered: entries kept by the mappings, the directories
above them, and the directories and symlinks at each source or its ancestors. File content goes
straight from the tar stream into the ``BlobStore``; nothing is extracted and no file is held in
memory. A hardlink whose target was not kept is resolved by ``hardlinks`` after its layer.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Sequence
from typing import Any

from sync.errors import UnsafeArchiveError
from sync.filetree import MODE_EXECUTABLE, MODE_FILE, MODE_SYMLINK
from sync.image.blobs import BlobStore
from sync.image.hardlinks import HardlinkResolver
from sync.image.layer_tar import REGULAR, SKIPPED_KINDS, TarMembers, tar_errors
from sync.image.model import Checkpoints, Layer, Limits, ReadProgress
from sync.image.safety import (
    check_kept_path,
    check_link_text,
    display,
    normalize_member_name,
    unsafe,
)
from sync.image.selection import EXCLUDED, Selection
from sync.image.state_tree import DirNode, LeafNode, Pending, StateTree, classify_whiteout

PROGRESS_STEP = 1 << 20
CHECKPOINT_VERSION = 1  # bump when the state or the flattening rules change


class LayerPass(StateTree):
    """One read of all layers for one selection, building the state tree."""

    def __init__(self, layers: Sequence[Layer], selection: Selection, store: BlobStore,
                 limits: Limits, progress: ReadProgress | None) -> None:
        super().__init__()
        self.layers = layers
        self.selection = selection
        self.store = store
        self.limits = limits
        self.progress = progress
        self.pending: list[Pending] = []

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
                self.restore(found)
        for index in range(start, len(self.layers)):
            layer = self.layers[index]
            self.layer = index
            self.where = layer.description
            self.pending = []
            self._read_layer(layer)
            if self.pending:
                HardlinkResolver(self, index).resolve(self.pending)
            if checkpoints is not None and index < len(keys):
                state, oids = self.snapshot()
                checkpoints.save(keys[index], state, oids)

    # -- reading -------------------------------------------------------------------------------

    def _read_layer(self, layer: Layer) -> None:
        progress = self.progress
        if progress is not None:
            progress.start_layer(layer.description, layer.size)
        rename = layer.rename
        whiteouts = layer.whiteouts
        with layer.open() as stream, tar_errors(self.where):
            # the cap holds whatever opened the layer (an archive, the engine's stream)
            members = TarMembers(stream, self.where, self.limits)
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
                    marker = classify_whiteout(path, self.where)
                    if marker is not None:
                        self.apply_whiteout(*marker)
                        continue
                files += self._entry(path, info, members, rename, position)
                if progress is not None:
                    now = consumed()
                    if files or now - reported >= PROGRESS_STEP:
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
            node = self.lookup(path)
            if node is not None and not (is_dir and type(node) is DirNode):
                self.remove(path)
            return 0
        check_kept_path(path, verdict.relative, self.where, verdict.target)
        if kind in REGULAR:
            size = info.size
            self.check_size(path, size)
            oid = self.store.write(members.content(info), size)
            mode = MODE_EXECUTABLE if info.mode & 0o111 else MODE_FILE
            self.put(path, LeafNode(self.layer, mode, oid, size, None))
            return 1
        if is_dir:
            self.put_dir(path)
            return 0
        if kind == tarfile.SYMTYPE:
            check_link_text(path, info.linkname, self.where)
            self.put(path, self.symlink(info.linkname))
            return 1
        if kind == tarfile.LNKTYPE:
            self._hardlink(path, info.linkname, rename, position)
            return 1
        name = SKIPPED_KINDS.get(kind, f"type {kind.decode('latin-1')!r}")
        self.report.skipped[name] = self.report.skipped.get(name, 0) + 1
        self.remove(path)  # it still replaces what lower layers had
        return 0

    def _ancestor_entry(self, path: str, info: tarfile.TarInfo, is_dir: bool) -> None:
        """A member above a source: only its kind matters (a symlink may move the source)."""
        if is_dir:
            self.put_dir(path)
        elif info.type == tarfile.SYMTYPE:
            self.put(path, LeafNode(self.layer, MODE_SYMLINK, None, 0, info.linkname))
        else:
            self.remove(path)

    def symlink(self, link: str) -> LeafNode:
        """A symlink written by this layer, its link text stored as a blob."""
        data = link.encode("utf-8", "surrogateescape")
        oid = self.store.write(io.BytesIO(data), len(data))
        return LeafNode(self.layer, MODE_SYMLINK, oid, len(data), link)

    def _hardlink(self, path: str, linkname: str,
                  rename: Callable[[str], str | None] | None, position: int) -> None:
        target: str | None = normalize_member_name(linkname, self.where)
        if rename is not None and target:
            target = rename(target)
        if not target:
            raise unsafe(path, f"hardlink to {display(linkname)}, outside the layer", self.where)
        node = self.lookup(target)
        if type(node) is DirNode:
            raise unsafe(path, f"hardlink to the directory {display(target)}", self.where)
        if isinstance(node, LeafNode) and (node.oid is not None or node.pending is not None):
            leaf = LeafNode(self.layer, node.mode, node.oid, node.size, node.link, node.pending)
            if node.pending is not None:
                node.pending.leaves.append((path, leaf))
        else:
            # the target is not kept (excluded or outside the sources): read it again later
            pending = Pending(target, position)
            self.pending.append(pending)
            leaf = LeafNode(self.layer, MODE_FILE, None, 0, None, pending)
            pending.leaves.append((path, leaf))
        self.put(path, leaf)

    def check_size(self, path: str, size: int) -> None:
        """A file over the size limit is an ``UnsafeArchiveError``."""
        if size > self.limits.max_file_size:
            raise UnsafeArchiveError(
                f"{self.where}: {display(path)} is {size} bytes, over the file size limit of "
                f"{self.limits.max_file_size}",
                hint="if the image is genuine, raise the file size limit (sync pull "
                     "--max-file-size)",
            )


def chain_keys(layers: Sequence[Layer], selected: list[Any], limits: Limits) -> list[str]:
    """One key per prefix of layers that all have digests: what the state after it depends on."""
    chain = hashlib.sha256(json.dumps(
        [CHECKPOINT_VERSION, selected, limits.max_file_size, limits.max_layer_size]).encode())
    keys = []
    for layer in layers:
        if layer.digest is None or layer.rename is not None or not layer.whiteouts:
            break
        chain.update(layer.digest.encode() + b"\n")
        keys.append(chain.copy().hexdigest())
    return keys
