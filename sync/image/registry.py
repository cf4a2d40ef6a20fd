"""The ``docker://`` source: read an image straight from its registry, with no engine and no disk.

``docker://REF`` (skopeo's transport name; REF defaults to the manifest's ``image`` with its
``digest`` or ``tag``) resolves a tag through an image index / manifest list to the manifest for
the manifest's ``platform`` (Docker v2 schema 2 and OCI media types), reads the image config,
and yields one ``Layer`` per layer blob. Each layer streams from the registry through
``layers.layer_opener``, which decompresses (gzip, zstd or plain) and verifies the blob digest
and the config's diff_id while the flattener reads it: a mismatch stops the pull before the
layer's end is accepted, and nothing is committed. Manifests and the config are small: they are
read whole, capped, and checked against their digests before they are parsed.

Layers download a few at a time ahead of the reader (``prefetch``), each with its own progress
bar plus one for all of them; every ``Layer`` carries its blob digest, which the flattener's
per-layer checkpoints are keyed by, so layers already read for an earlier image are neither
downloaded nor read again.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from sync.config.manifest import Manifest
from sync.errors import ConfigError, ImageError
from sync.image import credentials as docker_credentials
from sync.image.credentials import Credentials
from sync.image.distribution import RegistryClient, RetryPolicy
from sync.image.model import ImageInfo, Layer, Limits, OpenedImage
from sync.image.prefetch import OnProgress, Prefetcher
from sync.image.streams import layer_opener

TRANSPORT = "docker://"
DOCKER_HUB_REGISTRY = "registry-1.docker.io"
INDEX_TYPES = frozenset({
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})
MANIFEST_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
})
ACCEPT = (*sorted(MANIFEST_TYPES), *sorted(INDEX_TYPES))
_CONFIG_TYPES = frozenset({
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
})
_LAYER_TYPE = re.compile(
    r"^application/vnd\.(oci\.image\.layer(\.nondistributable)?\.v1\.tar(\+gzip|\+zstd)?"
    r"|docker\.image\.rootfs(\.foreign)?\.diff\.tar(\.gzip|\.zstd)?)$")
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^\w[\w.-]{0,127}$")
_MAX_DEPTH = 4
_HINT = "check image:, tag:, digest: and platform: in upstream-manifest.yaml"
TOTAL_LABEL = "all layers"  # the download bar that sums the others


class DownloadProgress(Protocol):
    """Receives per-layer download progress (the engine path's ``PullProgress`` shape).

    ``layer`` is a short blob id, ``status`` "Downloading" or "Download complete"; called
    from download threads.
    """

    def update(self, layer: str, status: str, current: int | None, total: int | None) -> None:
        ...


@dataclass(frozen=True)
class ImageReference:
    """A parsed image name: where the registry is, which repository, which tag or digest."""

    registry: str  # the API host[:port], e.g. "registry-1.docker.io", "127.0.0.1:5000"
    repository: str  # e.g. "library/ubuntu", "k1d3r4z1/deepracer-sim-public"
    tag: str | None
    digest: str | None

    @property
    def version(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag (default latest)."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        name = f"{self.registry}/{self.repository}"
        return f"{name}@{self.digest}" if self.digest else f"{name}:{self.tag or 'latest'}"


def parse_reference(text: str) -> ImageReference:
    """Parse ``[registry/]repository[:tag][@digest]`` as docker does (Docker Hub by default)."""
    name, at, digest = text.partition("@")
    if at and not _DIGEST.match(digest):
        raise ConfigError(f"{text!r}: invalid digest {digest!r}",
                          hint="a digest looks like sha256:<64 hex digits>")
    tag = None
    last = name.rpartition("/")[2]
    if ":" in last:
        name, _, tag = name.rpartition(":")
        if not _TAG.match(tag):
            raise ConfigError(f"{text!r}: invalid tag {tag!r}")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB_REGISTRY, name
    if registry in docker_credentials.DOCKER_HUB_HOSTS:
        registry = DOCKER_HUB_REGISTRY
        if "/" not in repository:
            repository = f"library/{repository}"
    if not _REPOSITORY.match(repository):
        raise ConfigError(f"{text!r}: invalid repository name {repository!r}",
                          hint="repository names are lower case: letters, digits, . _ - and /")
    return ImageReference(registry, repository, tag, digest or None)


def source_reference(spec: str) -> ImageReference | None:
    """The reference a ``docker://[REF]`` value names; None for the manifest's own image."""
    text = spec.removeprefix(TRANSPORT)
    return parse_reference(text) if text else None


@contextmanager
def open_registry_image(
    manifest: Manifest,
    reference: ImageReference | None = None,
    *,
    insecure: Collection[str] = (),
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    credentials: Credentials | None | Callable[[str], Credentials | None] =
    docker_credentials.lookup,
    workers: int = 4,
    progress: DownloadProgress | None = None,
) -> Iterator[OpenedImage]:
    """Resolve the image in its registry and yield its layers, streamed from the registry.

    ``reference`` defaults to the manifest's image. Up to ``workers`` layers download at once
    (each into a small bounded buffer) while the caller reads them in order; ``workers=1``
    streams each layer only when it is opened. Layers may be opened again while the context
    is active. ``ImageError`` for an unreachable registry, refused access, an unknown image or
    tag, a missing platform or a digest mismatch.
    """
    label = str(reference) if reference is not None else manifest.reference
    reference = reference or parse_reference(manifest.reference)
    with RegistryClient(reference.registry, reference.repository, insecure=insecure,
                        retry=retry, credentials=credentials) as client, \
            Prefetcher(workers) as prefetcher:
        yield _open(client, reference, label, manifest, limits or Limits(),
                    prefetcher if workers > 1 else None, progress)


def _open(client: RegistryClient, reference: ImageReference, label: str, manifest: Manifest,
          limits: Limits, prefetcher: Prefetcher | None,
          progress: DownloadProgress | None) -> OpenedImage:
    body, media_type, top_digest = client.manifest(reference.version, ACCEPT)
    where = str(reference)
    document, media_type = _parse(body, media_type, where)
    for _depth in range(_MAX_DEPTH):
        if media_type not in INDEX_TYPES:
            break
        chosen = _choose_platform(_field(document, "manifests", list, where), manifest.platform,
                                  where)
        digest = _descriptor_digest(chosen, where)
        where = f"{reference.registry}/{reference.repository}@{digest}"
        body, media_type, _ = client.manifest(digest, ACCEPT)
        _check_size(chosen, body, where)
        document, media_type = _parse(body, media_type, where)
    if media_type not in MANIFEST_TYPES:
        raise ImageError(f"{where}: unsupported manifest type {media_type!r}",
                         hint="expected a Docker v2 schema 2 or OCI image manifest or index")
    if manifest.digest and top_digest != manifest.digest:
        raise ImageError(f"{reference}: the registry's manifest has digest {top_digest}, but "
                         f"the manifest pins digest: {manifest.digest}",
                         hint="nothing was written; check the registry, or update digest: in "
                              "upstream-manifest.yaml")
    config_descriptor = _field(document, "config", dict, where)
    if config_descriptor.get("mediaType") not in _CONFIG_TYPES:
        raise ImageError(f"{where}: not a container image (config media type "
                         f"{config_descriptor.get('mediaType')!r})", hint=_HINT)
    config_digest = _descriptor_digest(config_descriptor, where)
    config_bytes = client.blob_bytes(config_digest, "image config")
    _check_size(config_descriptor, config_bytes, where)
    config = _load(config_bytes, f"{where}: config")
    _check_platform(config, manifest.platform, where)
    layers = _layers(client, document, config, where, limits, prefetcher, progress)
    created = config.get("created")
    info = ImageInfo(reference=label, digest=top_digest, image_id=config_digest,
                     created=created if isinstance(created, str) else None)
    return OpenedImage(info=info, layers=layers)


def _layers(client: RegistryClient, document: Any, config: Any, where: str, limits: Limits,
            prefetcher: Prefetcher | None,
            progress: DownloadProgress | None) -> tuple[Layer, ...]:
    descriptors = _field(document, "layers", list, where)
    diff_ids = _field(_field(config, "rootfs", dict, f"{where}: config"), "diff_ids", list,
                      f"{where}: config")
    if len(diff_ids) != len(descriptors):
        raise ImageError(f"{where}: the config lists {len(diff_ids)} layers, the manifest "
                         f"{len(descriptors)}", hint="the image in the registry is damaged")
    layers = []
    count = len(descriptors)
    total = _Total(progress) if prefetcher is not None and progress is not None else None
    if prefetcher is not None and total is not None:
        prefetcher.on_start = total.started
    for index, (descriptor, diff_id) in enumerate(zip(descriptors, diff_ids, strict=True)):
        kind = descriptor.get("mediaType") if isinstance(descriptor, dict) else None
        if not isinstance(kind, str) or not _LAYER_TYPE.match(kind):
            raise ImageError(f"{where}: unsupported layer media type {kind!r}",
                             hint="only tar, tar+gzip and tar+zstd layers can be read")
        digest = _descriptor_digest(descriptor, where)
        size = descriptor.get("size")
        if not isinstance(size, int) or size < 0:
            raise ImageError(f"{where}: layer {digest} has no valid size")
        if not isinstance(diff_id, str) or not _DIGEST.match(diff_id):
            raise ImageError(f"{where}: config: invalid diff_id {diff_id!r}")
        description = f"layer {index + 1}/{count} {digest[:19]}"
        raw = _blob_opener(client, digest, size, f"{description} ({where})")
        if prefetcher is not None:
            raw = prefetcher.add(raw, _reporter(progress, digest, size, total, index))
        opener = layer_opener(raw, description=f"{description} ({where})", digest=digest,
                              diff_id=diff_id, limits=limits)
        layers.append(Layer(description=description, open=opener, size=size, digest=digest))
    return tuple(layers)


def _blob_opener(client: RegistryClient, digest: str, size: int,
                 where: str) -> Callable[[], AbstractContextManager[BinaryIO]]:
    return lambda: client.open_blob(digest, size, where)


class _Total:
    """One more bar: the bytes of every layer being downloaded (those not restored from the
    per-layer cache), updated from the download threads."""

    def __init__(self, progress: DownloadProgress) -> None:
        self.progress = progress
        self.sizes: list[int] = []
        self.counts: dict[int, int] = {}
        self.expected = 0
        self.lock = threading.Lock()

    def started(self, first: int) -> None:
        self.expected = sum(self.sizes[first:])

    def update(self, index: int, count: int) -> None:
        with self.lock:
            self.counts[index] = count
            done = sum(self.counts.values())
            status = "Downloading" if done < self.expected else "Download complete"
            self.progress.update(TOTAL_LABEL, status, done, self.expected or None)


def _reporter(progress: DownloadProgress | None, digest: str, size: int, total: _Total | None,
              index: int) -> OnProgress | None:
    if progress is None:
        return None
    short = digest.partition(":")[2][:12]
    if total is not None:
        total.sizes.append(size)

    def report(count: int | None) -> None:
        if count is None:
            progress.update(short, "Download complete", size, size)
        else:
            progress.update(short, "Downloading", count, size)
        if total is not None:
            total.update(index, size if count is None else count)

    return report


# -- documents -------------------------------------------------------------------------------------


def _parse(body: bytes, media_type: str, where: str) -> tuple[Any, str]:
    """The JSON document and its media type (the header's, else the document's own)."""
    document = _load(body, where)
    if not isinstance(document, dict):
        raise ImageError(f"{where}: the manifest is not a JSON object")
    if document.get("schemaVersion") == 1:
        raise ImageError(f"{where}: a Docker v2 schema 1 manifest, which is not supported",
                         hint="push the image again with a current docker or buildkit")
    own = document.get("mediaType")
    if media_type not in INDEX_TYPES | MANIFEST_TYPES:
        if isinstance(own, str):
            media_type = own
        elif "manifests" in document:  # OCI allows the field to be left out
            media_type = "application/vnd.oci.image.index.v1+json"
        elif "layers" in document:
            media_type = "application/vnd.oci.image.manifest.v1+json"
    return document, media_type


def _load(body: bytes, where: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ImageError(f"{where}: malformed JSON ({error})",
                         hint="the registry sent something that is not an image") from None


def _field(document: Any, key: str, kind: type, where: str) -> Any:
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, kind):
        raise ImageError(f"{where}: missing or malformed {key!r}",
                         hint="the image in the registry is damaged or not an image")
    return value


def _descriptor_digest(descriptor: Any, where: str) -> str:
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ImageError(f"{where}: invalid digest {digest!r}",
                         hint="the image in the registry is damaged")
    return digest


def _check_size(descriptor: dict[str, Any], body: bytes, where: str) -> None:
    size = descriptor.get("size")
    if isinstance(size, int) and size != len(body):
        raise ImageError(f"{where}: {descriptor.get('digest')} is {len(body)} bytes, its "
                         f"descriptor says {size}", hint="the image in the registry is damaged")


# -- platforms -------------------------------------------------------------------------------------


def _matches(candidate: Any, platform: str) -> bool:
    if not isinstance(candidate, dict):
        return False
    os_name, _, rest = platform.partition("/")
    architecture, _, variant = rest.partition("/")
    if candidate.get("os") != os_name or candidate.get("architecture") != architecture:
        return False
    return not variant or candidate.get("variant") in (None, variant)


def _describe(candidate: Any) -> str:
    if not isinstance(candidate, dict):
        return "unknown"
    parts = (candidate.get("os"), candidate.get("architecture"), candidate.get("variant"))
    return "/".join(str(part) for part in parts if part)


def _choose_platform(descriptors: list[Any], platform: str, where: str) -> dict[str, Any]:
    found = [d for d in descriptors if isinstance(d, dict) and _matches(d.get("platform"),
                                                                        platform)]
    if not found:
        available = ", ".join(sorted({_describe(d.get("platform")) for d in descriptors
                                      if isinstance(d, dict)}))
        raise ImageError(f"{where}: no manifest for platform {platform} (available: "
                         f"{available or 'none'})",
                         hint="set platform: in upstream-manifest.yaml to one of these")
    return found[0]  # as docker: the first match in the index's order


def _check_platform(config: Any, platform: str, where: str) -> None:
    if not _matches(config, platform):
        raise ImageError(f"{where}: the image is for {_describe(config)}, not {platform}",
                         hint="set platform: in upstream-manifest.yaml to the image's platform")
