"""Image builders for tests: every entry kind, layer blobs as bytes, OCI layouts and archives.

The sample's own writers (``sync.sample``: ``File``, ``Dir``, ``Symlink``, ``Fifo``,
``Whiteout``, ``Stream``, ``LayerSpec``, ``ImageSpec``, layer blobs, legacy ``docker save``
archives) are re-exported here, with what only tests need: ``Hardlink``, ``CharDevice``,
``Opaque`` and ``Raw`` (adversarial names and types) entries, ``layer_tar``/``layer_blob`` for
small in-memory layers, OCI image layouts and archives (with an image index, or Docker media
types), and the Docker 25+ form of ``docker save`` archives::

    image = ImageSpec(layers=(
        LayerSpec((Dir("opt/amazon"), File("opt/amazon/run.sh", b"#!/bin/sh\\n", mode=0o755))),
        LayerSpec((Whiteout("opt/amazon/run.sh"),), compression="zstd"),
    ))
    write_oci_archive(tmp_path / "image.tar", image)
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from sync.sample import image_writer
from sync.sample.image_writer import (
    DOCKER_LAYER,
    DOCKER_LIST,
    OCI_INDEX,
    REF_NAME,
    BlobDirectory,
    MediaTypes,
    as_list,
    canonical_json,
    tar_directory,
    write_image_blobs,
)
from sync.sample.layer_writer import OCI_LAYER, write_layer, write_layer_tar
from sync.sample.specs import (
    CHUNK,
    DEFAULT_CREATED,
    BuiltImage,
    BuiltLayer,
    Compression,
    Dir,
    Entry,
    Fifo,
    File,
    ImageSpec,
    LayerSpec,
    Meta,
    Stream,
    Symlink,
    Whiteout,
)

__all__ = [
    "CHUNK", "DEFAULT_CREATED", "DOCKER_LAYER", "OCI_LAYER", "BuiltImage", "BuiltLayer",
    "CharDevice", "Compression", "Dir", "Entry", "Fifo", "File", "Hardlink", "ImageSpec",
    "LayerSpec", "MediaTypes", "Opaque", "Raw", "Stream", "Symlink", "Whiteout", "layer_blob",
    "layer_tar", "write_docker_archive", "write_layer", "write_layer_tar", "write_oci_archive",
    "write_oci_layout",
]


# -- entries only tests need -------------------------------------------------------------------


@dataclass(frozen=True)
class Hardlink(Meta):
    """A hardlink to the earlier member ``target`` of the same layer."""

    path: str
    target: str

    def member(self) -> tuple[tarfile.TarInfo, BinaryIO | None]:
        info = tarfile.TarInfo(self.path)
        info.type, info.linkname = tarfile.LNKTYPE, self.target
        return self.stamp(info), None


@dataclass(frozen=True)
class CharDevice(Meta):
    """A character device node."""

    path: str
    major: int = 1
    minor: int = 3

    def member(self) -> tuple[tarfile.TarInfo, BinaryIO | None]:
        info = tarfile.TarInfo(self.path)
        info.type = tarfile.CHRTYPE
        info.devmajor, info.devminor = self.major, self.minor
        return self.stamp(info), None


@dataclass(frozen=True)
class Opaque(Meta):
    """Hides what lower layers have in directory ``path``: writes ``path/.wh..wh..opq``."""

    path: str

    def member(self) -> tuple[tarfile.TarInfo, BinaryIO | None]:
        info = tarfile.TarInfo(f"{self.path.rstrip('/')}/.wh..wh..opq")
        return self.stamp(info), io.BytesIO(b"")


@dataclass(frozen=True)
class Raw(Meta):
    """A member written exactly as given, for adversarial tests.

    ``name`` and ``linkname`` may be bytes (written as they are, e.g. invalid UTF-8);
    ``type`` is a tarfile type flag (``tarfile.REGTYPE``, ``tarfile.SYMTYPE``, ...).
    """

    name: str | bytes
    type: bytes = tarfile.REGTYPE
    content: bytes = b""
    linkname: str | bytes = ""
    mode: int = 0o644

    def member(self) -> tuple[tarfile.TarInfo, BinaryIO | None]:
        info = tarfile.TarInfo(_text(self.name))
        info.type = self.type
        info.linkname = _text(self.linkname)
        info.mode = self.mode
        content: BinaryIO | None = None
        if self.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
            info.size = len(self.content)
            content = io.BytesIO(self.content)
        return self.stamp(info), content


def _text(name: str | bytes) -> str:
    # tarfile writes str names; surrogateescape carries arbitrary bytes through unchanged
    return name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else name


# -- layers in memory ----------------------------------------------------------------------


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """The uncompressed tar of ``entries`` as bytes (for small tests)."""
    buffer = io.BytesIO()
    write_layer_tar(entries, buffer)
    return buffer.getvalue()


def layer_blob(entries: Iterable[Entry], compression: Compression = "gzip") -> tuple[bytes,
                                                                                       BuiltLayer]:
    """A layer blob as bytes with its digests (for small tests)."""
    buffer = io.BytesIO()
    built = write_layer(entries, buffer, compression)
    return buffer.getvalue(), built


# -- OCI layouts and archives ---------------------------------------------------------------


def write_oci_layout(directory: Path, images: ImageSpec | Sequence[ImageSpec], *,
                     index: bool = False, media_types: MediaTypes = "oci") -> list[BuiltImage]:
    """Write an OCI image layout (as ``skopeo copy ... oci:DIR`` does) into ``directory``.

    Each image's tags become ``org.opencontainers.image.ref.name`` annotations in index.json.
    With ``index=True`` all images go into one image index (a multi-platform image) that
    index.json names with the first image's tags.
    """
    directory.mkdir(parents=True, exist_ok=True)
    blobs = BlobDirectory(directory)
    specs = as_list(images)
    built: list[BuiltImage] = []
    descriptors: list[dict[str, Any]] = []
    for spec in specs:
        result, descriptor, _ = write_image_blobs(blobs, spec, media_types)
        built.append(result)
        descriptors.append(descriptor)
    top: list[dict[str, Any]] = []
    if index:
        nested = {"schemaVersion": 2,
                  "mediaType": DOCKER_LIST if media_types == "docker" else OCI_INDEX,
                  "manifests": descriptors}
        digest, size = blobs.add_bytes(canonical_json(nested))
        built = [BuiltImage(b.config_digest, b.manifest_digest, b.layers, b.tags, digest)
                 for b in built]
        for tag in specs[0].tags:
            top.append({"mediaType": nested["mediaType"], "digest": digest, "size": size,
                        "annotations": {REF_NAME: tag}})
    else:
        for spec, descriptor in zip(specs, descriptors, strict=True):
            plain = {key: value for key, value in descriptor.items() if key != "platform"}
            for tag in spec.tags or ("",):
                top.append({**plain, **({"annotations": {REF_NAME: tag}} if tag else {})})
    (directory / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    (directory / "index.json").write_bytes(
        canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": top}))
    return built


def write_oci_archive(path: Path, images: ImageSpec | Sequence[ImageSpec], *,
                      index: bool = False, media_types: MediaTypes = "oci") -> list[BuiltImage]:
    """Write an OCI image layout as a tar file (``oci-archive:PATH``)."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".oci-") as staging:
        built = write_oci_layout(Path(staging), images, index=index, media_types=media_types)
        tar_directory(Path(staging), path)
    return built


