"""Writes images as ``docker save`` archives (``docker-archive:``), from ``ImageSpec``s.

Blobs go into a content-addressed ``blobs/sha256`` directory first (``BlobDirectory``), with an
image config and manifest per image (``write_image_blobs``); ``write_docker_archive`` then lays
them out as ``docker save`` did before Docker 25 and tars the result deterministically (sorted
members, fixed metadata, sorted JSON)::

    image = ImageSpec(layers=(
        LayerSpec((Dir("opt/amazon"), File("opt/amazon/run.sh", b"#!/bin/sh\\n", mode=0o755))),
        LayerSpec((Whiteout("opt/amazon/run.sh"),), compression="zstd"),
    ))
    write_docker_archive(tmp_path / "image.tar", image)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from sync.sample.layer_writer import write_layer
from sync.sample.specs import BuiltImage, BuiltLayer, ImageSpec, LayerSpec

MediaTypes = Literal["oci", "docker"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
REF_NAME = "org.opencontainers.image.ref.name"


def canonical_json(value: Any) -> bytes:
    """``value`` as compact JSON with sorted keys: the same bytes for the same value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def platform_fields(platform: str) -> dict[str, str]:
    """"os/arch[/variant]" as the ``os``, ``architecture`` (and ``variant``) fields."""
    os_name, architecture, *variant = platform.split("/")
    result = {"os": os_name, "architecture": architecture}
    if variant:
        result["variant"] = variant[0]
    return result


class BlobDirectory:
    """A content-addressed ``blobs/sha256`` directory being filled."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "blobs" / "sha256"
        self.dir.mkdir(parents=True, exist_ok=True)

    def add_bytes(self, data: bytes) -> tuple[str, int]:
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        (self.dir / digest[7:]).write_bytes(data)
        return digest, len(data)

    def add_layer(self, spec: LayerSpec, media_types: MediaTypes) -> BuiltLayer:
        handle, temporary = tempfile.mkstemp(dir=self.dir, prefix=".layer-")
        with os.fdopen(handle, "wb") as out:
            built = write_layer(spec.entries, out, spec.compression)  # type: ignore[arg-type]
        os.replace(temporary, self.dir / built.digest[7:])
        if media_types == "docker":
            suffix = "" if spec.compression == "none" else ".gzip"
            if spec.compression.startswith("zstd"):
                suffix = ".zstd"  # not a Docker type, but what containerd writes for zstd
            built = BuiltLayer(built.digest, built.diff_id, built.size, built.compression,
                               DOCKER_LAYER + suffix)
        return built

    def path(self, digest: str) -> Path:
        return self.dir / digest.partition(":")[2]


def write_image_blobs(blobs: BlobDirectory, image: ImageSpec,
                      media_types: MediaTypes) -> tuple[BuiltImage, dict[str, Any], str]:
    """Write the layers, config and manifest of ``image``; return (built, descriptor, config)."""
    layers = tuple(blobs.add_layer(spec, media_types) for spec in image.layers)
    config = {
        **platform_fields(image.platform),
        "created": image.created,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": image.created, "created_by": "sync.sample"} for _ in layers],
    }
    config_digest, config_size = blobs.add_bytes(canonical_json(config))
    docker = media_types == "docker"
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
                   for layer in layers],
    }
    manifest_digest, manifest_size = blobs.add_bytes(canonical_json(manifest))
    descriptor = {"mediaType": manifest["mediaType"], "digest": manifest_digest,
                  "size": manifest_size, "platform": platform_fields(image.platform)}
    built = BuiltImage(config_digest=config_digest, manifest_digest=manifest_digest,
                       layers=layers, tags=tuple(image.tags))
    return built, descriptor, config_digest


def as_list(images: ImageSpec | Sequence[ImageSpec]) -> list[ImageSpec]:
    """One image or several, as a list."""
    return [images] if isinstance(images, ImageSpec) else list(images)


def write_docker_archive(path: Path, images: ImageSpec | Sequence[ImageSpec]) -> list[BuiltImage]:
    """Write a ``docker save`` archive that ``docker load`` accepts, in the form Docker wrote
    before version 25: ``<id>/layer.tar``, ``<config hex>.json``, manifest.json, repositories."""
    specs = as_list(images)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".docker-") as staging:
        root = Path(staging)
        blobs = BlobDirectory(root)
        built: list[BuiltImage] = []
        manifest: list[dict[str, Any]] = []
        for spec in specs:
            result, _descriptor, config_digest = write_image_blobs(blobs, spec, "oci")
            built.append(result)
            layer_paths = []
            for layer in result.layers:
                folder = root / layer.digest[7:]
                if not folder.exists():
                    folder.mkdir()
                    shutil.copyfile(blobs.path(layer.digest), folder / "layer.tar")
                    (folder / "VERSION").write_bytes(b"1.0")
                    (folder / "json").write_bytes(canonical_json({"id": layer.digest[7:]}))
                layer_paths.append(f"{layer.digest[7:]}/layer.tar")
            config_path = f"{config_digest[7:]}.json"
            shutil.copyfile(blobs.path(config_digest), root / config_path)
            manifest.append({"Config": config_path, "RepoTags": list(spec.tags),
                             "Layers": layer_paths})
        shutil.rmtree(root / "blobs")
        (root / "manifest.json").write_bytes(canonical_json(manifest))
        repositories = repositories_file(specs, built)
        if repositories:
            (root / "repositories").write_bytes(canonical_json(repositories))
        tar_directory(root, path)
    return built


def repositories_file(specs: Sequence[ImageSpec],
                      built: Sequence[BuiltImage]) -> dict[str, dict[str, str]]:
    """The legacy ``repositories`` file: repository -> tag -> top layer id."""
    repositories: dict[str, dict[str, str]] = {}
    for spec, result in zip(specs, built, strict=True):
        for tag in spec.tags:
            repository, _, name = tag.rpartition(":")
            repositories.setdefault(repository, {})[name] = (
                result.layers[-1].digest[7:] if result.layers else "")
    return repositories


def tar_directory(source: Path, destination: Path) -> None:
    """Tar ``source``'s content deterministically to ``destination`` (via a temporary name)."""
    temporary = destination.with_name(f".{destination.name}.partial")
    with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar:
        for folder, dirs, files in os.walk(source):
            dirs.sort()
            relative_folder = Path(folder).relative_to(source)
            for name in [*dirs, *sorted(files)]:
                full = Path(folder) / name
                info = tarfile.TarInfo((relative_folder / name).as_posix())
                info.uname = info.gname = ""
                if full.is_dir():
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    info.size, info.mode = full.stat().st_size, 0o644
                    with full.open("rb") as content:
                        tar.addfile(info, content)
    os.replace(temporary, destination)
