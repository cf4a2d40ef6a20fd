"""OCI and Docker image documents: media types, digests, platforms, and parsing them safely.

Every source reads indexes, manifests and configs with these functions and so follows the same
rules: Docker v2 schema 2 and OCI media types (schema 1 is refused), documents of at most
``MAX_DOCUMENT`` bytes, descriptors with valid digests and sizes, a config's ``diff_ids`` one per
layer.

Platforms match as containerd's platform matcher does (``platforms.NewMatcher``): both sides are
normalized, then os, architecture and variant must be equal. Normalizing lowercases, maps the
other spellings of an architecture to Go's (``x86_64`` is ``amd64``, ``aarch64`` is ``arm64``,
``armhf`` is ``arm/v7``), drops the variant an architecture has by default (``arm64/v8``,
``amd64/v1``) and gives ``arm`` its default ``v7``. So ``linux/arm64`` matches an image for
``linux/arm64/v8``, but ``linux/arm/v7`` does not match ``linux/arm/v6``. Of several matching
entries of an index the first is taken, as containerd and docker do.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.errors import ImageError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset({
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
})
ACCEPT = (*sorted(MANIFEST_TYPES), *sorted(INDEX_TYPES))  # what a registry is asked for
_LAYER_TYPE = re.compile(
    r"^application/vnd\.(oci\.image\.layer(\.nondistributable)?\.v1\.tar(\+gzip|\+zstd)?"
    r"|docker\.image\.rootfs(\.foreign)?\.diff\.tar(\.gzip|\.zstd)?)$")
ALGORITHMS = ("sha256", "sha384", "sha512")
DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")
MAX_DOCUMENT = 16 * 1024**2  # manifests and configs are kilobytes; refuse to buffer a huge "JSON"
MAX_DEPTH = 4  # image indexes nested in image indexes
REF_NAME = "org.opencontainers.image.ref.name"
PLATFORM_HINT = "set platform: in upstream-manifest.yaml to one of these"


def is_layer_type(media_type: object) -> bool:
    """Whether ``media_type`` is a layer this tool reads: tar, tar+gzip or tar+zstd."""
    return isinstance(media_type, str) and _LAYER_TYPE.match(media_type) is not None


def check_digest(value: object, where: str, hint: str, what: str = "digest") -> str:
    """``value`` if it is a digest ("sha256:<64 hex>", sha384, sha512), else an error."""
    if not isinstance(value, str) or not DIGEST.match(value):
        raise ImageError(f"{where}: invalid {what} {value!r}", hint=hint)
    return value


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """The digest of ``data`` with ``algorithm`` (sha256, sha384 or sha512)."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


# -- platforms -------------------------------------------------------------------------------------


def _normalize_arch(architecture: str, variant: str) -> tuple[str, str]:
    """Go's name for an architecture and its variant, without a default variant (containerd)."""
    architecture, variant = architecture.lower(), variant.lower()
    if architecture == "i386":
        return "386", ""
    if architecture in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if architecture in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            return "arm64", ""
        return "arm64", "v9" if variant in ("9", "9.0", "v9.0") else variant
    if architecture == "armhf":
        return "arm", "v7"
    if architecture == "armel":
        return "arm", "v6"
    if architecture == "arm":
        if variant in ("", "7"):
            return "arm", "v7"
        return "arm", f"v{variant}" if variant in ("5", "6", "8") else variant
    return architecture, variant


