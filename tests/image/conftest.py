"""Helpers for the image tests: a git-hashing BlobStore and in-memory layers."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO

import pytest

from sync.config.manifest import PathMapping
from sync.filetree import Leaf, Tree
from sync.image.flatten import FlattenResult, flatten
from sync.image.model import Layer, Limits
from sync.image.streams import layer_opener
from tests.builders.images import Compression, Dir, Entry, layer_blob

AMAZON = PathMapping("/opt/amazon", "bundle")
SIMAPP = PathMapping("/opt/amazon", "bundle",
                     ("/build/", "/install/", "/log/", "*.psd", "__pycache__/", "*.pyc"))
BASE: list[Entry] = [Dir("opt"), Dir("opt/amazon")]  # the directories above the usual source


def git_blob_id(content: bytes) -> str:
    """The id git gives a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class GitHashingStore:
    """A BlobStore for unit tests: keeps content in a dict under git's blob ids.

    It reads the stream the way the real store must (exactly ``size`` bytes, in chunks) and
    records the largest single read, so tests can see that nothing was buffered whole.
    """

    def __init__(self, keep: bool = True) -> None:
        self.blobs: dict[str, bytes] = {}
        self.keep = keep
        self.writes = 0

    def write(self, stream: BinaryIO, size: int) -> str:
        hasher = hashlib.sha1(b"blob %d\0" % size)
        parts = []
        left = size
        while left:
            data = stream.read(min(left, 1 << 20))
            assert data, "the stream ended before size bytes"
            hasher.update(data)
            if self.keep:
                parts.append(data)
            left -= len(data)
        oid = hasher.hexdigest()
        if self.keep:
            self.blobs[oid] = b"".join(parts)
        self.writes += 1
        return oid


@pytest.fixture
def store() -> GitHashingStore:
    return GitHashingStore()


def memory_layer(entries: Sequence[Entry], compression: Compression = "none", *,
                 description: str = "layer", verify: bool = True, limits: Limits | None = None,
                 blob: bytes | None = None, opened: list[int] | None = None) -> Layer:
    """A Layer streaming a blob built from ``entries`` (or the given ``blob``) from memory.

    ``opened`` (a list) receives one item per ``open()``, to count re-reads.
    """
    data, built = layer_blob(entries, compression)
    if blob is not None:
        data = blob

    @contextmanager
    def open_raw() -> Iterator[BinaryIO]:
        if opened is not None:
            opened.append(1)
        yield io.BytesIO(data)

    opener = layer_opener(open_raw, description=description,
                          digest=built.digest if verify else None,
                          diff_id=built.diff_id if verify else None, limits=limits)
    return Layer(description=description, open=opener, size=len(data))


def layers(*entry_lists: Sequence[Entry], compression: Compression = "none") -> list[Layer]:
    """One in-memory layer per entry list, bottom first."""
    return [memory_layer(entries, compression, description=f"layer {i + 1}")
            for i, entries in enumerate(entry_lists)]


def leaf_at(tree: Tree, path: str) -> Leaf:
    """The file or symlink at ``path`` of a flattened tree."""
    node: Tree | Leaf = tree
    for name in path.split("/"):
        assert isinstance(node, Tree), f"{name}: not below a directory"
        node = node.children[name]
    assert isinstance(node, Leaf), f"{path} is a directory"
    return node


def read_tree(result: FlattenResult | Tree, store: GitHashingStore) -> dict[str, tuple[int, bytes]]:
    """path -> (mode, content) for every file of a flattened tree."""
    tree = result.tree if isinstance(result, FlattenResult) else result
    return {path: (leaf.mode, store.blobs[leaf.oid]) for path, leaf in tree.walk()}


def contents(result: FlattenResult, store: GitHashingStore) -> dict[str, bytes]:
    """path -> content for every file of a flattened tree."""
    return {path: content for path, (_, content) in read_tree(result, store).items()}


def run(store: GitHashingStore, *entry_lists: Sequence[Entry],
        mappings: Sequence[PathMapping] = (AMAZON,), **options: object) -> FlattenResult:
    """Flatten in-memory layers made of ``entry_lists``."""
    return flatten(layers(*entry_lists), mappings, store, **options)  # type: ignore[arg-type]
