"""Per-layer checkpoints of the flattener: a prefix of layers already read is never read again,
and the result is exactly that of a cold read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from sync.config.manifest import PathMapping
from sync.errors import CacheError, ImageError
from sync.image.flatten import flatten
from sync.image.model import Layer
from tests.builders.images import Dir, Entry, File, Hardlink, Opaque, Symlink, Whiteout, layer_blob
from tests.image.conftest import SIMAPP, GitHashingStore, memory_layer, read_tree


class MemoryCheckpoints:
    """A ``Checkpoints`` in a dict, counting loads and saves."""

    def __init__(self) -> None:
        self.states: dict[str, bytes] = {}
        self.kept: set[str] = set()
        self.loads: list[str] = []
        self.store = GitHashingStore()

    def load(self, key: str) -> bytes | None:
        self.loads.append(key)
        return self.states.get(key)

    def save(self, key: str, state: bytes, oids: list[str]) -> None:
        self.states[key] = state
        self.kept.update(oids)

    def verify(self, key: str, blobs: dict[str, int]) -> None:
        for oid, size in blobs.items():
            if len(self.store.blobs.get(oid, b"")) != size or oid not in self.kept:
                raise CacheError(f"checkpoint {key[:12]}: the blob {oid} is missing")


BASE: list[Entry] = [
    Dir("opt/amazon"), File("opt/amazon/a.py", b"a\n"), File("opt/amazon/old.py", b"old\n"),
    File("opt/amazon/build/x.o", b"excluded\n"), File("opt/amazon/gone/f", b"f\n"),
    File("opt/amazon/data/raw.bin", b"raw\n"), Symlink("opt/amazon/link", "a.py"),
]
MIDDLE: list[Entry] = [
    File("opt/amazon/tool.sh", b"#!/bin/sh\n", mode=0o755),
    File("opt/amazon/keep/k.txt", b"k\n"), File("opt/amazon/keep/drop.txt", b"drop\n"),
]
UPPER: list[Entry] = [
    Whiteout("opt/amazon/old.py"), Opaque("opt/amazon/keep"),
    File("opt/amazon/keep/new.txt", b"new\n"), Whiteout("opt/amazon/gone"),
    File("opt/amazon/a.py", b"a v2\n"),
    Hardlink("opt/amazon/copy.o", "opt/amazon/build/x.o"),  # a target only a lower layer has...
]
TOP: list[Entry] = [File("opt/amazon/top.txt", b"top\n")]
NEW_UPPER: list[Entry] = [*UPPER, File("opt/amazon/extra.txt", b"extra\n")]


def digested(entries: Sequence[Entry], index: int, opened: list[int]) -> Layer:
    """An in-memory layer with its real blob digest, counting its opens in ``opened``."""
    _, built = layer_blob(entries, "gzip")
    counter: list[int] = []
    layer = memory_layer(entries, "gzip", description=f"layer {index + 1}", opened=counter)
    original = layer.open

    def open_counted():  # type: ignore[no-untyped-def]
        opened.append(index)
        return original()

    return replace(layer, open=open_counted, digest=built.digest)


def image(*entry_lists: Sequence[Entry]) -> tuple[list[Layer], list[int]]:
    opened: list[int] = []
    return [digested(entries, i, opened) for i, entries in enumerate(entry_lists)], opened


def flattened(layers: list[Layer], checkpoints: MemoryCheckpoints | None = None,
              mappings: Sequence[PathMapping] = (SIMAPP,)) -> tuple[dict, object]:
    # one store per set of checkpoints, as one object database holds what the states name
    store = checkpoints.store if checkpoints is not None else GitHashingStore()
    result = flatten(layers, mappings, store, checkpoints=checkpoints)
    return read_tree(result, store), result.report


def test_a_cold_read_saves_one_state_per_layer_and_changes_nothing() -> None:
    checkpoints = MemoryCheckpoints()
    layers, _ = image(BASE, MIDDLE, UPPER)

    assert flattened(layers, checkpoints) == flattened(image(BASE, MIDDLE, UPPER)[0])
    assert len(checkpoints.states) == 3


@pytest.mark.parametrize("shared", [1, 2, 3])
def test_a_shared_prefix_is_restored_not_read_and_gives_the_cold_result(shared: int) -> None:
    checkpoints = MemoryCheckpoints()
    flattened(image(BASE, MIDDLE, UPPER)[0], checkpoints)
    # the new image shares the first ``shared`` layers and has new ones above them
    lists = [BASE, MIDDLE, UPPER][:shared] + [NEW_UPPER if shared < 3 else TOP, TOP]
    second, opened = image(*lists)

    warm = flattened(second, checkpoints)

    cold_layers, cold_opened = image(*lists)
    assert warm == flattened(cold_layers)  # the same tree and report as a cold read
    assert warm[0]["bundle/copy.o"] == (0o100644, b"excluded\n")
    if shared == 3:
        assert opened == [3, 4]  # UPPER's hardlink was resolved when its state was saved
    else:
        # the cached layers' own reads are gone; what is left are the reads of the new layers
        # and the lookups of NEW_UPPER's hardlink target in lower layers, as in a cold read
        expected = list(cold_opened)
        for index in range(shared):
            expected.remove(index)
        assert opened == expected


def test_everything_cached_reads_nothing() -> None:
    checkpoints = MemoryCheckpoints()
    flattened(image(BASE, MIDDLE)[0], checkpoints)
    again, opened = image(BASE, MIDDLE)

    assert flattened(again, checkpoints) == flattened(image(BASE, MIDDLE)[0])
    assert opened == []


def test_another_mapping_or_layer_order_does_not_reuse_states() -> None:
    checkpoints = MemoryCheckpoints()
    flattened(image(BASE, MIDDLE)[0], checkpoints)
    other_mapping, opened = image(BASE, MIDDLE)
    flattened(other_mapping, checkpoints, mappings=(PathMapping("/opt/amazon", "bundle"),))
    assert opened == [0, 1]
    reordered, opened = image(MIDDLE, BASE)
    flattened(reordered, checkpoints)
    assert opened == [0, 1]


def test_a_layer_without_a_digest_ends_the_chain() -> None:
    checkpoints = MemoryCheckpoints()
    layers, opened = image(BASE, MIDDLE, UPPER)
    layers[1] = replace(layers[1], digest=None)
    flattened(layers, checkpoints)
    assert len(checkpoints.states) == 1  # only the state after BASE


def test_a_layer_that_fails_verification_saves_no_state() -> None:
    checkpoints = MemoryCheckpoints()
    good, _ = image(BASE)
    data, _ = layer_blob(MIDDLE, "gzip")
    bad = replace(memory_layer(MIDDLE, "gzip", description="layer 2",
                               blob=layer_blob(UPPER, "gzip")[0]),
                  digest=layer_blob(MIDDLE, "gzip")[1].digest)

    with pytest.raises(ImageError, match="mismatch"):
        flattened([*good, bad], checkpoints)

    assert len(checkpoints.states) == 1 and data


def swap(states: dict[str, bytes], first: str, second: str) -> None:
    states[first], states[second] = states[second], states[first]


@pytest.mark.parametrize("damage", [
    "swapped", "not json", "a node made up", "a blob gone",
])
def test_a_state_that_fails_its_checks_is_not_used_and_the_layers_are_read(damage: str) -> None:
    checkpoints = MemoryCheckpoints()
    flattened(image(BASE, MIDDLE)[0], checkpoints)
    first, second = checkpoints.states  # after BASE, after BASE + MIDDLE
    if damage == "swapped":  # a state filed under the key of another chain
        swap(checkpoints.states, first, second)
    elif damage == "not json":
        checkpoints.states[second] = checkpoints.states[second][:-10]
    elif damage == "a node made up":
        checkpoints.states[second] = checkpoints.states[second].replace(b'"a.py":[0,',
                                                                        b'"a.py":[7,')
    else:
        checkpoints.store.blobs.clear()
    again, opened = image(BASE, MIDDLE)

    tree, report = flattened(again, checkpoints)

    cold_tree, cold_report = flattened(image(BASE, MIDDLE)[0])
    assert tree == cold_tree
    assert opened == [0, 1]  # every layer read from the image
    [warning] = report.warnings  # type: ignore[attr-defined]
    assert warning.startswith("layer cache: checkpoint ")
    assert warning.endswith("; not used: the layers are read from the image again")
    assert report.warnings[1:] == cold_report.warnings  # type: ignore[attr-defined]
