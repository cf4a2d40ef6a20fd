"""The flattener's state tree: what the layers read so far left, and how whiteouts change it.

Each node records the index of the layer that last wrote it (or wrote something below it), which
makes whiteouts exact: ``.wh.NAME`` and ``.wh..wh..opq`` remove what lower layers had, wherever
the marker stands in its layer, and never what the same layer wrote. A state tree can be saved
as JSON after a layer and restored (the per-layer checkpoints; ``cache_state`` checks them).
"""

from __future__ import annotations

import json
from typing import Any

from sync.image.model import ReadReport
from sync.image.safety import display, unsafe

OPAQUE = ".wh..wh..opq"
MAX_HOPS = 40  # links followed while resolving one name, as the kernel's limit for symlinks


class DirNode:
    """A directory of the state tree: the layer that last wrote it or below it."""

    __slots__ = ("layer", "children")

    def __init__(self, layer: int) -> None:
        self.layer = layer
        self.children: dict[str, Node] = {}


class LeafNode:
    """A file or symlink (``link`` set); ``pending`` until a hardlink's content is known."""

    __slots__ = ("layer", "mode", "oid", "size", "link", "pending")

    def __init__(self, layer: int, mode: int, oid: str | None, size: int, link: str | None,
                 pending: Pending | None = None) -> None:
        self.layer = layer
        self.mode = mode
        self.oid = oid
        self.size = size
        self.link = link
        self.pending = pending


Node = DirNode | LeafNode


class Pending:
    """A hardlink whose target was not kept: its content is read again from the layer."""

    __slots__ = ("target", "position", "leaves")

    def __init__(self, target: str, position: int) -> None:
        self.target = target
        self.position = position  # member index of the hardlink in its layer
        self.leaves: list[tuple[str, LeafNode]] = []


class StateTree:
    """The tree of nodes, written by one layer at a time (``layer``, described by ``where``)."""

    def __init__(self) -> None:
        self.report = ReadReport()
        self.root = DirNode(-1)
        self.layer = 0
        self.where = ""

    # -- checkpoints ---------------------------------------------------------------------------

    def snapshot(self, binding: dict[str, Any]) -> tuple[bytes, list[str]]:
        """The state tree and the report so far, as JSON with ``binding`` (the chain of layers
        it is the state of: ``cache_state``), and the blob ids it refers to."""
        oids: list[str] = []

        def encode(node: Node) -> Any:
            if type(node) is DirNode:
                return [node.layer, {name: encode(child) for name, child in
                                     node.children.items()}]
            assert isinstance(node, LeafNode) and node.pending is None
            if node.oid is not None:
                oids.append(node.oid)
            return [node.layer, node.mode, node.oid, node.size, node.link]

        report = self.report
        document = {"chain": binding, "root": encode(self.root), "excluded": report.excluded,
                    "skipped": report.skipped, "warnings": report.warnings}
        return json.dumps(document, separators=(",", ":")).encode(), oids

    def adopt(self, root: DirNode, report: ReadReport) -> None:
        """Continue from a saved state (decoded and checked by ``cache_state.decode``)."""
        self.root = root
        self.report.excluded = report.excluded
        self.report.skipped = report.skipped
        self.report.warnings = report.warnings

    def apply_whiteout(self, kind: str, path: str) -> None:
        """Apply a marker ``classify_whiteout`` recognized."""
        if kind == "opaque":
            node = self.lookup(path)
            if type(node) is DirNode:
                prune_lower(node, self.layer)
            return
        if kind != "remove":
            return
        parent_path, _, name = path.rpartition("/")
        parent = self.lookup(parent_path)
        if type(parent) is not DirNode:
            return
        node = parent.children.get(name)
        if node is None:
            return
        if node.layer < self.layer:
            del parent.children[name]
        elif type(node) is DirNode:
            prune_lower(node, self.layer)
        # a non-directory this same layer wrote survives: whiteouts only hide lower layers

    # -- the state tree ------------------------------------------------------------------------

    def lookup(self, path: str) -> Node | None:
        node: Node | None = self.root
        if not path:
            return node
        for part in path.split("/"):
            if type(node) is not DirNode:
                return None
            node = node.children.get(part)
            if node is None:
                return None
        return node

    def parent(self, path: str) -> tuple[DirNode, str]:
        """The directory that holds ``path``, created or marked as written by this layer."""
        node = self.root
        layer = self.layer
        parts = path.split("/")
        for part in parts[:-1]:
            child = node.children.get(part)
            if type(child) is DirNode:
                child.layer = layer
            else:
                if child is not None:
                    self.report.warnings.append(
                        f"{self.where}: {display(path)} is below a non-directory; "
                        "the non-directory was replaced by a directory"
                    )
                child = node.children[part] = DirNode(layer)
            node = child
        return node, parts[-1]

    def put(self, path: str, node: Node) -> None:
        parent, name = self.parent(path)
        parent.children[name] = node

    def put_dir(self, path: str) -> None:
        parent, name = self.parent(path)
        node = parent.children.get(name)
        if type(node) is DirNode:
            node.layer = self.layer
        else:
            parent.children[name] = DirNode(self.layer)

    def remove(self, path: str) -> None:
        parent_path, _, name = path.rpartition("/")
        parent = self.lookup(parent_path)
        if type(parent) is DirNode:
            parent.children.pop(name, None)


def classify_whiteout(path: str, where: str) -> tuple[str, str] | None:
    """Classify a name of a layer with whiteouts: None for an ordinary entry, else
    ("opaque", directory), ("remove", path) or ("ignore", "") for AUFS metadata."""
    if path.startswith(".wh..wh.") and path != OPAQUE:
        return ("ignore", "")  # AUFS bookkeeping at the layer root (.wh..wh.plnk/...), as Docker
    parent, _, base = path.rpartition("/")
    if not base.startswith(".wh."):
        return None
    if base == OPAQUE:
        return ("opaque", parent)
    name = base[4:]
    if not name:
        raise unsafe(path, "empty whiteout name '.wh.'", where)
    if name in (".", ".."):
        raise unsafe(path, f"whiteout of {name!r}", where)
    return ("remove", f"{parent}/{name}" if parent else name)


def prune_lower(directory: DirNode, layer: int) -> None:
    """Remove everything below ``directory`` that a layer under ``layer`` wrote."""
    for name, child in list(directory.children.items()):
        if child.layer < layer:
            del directory.children[name]
        elif type(child) is DirNode:
            prune_lower(child, layer)
