"""What a layer-cache checkpoint holds, and the checks it must pass before the flattener uses it.

A checkpoint is the state tree after a prefix of layers (``state_tree``), keyed by the chain it
covers: the flattening rules' version, the selection and the limits, then each layer's digest
(checked against the layer as it streamed), hashed in that order. The state records the chain
and its key; it is used only when the recorded chain hashes to the key it is filed under and
equals the prefix of the image being read. It is decoded strictly, every node checked, so a
damaged state is refused whole (``CacheError``), never half restored; the blobs it names are
handed back (id -> size) for the store to confirm that they are there, whole.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sync.errors import CacheError
from sync.filetree import MODE_EXECUTABLE, MODE_FILE, MODE_SYMLINK
from sync.image.model import Layer, Limits, ReadReport
from sync.image.state_tree import DirNode, LeafNode, Node

VERSION = 2  # bump when the state or the flattening rules change
_OID = re.compile(r"[0-9a-f]{40}\Z")
_MODES = (MODE_FILE, MODE_EXECUTABLE, MODE_SYMLINK)


@dataclass(frozen=True)
class Chain:
    """The cacheable prefix of an image's layers for one selection: ``keys[i]`` names the
    state after layers 0..i, ``digests`` are those layers' digests, ``params`` the rest."""

    params: list[Any]
    digests: tuple[str, ...]
    keys: tuple[str, ...]

    def binding(self, count: int) -> dict[str, Any]:
        """What a state after ``count`` layers records about the chain it belongs to."""
        return {"key": self.keys[count - 1], "params": self.params,
                "layers": list(self.digests[:count])}


def chain_of(layers: Sequence[Layer], selected: list[Any], limits: Limits) -> Chain:
    """The chain of ``layers`` up to the first that cannot be cached (no digest, renamed, or
    without whiteouts: the engine's archives)."""
    # as JSON has it (tuples become lists), to compare with what a state records
    params = json.loads(json.dumps([VERSION, selected, limits.max_file_size,
                                    limits.max_layer_size]))
    digests: list[str] = []
    for layer in layers:
        if layer.digest is None or layer.rename is not None or not layer.whiteouts:
            break
        digests.append(layer.digest)
    return Chain(params, tuple(digests), tuple(_keys(params, digests)))


def _keys(params: Any, digests: Sequence[Any]) -> list[str]:
    chain = hashlib.sha256(json.dumps(params).encode())
    keys = []
    for digest in digests:
        chain.update(str(digest).encode() + b"\n")
        keys.append(chain.copy().hexdigest())
    return keys


def check_binding(document: Any, chain: Chain, count: int) -> None:
    """Refuse a state that is not the one of ``chain``'s first ``count`` layers."""
    key = chain.keys[count - 1]
    recorded = document.get("chain") if isinstance(document, dict) else None
    if not isinstance(recorded, dict):
        raise CacheError(f"checkpoint {key[:12]} records no chain of layers")
    layers = recorded.get("layers")
    if not isinstance(layers, list) or not layers or _keys(recorded.get("params"),
                                                           layers)[-1] != recorded.get("key"):
        raise CacheError(f"checkpoint {key[:12]}: its recorded chain does not hash to its key")
    if recorded.get("key") != key:
        raise CacheError(f"checkpoint {key[:12]} holds the state of another chain of layers "
                         f"({str(recorded.get('key'))[:12]})")
    if layers != list(chain.digests[:count]) or recorded.get("params") != chain.params:
        raise CacheError(f"checkpoint {key[:12]}: its chain is not this image's layers")


def decode(saved: bytes, chain: Chain, count: int) -> tuple[DirNode, ReadReport,
                                                             dict[str, int]]:
    """The root, the report and the blobs (id -> size) of a saved state, all checked."""
    key = chain.keys[count - 1]
    try:
        document = json.loads(saved)
    except (ValueError, RecursionError) as error:
        raise CacheError(f"checkpoint {key[:12]}: its state is not JSON ({error})") from None
    check_binding(document, chain, count)
    blobs: dict[str, int] = {}
    try:
        root = _node(document["root"], count, blobs)
        report = ReadReport(excluded=document["excluded"], skipped=dict(document["skipped"]),
                            warnings=list(document["warnings"]))
    except (KeyError, TypeError, ValueError, RecursionError) as error:
        raise CacheError(f"checkpoint {key[:12]}: its state is malformed ({error!r:.200})"
                         ) from None
    if not (type(root) is DirNode and type(report.excluded) is int
            and all(type(k) is str and type(v) is int for k, v in report.skipped.items())
            and all(type(warning) is str for warning in report.warnings)):
        raise CacheError(f"checkpoint {key[:12]}: its state is malformed")
    return root, report, blobs


def _node(item: Any, count: int, blobs: dict[str, int]) -> Node:
    """One node as ``StateTree.snapshot`` encodes it; anything else is a ``ValueError``."""
    if type(item) is not list or not item or type(item[0]) is not int or not (
            -1 <= item[0] < count):
        raise ValueError(f"not a node: {item!r:.80}")
    if len(item) == 2 and type(item[1]) is dict:
        directory = DirNode(item[0])
        for name, child in item[1].items():
            if not name or "/" in name or name in (".", ".."):
                raise ValueError(f"bad name {name!r:.80}")
            directory.children[name] = _node(child, count, blobs)
        return directory
    if len(item) != 5:
        raise ValueError(f"not a node: {item!r:.80}")
    layer, mode, oid, size, link = item
    if type(mode) is not int or mode not in _MODES or type(size) is not int or size < 0 or not (
            link is None or type(link) is str) or (link is None and mode == MODE_SYMLINK):
        raise ValueError(f"not a leaf: {item!r:.80}")
    if oid is not None:
        if type(oid) is not str or not _OID.match(oid) or blobs.get(oid, size) != size:
            raise ValueError(f"not a blob id: {oid!r:.80}")
        blobs[oid] = size
    elif link is None:
        raise ValueError(f"a file without content: {item!r:.80}")
    return LeafNode(layer, mode, oid, size, link)
