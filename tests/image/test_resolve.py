"""The walk every digest-addressed source shares: index -> platform manifest -> config -> layers."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import pytest

from sync.errors import ImageError
from sync.image.blobs import Opener
from sync.image.model import Limits
from sync.image.oci import (
    CONFIG_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Document,
    Platform,
    parse_document,
)
from sync.image.resolve import (
    image_config,
    layers_of,
    manifest_blobs,
    read_document,
    resolve_manifest,
)
from tests.builders.images import File, layer_blob

HINT = "damaged"
CONFIG_TYPE = sorted(CONFIG_TYPES)[0]
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


class MemoryBlobs:
    """A ``BlobReader`` over a dict of blobs, recording what was read."""

    def __init__(self) -> None:
        self.where = "memory"
        self.hint = HINT
        self.blobs: dict[str, bytes] = {}
        self.read: list[str] = []

    def add(self, data: bytes) -> str:
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        self.blobs[digest] = data
        return digest

    def add_json(self, document: object) -> tuple[str, int]:
        data = json.dumps(document).encode()
        return self.add(data), len(data)

    def describe(self, digest: str) -> str:
        return f"memory@{digest[:15]}"

    def document(self, descriptor: Descriptor) -> bytes:
        self.read.append(descriptor.digest)
        return self.blobs[descriptor.digest]

    def config(self, descriptor: Descriptor) -> bytes:
        self.read.append(descriptor.digest)
        return self.blobs[descriptor.digest]

    def opener(self, descriptor: Descriptor, where: str) -> Opener:
        data = self.blobs[descriptor.digest]

        @contextmanager
        def open_blob() -> Iterator[BinaryIO]:
            yield io.BytesIO(data)

        return open_blob


def image(blobs: MemoryBlobs, platform: dict[str, str], content: bytes = b"x",
          diff_ids: list[str] | None = None) -> dict[str, object]:
    """Store one single-layer image; return the index entry for its manifest (no platform)."""
    data, built = layer_blob([File("opt/amazon/a", content)], "gzip")
    layer = blobs.add(data)
    config_digest, config_size = blobs.add_json(
        {**platform, "rootfs": {"type": "layers",
                                "diff_ids": diff_ids if diff_ids is not None else [built.diff_id]}})
    digest, size = blobs.add_json({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": LAYER_TYPE, "digest": layer, "size": len(data)}]})
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": size}


def index(*entries: dict[str, object]) -> Document:
    return parse_document(json.dumps({"schemaVersion": 2, "manifests": list(entries)}).encode(),
                          OCI_INDEX, "index", HINT)


AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64 = {"os": "linux", "architecture": "arm64", "variant": "v8"}


def test_an_index_is_followed_to_the_wanted_platform() -> None:
    blobs = MemoryBlobs()
    arm = image(blobs, ARM64, b"arm")
    amd = image(blobs, AMD64, b"amd")
    top = index({**arm, "platform": ARM64}, {**amd, "platform": AMD64})
    wanted = Platform.parse("linux/arm64")
    manifest = resolve_manifest(blobs, top, wanted)
    assert blobs.read == [arm["digest"]]  # only the chosen manifest was read
    assert image_config(blobs, manifest, wanted).platform == Platform("linux", "arm64", "v8")


def test_entries_without_a_platform_are_judged_by_their_config() -> None:
    blobs = MemoryBlobs()
    arm, amd = image(blobs, ARM64, b"arm"), image(blobs, AMD64, b"amd")
    manifest = resolve_manifest(blobs, index(arm, amd), Platform.parse("linux/amd64"))
    config = image_config(blobs, manifest, Platform.parse("linux/amd64"))
    assert config.platform == Platform("linux", "amd64")


def test_indexes_nested_too_deeply_are_refused() -> None:
    blobs = MemoryBlobs()
    entry = {**image(blobs, AMD64), "platform": AMD64}
    for _ in range(5):
        digest, size = blobs.add_json({"schemaVersion": 2, "manifests": [entry]})
        entry = {"mediaType": OCI_INDEX, "digest": digest, "size": size, "platform": AMD64}
    with pytest.raises(ImageError, match="image indexes nested too deeply"):
        resolve_manifest(blobs, index(entry), Platform.parse("linux/amd64"))


def test_a_config_for_another_platform_is_refused() -> None:
    blobs = MemoryBlobs()
    top = read_document(blobs, Descriptor(OCI_MANIFEST, str(image(blobs, ARM64)["digest"]), None))
    manifest = resolve_manifest(blobs, top, Platform.parse("linux/amd64"))  # no index to choose
    with pytest.raises(ImageError, match="the image is for linux/arm64/v8, not linux/amd64"):
        image_config(blobs, manifest, Platform.parse("linux/amd64"))


def test_layers_are_described_and_verified_against_the_config() -> None:
    blobs = MemoryBlobs()
    top = read_document(blobs, Descriptor(OCI_MANIFEST, str(image(blobs, AMD64)["digest"]), None))
    wanted = Platform.parse("linux/amd64")
    manifest = resolve_manifest(blobs, top, wanted)
    layers = layers_of(manifest_blobs(blobs, manifest, "memory"),
                       image_config(blobs, manifest, wanted), "memory", HINT, Limits())
    digest = manifest.layers[0].digest
    assert [(layer.description, layer.digest) for layer in layers] == [
        (f"layer 1/1 {digest[:19]}", digest)]
    with layers[0].open() as stream:
        assert stream.read(-1)  # read to the end: closing verifies the digest and diff_id


def test_a_config_with_another_layer_count_is_refused() -> None:
    blobs = MemoryBlobs()
    entry = image(blobs, AMD64, diff_ids=["sha256:" + "0" * 64] * 2)
    top = read_document(blobs, Descriptor(OCI_MANIFEST, str(entry["digest"]), None))
    wanted = Platform.parse("linux/amd64")
    manifest = resolve_manifest(blobs, top, wanted)
    with pytest.raises(ImageError, match="the config lists 2 layers, the manifest 1"):
        layers_of(manifest_blobs(blobs, manifest, "memory"),
                  image_config(blobs, manifest, wanted), "memory", HINT, Limits())