@dataclass(frozen=True)
class Platform:
    """An os, architecture and (maybe) variant, as written in a manifest or an index."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``os/architecture[/variant]``, as ``platform:`` in upstream-manifest.yaml."""
        os_name, _, rest = text.partition("/")
        architecture, _, variant = rest.partition("/")
        return cls(os_name, architecture, variant)

    @classmethod
    def of(cls, document: object) -> Platform | None:
        """The platform a descriptor's ``platform`` or an image config names; None if none."""
        if not isinstance(document, dict):
            return None
        os_name, architecture = document.get("os"), document.get("architecture")
        variant = document.get("variant") or ""
        if not isinstance(os_name, str) or not isinstance(architecture, str) \
                or not isinstance(variant, str):
            return None
        return cls(os_name, architecture, variant)

    def normalized(self) -> Platform:
        """The same platform in containerd's normal form (see the module docstring)."""
        os_name = self.os.lower()
        architecture, variant = _normalize_arch(self.architecture, self.variant)
        return Platform("darwin" if os_name == "macos" else os_name, architecture, variant)

    def matches(self, other: Platform | None) -> bool:
        """Whether an image for ``other`` is an image for this platform."""
        return other is not None and self.normalized() == other.normalized()

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)


def describe_platform(platform: Platform | None) -> str:
    """``os/arch[/variant]``, or "unknown"."""
    return str(platform) if platform is not None else "unknown"


# -- documents -------------------------------------------------------------------------------------


def load_json(data: bytes, where: str, hint: str) -> Any:
    """The JSON in ``data``; malformed or over ``MAX_DOCUMENT`` bytes is an ``ImageError``."""
    if len(data) > MAX_DOCUMENT:
        raise ImageError(f"{where}: more than {MAX_DOCUMENT} bytes, too large for a manifest or "
                         "config", hint=hint)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ImageError(f"{where}: malformed JSON ({error})", hint=hint) from None
    except RecursionError:
        raise ImageError(f"{where}: malformed JSON (nested too deeply)", hint=hint) from None


def get_field(document: Any, key: str, kind: type, where: str, hint: str) -> Any:
    """``document[key]`` if it is a ``kind``; anything else is an ``ImageError``."""
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, kind):
        raise ImageError(f"{where}: missing or malformed {key!r}", hint=hint)
    return value


@dataclass(frozen=True)
class Descriptor:
    """A pointer to a blob: its media type, digest and size, and for index entries more."""

    media_type: str | None
    digest: str
    size: int | None
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def ref_name(self) -> str | None:
        """The ``org.opencontainers.image.ref.name`` annotation (a tag in an OCI layout)."""
        return self.annotations.get(REF_NAME)


def parse_descriptor(value: Any, where: str, hint: str) -> Descriptor:
    """A descriptor object; its digest must be valid and its size, if given, a count."""
    if not isinstance(value, dict):
        raise ImageError(f"{where}: malformed descriptor {value!r}", hint=hint)
    media_type = value.get("mediaType")
    size = value.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ImageError(f"{where}: invalid size {size!r}", hint=hint)
    annotations = value.get("annotations")
    return Descriptor(
        media_type=media_type if isinstance(media_type, str) else None,
        digest=check_digest(value.get("digest"), where, hint),
        size=size,
        platform=Platform.of(value.get("platform")),
        annotations={key: text for key, text in annotations.items()
                     if isinstance(key, str) and isinstance(text, str)}
        if isinstance(annotations, dict) else {},
    )


def check_size(descriptor: Descriptor, data: bytes, where: str, hint: str) -> None:
    """A blob read whole must be as long as its descriptor says."""
    if descriptor.size is not None and descriptor.size != len(data):
        raise ImageError(f"{where}: {descriptor.digest} is {len(data)} bytes, its descriptor "
                         f"says {descriptor.size}", hint=hint)


@dataclass(frozen=True)
class Document:
    """A manifest or an image index: its JSON object, its media type, and where it is from."""

    content: dict[str, Any]
    media_type: str | None
    where: str

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def parse_document(body: bytes, media_type: str | None, where: str, hint: str) -> Document:
    """A manifest or index; its media type is the one given, else the document's own field.

    OCI allows the field to be left out: then ``manifests`` makes an index, ``layers`` a
    manifest. A Docker v2 schema 1 manifest is refused.
    """
    content = load_json(body, where, hint)
    if not isinstance(content, dict):
        raise ImageError(f"{where}: the manifest is not a JSON object", hint=hint)
    if content.get("schemaVersion") == 1:
        raise ImageError(f"{where}: a Docker v2 schema 1 manifest, which is not supported",
                         hint="push the image again with a current docker or buildkit")
    if media_type not in INDEX_TYPES | MANIFEST_TYPES:
        own = content.get("mediaType")
        if isinstance(own, str):
            media_type = own
        elif "manifests" in content:
            media_type = OCI_INDEX
        elif "layers" in content:
            media_type = OCI_MANIFEST
    return Document(content, media_type, where)


