"""One read of every layer for one selection: each tar member kept, excluded, whited out or skipped.

Only what can end up in the result is remembered: entries kept by the mappings, the directories
above them, and the directories and symlinks at each source or its ancestors. File content goes
straight from the tar stream into the ``BlobStore``; nothing is extracted and no file is held in
memory. A hardlink whose target was not kept is resolved by ``hardlinks`` after its layer.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Sequence

from sync.errors import CacheError, UnsafeArchiveError
from sync.filetree import MODE_EXECUTABLE, MODE_FILE, MODE_SYMLINK
from sync.image import cache_state
from sync.image.blobs import BlobStore
from sync.image.cache_state import Chain
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
from sync.untrusted import path_bytes

PROGRESS_STEP = 1 << 20


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
        self.cache_warnings: list[str] = []  # checkpoints found damaged and not used

    def run(self, checkpoints: Checkpoints | None = None, chain: Chain | None = None) -> None:
        """Read every layer; with ``checkpoints``, start after the longest saved prefix of
        ``chain`` that passes its checks (one that fails them is reported and read again)."""
        start = 0
        if checkpoints is not None and chain is not None:
            start = self._resume(checkpoints, chain)
        for index in range(start, len(self.layers)):
            layer = self.layers[index]
            self.layer = index
            self.where = layer.description
            self.pending = []
            self._read_layer(layer)
            if self.pending:
                HardlinkResolver(self, index).resolve(self.pending)
            if checkpoints is not None and chain is not None and index < len(chain.keys):
                state, oids = self.snapshot(chain.binding(index + 1))
                checkpoints.save(chain.keys[index], state, oids)

    def _resume(self, checkpoints: Checkpoints, chain: Chain) -> int:
        """Restore the longest saved prefix; return its length (0: read from the first layer)."""
        count, found = 0, None
        try:
            # shortest first, so that the store sees the whole chain in use (and keeps it)
            for number, key in enumerate(chain.keys, start=1):
                saved = checkpoints.load(key)
                if saved is None:
                    break
                count, found = number, saved
            if found is None:
                return 0
            root, report, blobs = cache_state.decode(found, chain, count)
            checkpoints.verify(chain.keys[count - 1], blobs)
        except CacheError as error:
            # kept out of the report until the end, so that no saved state carries it on
            self.cache_warnings.append(
                f"layer cache: {error.message}; not used: the layers are read from the image "
                "again")
            return 0
        self.adopt(root, report)
        return count

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
        data = path_bytes(link)
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
