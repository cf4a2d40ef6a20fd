"""From an image's documents to its layers through any ``BlobReader``, one set of rules for all.

An image index is followed to the manifest for the wanted platform (``oci.choose_platform``),
the manifest's config is read and must be for that platform too, and each layer blob becomes a
``Layer`` whose stream is decompressed and checked against its digest and the config's diff_id
as the flattener reads it. The registry and OCI layouts walk their documents with these
functions; a ``docker save`` archive, whose files are found by name, builds its layers with
``layers_of``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sync.errors import ImageError
from sync.image.blobs import BlobReader, Opener
from sync.image.model import Layer, Limits
from sync.image.oci import (
    MAX_DEPTH,
    Descriptor,
    Document,
    ImageConfig,
    ImageManifest,
    Platform,
    check_platform,
    choose_platform,
    index_entries,
    parse_config,
    parse_document,
    parse_manifest,
)
from sync.image.streams import layer_opener


def read_document(blobs: BlobReader, descriptor: Descriptor) -> Document:
    """The manifest or index ``descriptor`` points to, verified and parsed."""
    return parse_document(blobs.document(descriptor), descriptor.media_type,
                          blobs.describe(descriptor.digest), blobs.hint)


def resolve_manifest(blobs: BlobReader, document: Document, wanted: Platform) -> ImageManifest:
    """Follow image indexes from ``document`` down to the image manifest for ``wanted``."""
    for _ in range(MAX_DEPTH):
        if not document.is_index:
            break
        entry = choose_platform(index_entries(document, blobs.hint), wanted, document.where,
                                lambda entry: platform_of(blobs, entry))
        document = read_document(blobs, entry)
    if document.is_index:
        raise ImageError(f"{document.where}: image indexes nested too deeply", hint=blobs.hint)
    return parse_manifest(document, blobs.hint)


def read_config(blobs: BlobReader, manifest: ImageManifest) -> ImageConfig:
    """The manifest's image config, verified and parsed."""
    return parse_config(blobs.config(manifest.config), blobs.describe(manifest.config.digest),
                        blobs.hint)


def platform_of(blobs: BlobReader, entry: Descriptor) -> Platform | None:
    """The platform of an index entry that does not say: its config's."""
    return read_config(blobs, parse_manifest(read_document(blobs, entry), blobs.hint)).platform


def image_config(blobs: BlobReader, manifest: ImageManifest, wanted: Platform) -> ImageConfig:
    """The manifest's config, which must be for ``wanted``."""
    config = read_config(blobs, manifest)
    check_platform(config, wanted, blobs.describe(manifest.config.digest))
    return config


@dataclass(frozen=True)
class LayerBlob:
    """A layer's blob as a source holds it: compressed or not, not yet verified."""

    open: Opener
    size: int | None  # bytes, for progress
    digest: str | None  # None when the source does not name the blob by its digest


def manifest_blobs(blobs: BlobReader, manifest: ImageManifest, where: str) -> list[LayerBlob]:
    """The layer blobs a manifest lists, opened through ``blobs`` (``where`` names the image)."""
    count = len(manifest.layers)
    return [LayerBlob(blobs.opener(layer, _where(index, count, layer.digest, where)),
                      layer.size, layer.digest)
            for index, layer in enumerate(manifest.layers)]


def layers_of(found: Sequence[LayerBlob], config: ImageConfig, where: str, hint: str,
              limits: Limits) -> tuple[Layer, ...]:
    """One ``Layer`` per blob, checked against the config's diff_ids as it is read."""
    if len(config.diff_ids) != len(found):
        raise ImageError(f"{where}: the config lists {len(config.diff_ids)} layers, the "
                         f"manifest {len(found)}", hint=hint)
    layers = []
    count = len(found)
    for index, (blob, diff_id) in enumerate(zip(found, config.diff_ids, strict=True)):
        # the diff_id (checked against the stream) keys the per-layer cache when the source
        # does not name the blob by its digest, as legacy `docker save` layouts do not
        identity = blob.digest or diff_id
        opener = layer_opener(blob.open, description=_where(index, count, identity, where),
                              digest=blob.digest, diff_id=diff_id, limits=limits)
        layers.append(Layer(description=_description(index, count, identity), open=opener,
                            size=blob.size, digest=identity))
    return tuple(layers)


def _description(index: int, count: int, identity: str) -> str:
    return f"layer {index + 1}/{count} {identity[:19]}"


def _where(index: int, count: int, identity: str, where: str) -> str:
    return f"{_description(index, count, identity)} ({where})"
