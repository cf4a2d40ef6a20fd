"""Flatten image layers, bottom first, into one tree of blob ids (OCI image spec; umoci's rules).

Each pass reads every layer for the mappings' sources (``layer_pass``) into a state tree
(``state_tree``: whiteouts, checkpoints), resolving hardlinks to targets it did not keep
(``hardlinks``). If a source (or one of its ancestors) turns out to be a symlink in the final
image, the link is resolved inside the image and the layers are read again from the resolved
path. The kept nodes are then grafted at their targets: a ``Tree`` of git modes and blob ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sync.config.manifest import PathMapping
from sync.errors import ImageError
from sync.filetree import Leaf, Tree
from sync.image.blobs import BlobStore
from sync.image.cache_state import chain_of
from sync.image.layer_pass import LayerPass
from sync.image.model import Checkpoints, Layer, Limits, ReadProgress, ReadReport
from sync.image.safety import (
    resolve_link,
    symlink_escape,
)
from sync.image.selection import Selection
from sync.image.state_tree import MAX_HOPS, DirNode, LeafNode, Node

_MAX_PASSES = 8  # each symlinked source costs one more read of the layers


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
    read: only the layers above it are opened. The result is the same as a cold read. A saved
    state that fails its checks (``cache_state``, ``Checkpoints.verify``) is not used: a warning
    says so and the layers are read from the image.

    Raises ``ImageError`` for a corrupt or truncated layer, a digest mismatch or a source that
    does not exist, and ``UnsafeArchiveError`` for names or links that try to escape.
    """
    limits = limits or Limits()
    sources = [mapping.source.strip("/") for mapping in mappings]
    warnings: list[str] = []
    reread = ""  # why the layers are being read again
    for _ in range(_MAX_PASSES):
        selection = Selection(
            [replace(m, source="/" + s) for m, s in zip(mappings, sources, strict=True)])
        state = LayerPass(layers, selection, store, limits, progress)
        selected = [(s, m.target, list(m.exclude)) for m, s in zip(mappings, sources,
                                                                strict=True)]
        try:
            state.run(checkpoints, chain_of(layers, selected, limits))
            warnings.extend(state.cache_warnings)
        except ImageError as error:
            if not reread:
                raise
            # a second read, for a symlinked source: each layer is verified again as it closes
            raise type(error)(f"{error.message} (while reading the layers again: {reread})",
                              hint=error.hint) from None
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
                reread = (f"the source {mapping.source} goes through the symlink /{via}, "
                          f"to /{resolved}")
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


# -- sources and the result tree ---------------------------------------------------------------


def _resolve_source(root: DirNode, source: str) -> tuple[str | None, str]:
    """Where ``source`` really is: (path, "") if found as is, (new path, symlink) if it moved
    through a symlink, (None, ...) if it does not exist."""
    parts = source.split("/") if source else []
    node: Node = root
    done: list[str] = []
    via = ""
    hops = 0
    while parts:
        part = parts.pop(0)
        child = node.children.get(part) if type(node) is DirNode else None
        if child is None:
            if via:  # the layers were read for the old path: read them again for the new one
                return "/".join([*done, part, *parts]), via
            return None, via
        if isinstance(child, LeafNode) and child.link is not None:
            hops += 1
            if hops > MAX_HOPS:
                raise ImageError(f"too many levels of symbolic links resolving /{source}")
            via = via or "/".join([*done, part])
            target = resolve_link("/".join(done), child.link)
            parts = [*(target.split("/") if target else []), *parts]
            node, done = root, []
            continue
        done.append(part)
        node = child
    return "/".join(done), via


def _graft(state: LayerPass, mappings: Sequence[PathMapping], sources: list[str],
           selection: Selection, report: ReadReport) -> Tree:
    tree = Tree()
    for index, mapping in enumerate(mappings):
        node = state.lookup(sources[index])
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


def _convert(node: Node, relative: str, root: str,
             keep: Callable[[str, bool], bool] | None, report: ReadReport) -> Tree | Leaf | None:
    """The result subtree for ``node``; empty directories (and excluded entries) vanish.

    ``root`` is the mapping's target, ``relative`` the node's path below it.
    """
    if isinstance(node, LeafNode):
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