def index_entries(document: Document, hint: str) -> list[Descriptor]:
    """The descriptors an image index lists (entries that are not objects are skipped)."""
    manifests = get_field(document.content, "manifests", list, document.where, hint)
    return [parse_descriptor(entry, document.where, hint) for entry in manifests
            if isinstance(entry, dict)]


@dataclass(frozen=True)
class ImageManifest:
    """An image manifest: its config's descriptor and its layers', bottom first."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    where: str


def parse_manifest(document: Document, hint: str) -> ImageManifest:
    """The image manifest in ``document``: a container image with readable layers."""
    where = document.where
    if document.media_type not in MANIFEST_TYPES:
        raise ImageError(f"{where}: unsupported manifest media type {document.media_type!r}",
                         hint="expected a Docker v2 schema 2 or OCI image manifest or index")
    config = parse_descriptor(get_field(document.content, "config", dict, where, hint), where,
                              hint)
    if config.media_type not in CONFIG_TYPES:
        raise ImageError(f"{where}: not a container image (config media type "
                         f"{config.media_type!r})", hint=hint)
    layers = []
    for entry in get_field(document.content, "layers", list, where, hint):
        kind = entry.get("mediaType") if isinstance(entry, dict) else entry
        if not is_layer_type(kind):
            raise ImageError(f"{where}: unsupported layer media type {kind!r}",
                             hint="only tar, tar+gzip and tar+zstd layers can be read")
        layer = parse_descriptor(entry, where, hint)
        if layer.size is None:
            raise ImageError(f"{where}: layer {layer.digest} has no valid size", hint=hint)
        layers.append(layer)
    return ImageManifest(config, tuple(layers), where)


@dataclass(frozen=True)
class ImageConfig:
    """What the flattener needs from an image config: its platform, diff_ids and date."""

    platform: Platform | None
    diff_ids: tuple[str, ...]
    created: str | None


def parse_config(data: bytes, where: str, hint: str) -> ImageConfig:
    """An image config: ``rootfs.diff_ids`` must be a list of digests."""
    document = load_json(data, where, hint)
    rootfs = get_field(document, "rootfs", dict, where, hint)
    diff_ids = tuple(check_digest(value, where, hint, "diff_id")
                     for value in get_field(rootfs, "diff_ids", list, where, hint))
    created = document.get("created")
    return ImageConfig(Platform.of(document), diff_ids,
                       created if isinstance(created, str) else None)


def check_platform(config: ImageConfig, wanted: Platform, where: str) -> None:
    """The config must be for the wanted platform (see the module docstring for the rule)."""
    if not wanted.matches(config.platform):
        raise ImageError(f"{where}: the image is for {describe_platform(config.platform)}, "
                         f"not {wanted}",
                         hint="set platform: in upstream-manifest.yaml to the image's platform, "
                              f"or use an image built for {wanted}")


def choose_platform(entries: Sequence[Descriptor], wanted: Platform, where: str,
                    platform_of: Callable[[Descriptor], Platform | None]) -> Descriptor:
    """The first entry of an index for ``wanted``.

    An entry without a ``platform`` (OCI allows it) is an image manifest whose config says:
    ``platform_of`` reads it.
    """
    for entry in entries:
        platform = entry.platform
        if platform is None and entry.media_type in MANIFEST_TYPES:
            platform = platform_of(entry)
        if wanted.matches(platform):
            return entry
    available = ", ".join(sorted({describe_platform(entry.platform) for entry in entries}))
    raise ImageError(f"{where}: no manifest for platform {wanted} (available: "
                     f"{available or 'none'})", hint=PLATFORM_HINT)
