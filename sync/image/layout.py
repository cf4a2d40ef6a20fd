"""The ``oci:DIR[:REF]`` and ``oci-archive:PATH[:REF]`` sources: an OCI image layout, read in place.

REF selects an ``index.json`` entry by its ``org.opencontainers.image.ref.name`` annotation (as
``skopeo copy ... oci:DIR:REF`` writes it); without it the layout must hold one image. Image
indexes are followed to the manifest for the wanted platform, by the rules of ``oci``. Every
manifest, index and config is checked against its digest and size before it is parsed; layers
against their digests and diff_ids while they are read.
"""

from __future__ import annotations

from sync.errors import ImageError
from sync.image.archive_files import HINT, ArchiveFiles, LayoutBlobs
from sync.image.model import ImageInfo, Limits, OpenedImage
from sync.image.oci import Descriptor, Platform, choose_platform
from sync.image.resolve import (
    image_config,
    layers_of,
    manifest_blobs,
    platform_of,
    read_document,
    resolve_manifest,
)

CONTAINERD_NAME = "io.containerd.image.name"


def open_layout(files: ArchiveFiles, reference: str | None, wanted: Platform,
                limits: Limits) -> OpenedImage:
    """The image ``reference`` names in the layout (or its only one), for ``wanted``."""
    if not files.exists("oci-layout"):
        raise ImageError(f"{files.where}: no oci-layout file, not an OCI image layout",
                         hint="create one with `skopeo copy docker://IMAGE oci:DIR:TAG`")
    files.read("oci-layout")  # must be a readable regular file (its version is not needed)
    blobs = LayoutBlobs(files)
    top = _choose_top(blobs.index(), reference, wanted, blobs)
    manifest = resolve_manifest(blobs, read_document(blobs, top), wanted)
    config = image_config(blobs, manifest, wanted)
    layers = layers_of(manifest_blobs(blobs, manifest, files.where), config, files.where, HINT,
                       limits)
    info = ImageInfo(
        reference=top.annotations.get(CONTAINERD_NAME) or top.ref_name or files.where,
        digest=top.digest,
        image_id=manifest.config.digest,
        created=config.created,
    )
    return OpenedImage(info=info, layers=layers)


def _choose_top(entries: list[Descriptor], reference: str | None, wanted: Platform,
                blobs: LayoutBlobs) -> Descriptor:
    """The index.json entry for ``reference`` (a ref name), or the only image."""
    where = f"{blobs.where}: index.json"
    candidates = entries
    if reference is not None:
        candidates = [entry for entry in entries if entry.ref_name == reference]
        if not candidates:
            names = sorted({entry.ref_name for entry in entries if entry.ref_name})
            raise ImageError(f"{where}: no image named {reference!r} "
                             f"(the layout has: {', '.join(names) or 'no names'})",
                             hint="use one of the listed names after the last ':'")
    if not candidates:
        raise ImageError(f"{where}: the layout holds no image", hint=HINT)
    if len(candidates) == 1:
        return candidates[0]
    names = sorted({entry.ref_name for entry in candidates if entry.ref_name})
    if len(names) > 1:
        raise ImageError(f"{where}: the layout holds several images ({', '.join(names)})",
                         hint="pick one: oci:DIR:NAME or oci-archive:PATH:NAME")
    return choose_platform(candidates, wanted, where, lambda entry: platform_of(blobs, entry))
