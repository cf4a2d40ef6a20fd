"""The ``docker://`` source: read an image straight from its registry, with no engine and no disk.

``docker://REF`` (skopeo's transport name; REF defaults to the manifest's ``image`` with its
``digest`` or ``tag``) resolves a tag through an image index / manifest list to the manifest for
the manifest's ``platform`` (``resolve`` walks the documents by the rules of ``oci``), reads the
image config, and yields one ``Layer`` per layer blob. Each layer streams from the registry through
``streams.LayerStream``, which decompresses (gzip, zstd or plain) and verifies the blob digest
and the config's diff_id while the flattener reads it: a mismatch stops the pull before the
layer's end is accepted, and nothing is committed. Manifests and the config are small: they are
read whole, capped, and checked against their digests before they are parsed.

Layers download a few at a time ahead of the reader (``prefetch``), each with its own progress
bar plus one for all of them; every ``Layer`` carries its blob digest, which the flattener's
per-layer checkpoints are keyed by, so layers already read for an earlier image are neither
downloaded nor read again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

from sync.config.manifest import Manifest
from sync.errors import ConfigError, ImageError
from sync.image import credentials as docker_credentials
from sync.image.blobs import Opener
from sync.image.credentials import Credentials
from sync.image.distribution import RegistryClient, RetryPolicy
from sync.image.model import ImageInfo, Limits, OpenedImage
from sync.image.oci import ACCEPT, DIGEST, Descriptor, Platform, check_size, parse_document
from sync.image.prefetch import OnProgress, Prefetcher
from sync.image.resolve import image_config, layers_of, manifest_blobs, resolve_manifest

TRANSPORT = "docker://"
DOCKER_HUB_REGISTRY = "registry-1.docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^\w[\w.-]{0,127}$")
_DAMAGED = "the image in the registry is damaged or not an image"
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
    if at and not DIGEST.match(digest):
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
    blobs = _RegistryBlobs(client)
    wanted = Platform.parse(manifest.platform)
    body, media_type, top_digest = client.manifest(reference.version, ACCEPT)
    top = parse_document(body, media_type, str(reference), _DAMAGED)
    image = resolve_manifest(blobs, top, wanted)
    if manifest.digest and top_digest != manifest.digest:
        raise ImageError(f"{reference}: the registry's manifest has digest {top_digest}, but "
                         f"the manifest pins digest: {manifest.digest}",
                         hint="nothing was written; check the registry, or update digest: in "
                              "upstream-manifest.yaml")
    config = image_config(blobs, image, wanted)
    found = manifest_blobs(blobs, image, image.where)
    if prefetcher is not None:
        total = _Total(progress) if progress is not None else None
        if total is not None:
            prefetcher.on_start = total.started
        found = [replace(blob, open=prefetcher.add(
            blob.open, _reporter(progress, layer.digest, layer.size or 0, total, index)))
            for index, (blob, layer) in enumerate(zip(found, image.layers, strict=True))]
    layers = layers_of(found, config, image.where, _DAMAGED, limits)
    info = ImageInfo(reference=label, digest=top_digest, image_id=image.config.digest,
                     created=config.created)
    return OpenedImage(info=info, layers=layers)


class _RegistryBlobs:
    """The repository's blobs as a ``BlobReader``: manifests by digest, configs, layer streams."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.where = f"{client.registry}/{client.repository}"
        self.hint = _DAMAGED

    def describe(self, digest: str) -> str:
        return f"{self.where}@{digest}"

    def document(self, descriptor: Descriptor) -> bytes:
        body, _, _ = self.client.manifest(descriptor.digest, ACCEPT)
        check_size(descriptor, body, self.describe(descriptor.digest), self.hint)
        return body

    def config(self, descriptor: Descriptor) -> bytes:
        body = self.client.blob_bytes(descriptor.digest, "image config")
        check_size(descriptor, body, self.describe(descriptor.digest), self.hint)
        return body

    def opener(self, descriptor: Descriptor, where: str) -> Opener:
        digest, size = descriptor.digest, descriptor.size or 0
        return lambda: self.client.open_blob(digest, size, where)


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