# -- docker save archives ---------------------------------------------------------------------


def write_docker_archive(path: Path, images: ImageSpec | Sequence[ImageSpec], *,
                         layout: Literal["legacy", "oci"] = "legacy") -> list[BuiltImage]:
    """Write a ``docker save`` archive that ``docker load`` accepts.

    ``layout="legacy"``: ``<id>/layer.tar``, ``<config hex>.json``, manifest.json, repositories
    (Docker before 25). ``layout="oci"``: the Docker 25+ form, an OCI layout (blobs/sha256,
    index.json) plus manifest.json pointing into blobs/.
    """
    if layout == "legacy":
        return image_writer.write_docker_archive(path, images)
    specs = as_list(images)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".docker-") as staging:
        root = Path(staging)
        blobs = BlobDirectory(root)
        built: list[BuiltImage] = []
        manifest: list[dict[str, Any]] = []
        top: list[dict[str, Any]] = []
        for spec in specs:
            result, descriptor, config_digest = write_image_blobs(blobs, spec, "oci")
            built.append(result)
            plain = {key: value for key, value in descriptor.items() if key != "platform"}
            for tag in spec.tags:
                name = tag if "/" in tag else f"docker.io/library/{tag}"
                top.append({**plain, "annotations": {
                    "io.containerd.image.name": name, REF_NAME: tag.rpartition(":")[2]}})
            manifest.append({"Config": f"blobs/sha256/{config_digest[7:]}",
                             "RepoTags": list(spec.tags),
                             "Layers": [f"blobs/sha256/{layer.digest[7:]}"
                                        for layer in result.layers]})
        (root / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
        (root / "index.json").write_bytes(
            canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": top}))
        (root / "manifest.json").write_bytes(canonical_json(manifest))
        repositories = image_writer.repositories_file(specs, built)
        if repositories:
            (root / "repositories").write_bytes(canonical_json(repositories))
        tar_directory(root, path)
    return built
