"""Image sources that need no daemon, named as skopeo names them.

- ``docker-archive:PATH[:REFERENCE]`` — a ``docker save`` tarball, either the legacy layout
  (``<id>/layer.tar``, ``<config>.json``, manifest.json) or the Docker 25+ one (an OCI layout with
  a manifest.json pointing into blobs/). REFERENCE picks an image by its RepoTags (or ``@N``, the
  N-th image); without it the archive must hold exactly one image.
- ``oci-archive:PATH[:REF]`` — a tar of an OCI image layout.
- ``oci:DIR[:REF]`` — an OCI image layout directory (as ``skopeo copy ... oci:DIR:REF`` writes);
  REF selects the ``org.opencontainers.image.ref.name`` annotation, image indexes are followed
  to the manifest for the requested platform.

Everything read is verified: manifests, indexes and configs against their digests and sizes,
layers (when flattened) against their digests and diff_ids. Archives are read with random
access; each layer's ``open`` streams just that member from the file.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import tarfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from sync.errors import ImageError
from sync.image.model import ImageInfo, Layer, Limits, OpenedImage
from sync.image.streams import GZIP_MAGIC, ZSTD_MAGIC, Bounded, layer_opener

TRANSPORTS = ("docker-archive", "oci-archive", "oci")
REF_NAME = "org.opencontainers.image.ref.name"
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")
_MAX_JSON = 16 * 1024**2  # manifests and configs are kilobytes; refuse to buffer a huge "JSON"
_MAX_LINKS = 16
_INDEX_TYPES = frozenset({
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})
_MANIFEST_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
})
_CONFIG_TYPES = frozenset({
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
})
_LAYER_TYPES = frozenset({
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
})
_HINT = "the archive is truncated, corrupt or not an image archive; save or copy the image again"


@dataclass(frozen=True)
class ArchiveSource:
    """A parsed ``--from`` value for one of the daemonless transports."""

    transport: str  # "docker-archive", "oci-archive" or "oci"
    path: Path
    reference: str | None


def parse_source(spec: str) -> ArchiveSource:
    """Split ``transport:path[:reference]``.

    As in skopeo, the path ends at the first ":" after the transport, unless the whole
    remainder names an existing file (so paths with a colon still work).
    """
    transport, colon, rest = spec.partition(":")
    if not colon or transport not in TRANSPORTS or not rest:
        raise ImageError(
            f"{spec!r} is not an image archive source",
            hint="use docker-archive:PATH[:REFERENCE], oci-archive:PATH[:REF] or oci:DIR[:REF]",
        )
    if Path(rest).exists() or ":" not in rest:
        return ArchiveSource(transport, Path(rest), None)
    path, _, reference = rest.partition(":")
    return ArchiveSource(transport, Path(path), reference or None)


@contextmanager
def open_archive(spec: str, platform: str, limits: Limits | None = None) -> Iterator[OpenedImage]:
    """Open the image that ``spec`` names (see the module docstring) for ``platform``.

    Yields an ``OpenedImage`` whose layers stream from the archive; they may be opened again
    while the context is active. ``limits`` caps each layer's uncompressed size.
    """
    source = parse_source(spec)
    limits = limits or Limits()
    if source.transport == "oci":
        if not source.path.is_dir():
            raise ImageError(f"{source.path}: no such directory",
                             hint="oci:DIR names an OCI image layout directory")
        yield _open_oci(_DirBlobs(source.path), source, platform, limits)
        return
    with _TarBlobs.open(source.path) as blobs:
        if source.transport == "oci-archive":
            yield _open_oci(blobs, source, platform, limits)
        else:
            yield _open_docker(blobs, source, platform, limits)


# -- blob access ---------------------------------------------------------------------------------


class _Blobs(Protocol):
    where: str

    def exists(self, name: str) -> bool: ...

    def read(self, name: str) -> bytes: ...

    def size(self, name: str) -> int: ...

    def opener(self, name: str) -> Callable[[], AbstractContextManager[BinaryIO]]: ...


def _blob_name(digest: Any, where: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ImageError(f"{where}: invalid digest {digest!r}", hint=_HINT)
    algorithm, _, value = digest.partition(":")
    return f"blobs/{algorithm}/{value}"


class _DirBlobs:
    """Members of an OCI layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def _path(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size

    def read(self, name: str) -> bytes:
        path = self._path(name)
        try:
            if path.stat().st_size > _MAX_JSON:
                raise ImageError(f"{self.where}: {name} is too large for a manifest", hint=_HINT)
            return path.read_bytes()
        except FileNotFoundError:
            raise ImageError(f"{self.where}: {name} is missing", hint=_HINT) from None
        except OSError as error:
            raise ImageError(f"{self.where}: cannot read {name}: {error}") from None

    def opener(self, name: str) -> Callable[[], AbstractContextManager[BinaryIO]]:
        path = self._path(name)
        if not path.is_file():
            raise ImageError(f"{self.where}: {name} is missing", hint=_HINT)

        @contextmanager
        def open_blob() -> Iterator[BinaryIO]:
            with path.open("rb", buffering=0) as file:
                yield file

        return open_blob


class _TarBlobs:
    """Members of a tar archive on disk, indexed once, each readable on its own."""

    def __init__(self, path: Path, members: dict[str, tarfile.TarInfo]) -> None:
        self.path = path
        self.where = str(path)
        self.members = members

    @classmethod
    @contextmanager
    def open(cls, path: Path) -> Iterator[_TarBlobs]:
        try:
            with path.open("rb") as file:
                head = file.read(4)
                if head.startswith(GZIP_MAGIC) or head.startswith(ZSTD_MAGIC):
                    raise ImageError(f"{path}: the archive itself is compressed",
                                     hint="decompress it first (gunzip / unzstd), then retry")
                size = file.seek(0, 2)
                file.seek(0)
                members: dict[str, tarfile.TarInfo] = {}
                with tarfile.open(fileobj=file, mode="r:") as tar:
                    for info in tar:
                        name = posixpath.normpath(info.name.removeprefix("./"))
                        if info.isfile() and info.offset_data + info.size > size:
                            raise ImageError(f"{path}: {name} is cut short (truncated archive)",
                                             hint=_HINT)
                        members[name] = info
                    end = tar.offset
                # tarfile takes a missing header for the end: only a zero block really is one
                file.seek(end)
                if file.read(tarfile.BLOCKSIZE) != bytes(tarfile.BLOCKSIZE):
                    raise ImageError(f"{path}: the archive ends early or is corrupt after "
                                     f"byte {end} (truncated?)", hint=_HINT)
        except FileNotFoundError:
            raise ImageError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"{path}: is a directory", hint="use oci:DIR for a layout directory"
                             ) from None
        except tarfile.TarError as error:
            raise ImageError(f"{path}: not a readable tar archive ({error})", hint=_HINT) from None
        yield cls(path, members)

    def _member(self, name: str) -> tarfile.TarInfo:
        info = self.members.get(name)
        for _ in range(_MAX_LINKS):
            if info is None:
                raise ImageError(f"{self.where}: {name} is missing from the archive", hint=_HINT)
            if info.issym():
                target = posixpath.normpath(
                    posixpath.join(posixpath.dirname(info.name.removeprefix("./")),
                                   info.linkname))
                info = self.members.get(target)
            elif info.islnk():
                info = self.members.get(posixpath.normpath(info.linkname.removeprefix("./")))
            elif info.isfile():
                return info
            else:
                raise ImageError(f"{self.where}: {name} is not a file", hint=_HINT)
        raise ImageError(f"{self.where}: {name}: too many links", hint=_HINT)

    def exists(self, name: str) -> bool:
        try:
            self._member(name)
        except ImageError:
            return False
        return True

    def size(self, name: str) -> int:
        return self._member(name).size

    def read(self, name: str) -> bytes:
        info = self._member(name)
        if info.size > _MAX_JSON:
            raise ImageError(f"{self.where}: {name} is too large for a manifest", hint=_HINT)
        with self.opener(name)() as stream:
            return stream.read(info.size)

    def opener(self, name: str) -> Callable[[], AbstractContextManager[BinaryIO]]:
        info = self._member(name)
        where = f"{self.where}: {name}"

        @contextmanager
        def open_member() -> Iterator[BinaryIO]:
            with self.path.open("rb", buffering=0) as file:
                file.seek(info.offset_data)
                yield cast(BinaryIO, Bounded(file, info.size, f"{where}: ends early (truncated)",
                                              _HINT))

        return open_member


# -- JSON documents ------------------------------------------------------------------------------


def _load_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ImageError(f"{where}: malformed JSON ({error})", hint=_HINT) from None


def _read_verified(blobs: _Blobs, descriptor: Any, what: str) -> tuple[bytes, Any]:
    """The blob a descriptor points to, checked against its digest and size, and its JSON."""
    if not isinstance(descriptor, dict):
        raise ImageError(f"{blobs.where}: malformed {what} descriptor", hint=_HINT)
    digest: str = descriptor.get("digest")  # type: ignore[assignment]
    name = _blob_name(digest, f"{blobs.where}: {what}")  # checks that it is a valid digest
    data = blobs.read(name)
    algorithm = digest.partition(":")[0]
    actual = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    if actual != digest:
        raise ImageError(f"{blobs.where}: {name}: the {what} does not match its digest "
                         f"(expected {digest}, got {actual})", hint=_HINT)
    size = descriptor.get("size")
    if isinstance(size, int) and size != len(data):
        raise ImageError(f"{blobs.where}: {name}: the {what} is {len(data)} bytes, "
                         f"its descriptor says {size}", hint=_HINT)
    return data, _load_json(data, f"{blobs.where}: {name}")


def _field(document: Any, key: str, kind: type, where: str) -> Any:
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, kind):
        raise ImageError(f"{where}: missing or malformed {key!r}", hint=_HINT)
    return value


# -- platforms -----------------------------------------------------------------------------------


def _wanted(platform: str) -> tuple[str, str, str | None]:
    os_name, _, rest = platform.partition("/")
    architecture, _, variant = rest.partition("/")
    return os_name, architecture, variant or None


def _matches(candidate: Any, platform: str) -> bool:
    if not isinstance(candidate, dict):
        return False
    os_name, architecture, variant = _wanted(platform)
    if candidate.get("os") != os_name or candidate.get("architecture") != architecture:
        return False
    return variant is None or candidate.get("variant") in (None, variant)


def _describe_platform(candidate: Any) -> str:
    if not isinstance(candidate, dict):
        return "unknown"
    parts = [candidate.get("os"), candidate.get("architecture"), candidate.get("variant")]
    return "/".join(str(part) for part in parts if part)


# -- the image config and its layers ---------------------------------------------------------------


def _layers(config: Any, layer_blobs: list[tuple[str, str | None]], blobs: _Blobs,
            config_where: str, limits: Limits) -> tuple[Layer, ...]:
    """Layers from (member name, blob digest or None) pairs, checked against the config."""
    rootfs = _field(config, "rootfs", dict, config_where)
    diff_ids = _field(rootfs, "diff_ids", list, config_where)
    if len(diff_ids) != len(layer_blobs):
        raise ImageError(f"{config_where}: the config lists {len(diff_ids)} layers, "
                         f"the manifest {len(layer_blobs)}", hint=_HINT)
    layers = []
    count = len(layer_blobs)
    for index, ((name, digest), diff_id) in enumerate(zip(layer_blobs, diff_ids, strict=True)):
        if not isinstance(diff_id, str) or not _DIGEST.match(diff_id):
            raise ImageError(f"{config_where}: invalid diff_id {diff_id!r}", hint=_HINT)
        identity = digest or diff_id
        description = f"layer {index + 1}/{count} {identity[:19]}"
        opener = layer_opener(blobs.opener(name), description=f"{description} ({blobs.where})",
                              digest=digest, diff_id=diff_id, limits=limits)
        # the diff_id (checked against the stream) keys the per-layer cache when the archive
        # does not name the blob by its digest, as legacy `docker save` layouts do not
        layers.append(Layer(description=description, open=opener, size=blobs.size(name),
                            digest=digest or diff_id))
    return tuple(layers)


def _check_platform(config: Any, platform: str, where: str) -> None:
    if not _matches(config, platform):
        raise ImageError(
            f"{where}: the image is for {_describe_platform(config)}, not {platform}",
            hint="set platform: in upstream-manifest.yaml to the image's platform, "
                 "or save the image for the right platform",
        )


# -- docker save archives --------------------------------------------------------------------------


def _open_docker(blobs: _TarBlobs, source: ArchiveSource, platform: str,
                 limits: Limits) -> OpenedImage:
    where = f"{blobs.where}: manifest.json"
    if not blobs.exists("manifest.json"):
        hint = ("this looks like an OCI layout: use oci-archive:" if blobs.exists("index.json")
                else "create it with `docker save IMAGE -o FILE`")
        raise ImageError(f"{blobs.where}: no manifest.json, not a docker save archive", hint=hint)
    entries = _load_json(blobs.read("manifest.json"), where)
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict)
                                                                for e in entries):
        raise ImageError(f"{where}: expected a list of images", hint=_HINT)
    entry, tag = _choose_docker_image(entries, source.reference, where)
    config_name = _safe_member(_field(entry, "Config", str, where), where)
    config_bytes = blobs.read(config_name)
    image_id = f"sha256:{hashlib.sha256(config_bytes).hexdigest()}"
    named = _named_digest(config_name)
    if named is not None and named != image_id:
        raise ImageError(f"{blobs.where}: {config_name} does not match its name "
                         f"(its digest is {image_id})", hint=_HINT)
    config_where = f"{blobs.where}: {config_name}"
    config = _load_json(config_bytes, config_where)
    _check_platform(config, platform, config_where)
    layer_blobs = []
    for name in _field(entry, "Layers", list, where):
        if not isinstance(name, str):
            raise ImageError(f"{where}: malformed layer entry {name!r}", hint=_HINT)
        member = _safe_member(name, where)
        layer_blobs.append((member, _named_digest(member)))
    layers = _layers(config, layer_blobs, blobs, config_where, limits)
    info = ImageInfo(
        reference=tag or str(source.path),
        digest=_docker_manifest_digest(blobs, image_id, platform),
        image_id=image_id,
        created=config.get("created") if isinstance(config.get("created"), str) else None,
    )
    return OpenedImage(info=info, layers=layers)


def _choose_docker_image(entries: list[dict[str, Any]], reference: str | None,
                         where: str) -> tuple[dict[str, Any], str | None]:
    def tags(entry: dict[str, Any]) -> list[str]:
        value = entry.get("RepoTags") or []
        return [tag for tag in value if isinstance(tag, str)] if isinstance(value, list) else []

    if reference is None:
        if len(entries) == 1:
            found = tags(entries[0])
            return entries[0], found[0] if found else None
        choices = ", ".join(",".join(tags(e)) or f"@{i}" for i, e in enumerate(entries))
        raise ImageError(f"{where}: the archive holds {len(entries)} images ({choices})",
                         hint="pick one: docker-archive:PATH:REPO:TAG or docker-archive:PATH:@N")
    if re.fullmatch(r"@\d+", reference):
        number = int(reference[1:])
        if number >= len(entries):
            raise ImageError(f"{where}: no image {reference} (the archive holds {len(entries)})")
        found = tags(entries[number])
        return entries[number], found[0] if found else None
    wanted = _normalize_tag(reference)
    for entry in entries:
        for tag in tags(entry):
            if _normalize_tag(tag) == wanted:
                return entry, tag
    choices = ", ".join(tag for entry in entries for tag in tags(entry)) or "no tags"
    raise ImageError(f"{where}: no image tagged {reference!r} (the archive has: {choices})",
                     hint="use one of the listed tags, or @N for the N-th image")


def _normalize_tag(tag: str) -> str:
    """docker.io/library/x:latest, x:latest and x all name the same image."""
    name, _, version = tag.rpartition(":") if ":" in tag.rpartition("/")[2] else (tag, "", "")
    version = version or "latest"
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return f"{name}:{version}"


def _safe_member(name: str, where: str) -> str:
    normalized = posixpath.normpath(name.removeprefix("./")) if name else ""
    if not normalized or normalized.startswith(("/", "../")) or normalized == "..":
        raise ImageError(f"{where}: unsafe or empty member name {name!r}", hint=_HINT)
    return normalized


def _named_digest(name: str) -> str | None:
    """The digest a member's name claims: blobs/sha256/<hex> or <hex>.json (legacy config)."""
    match = re.fullmatch(r"blobs/(sha256|sha384|sha512)/([0-9a-f]+)", name)
    if match:
        return f"{match.group(1)}:{match.group(2)}"
    match = re.fullmatch(r"([0-9a-f]{64})\.json", name)
    return f"sha256:{match.group(1)}" if match else None


def _docker_manifest_digest(blobs: _TarBlobs, image_id: str, platform: str) -> str | None:
    """Docker 25+ archives carry the manifest too (index.json): its digest, if it is ours."""
    if not blobs.exists("index.json"):
        return None
    index = _load_json(blobs.read("index.json"), f"{blobs.where}: index.json")
    for descriptor in index.get("manifests", []) if isinstance(index, dict) else []:
        try:
            manifest, _ = _resolve(blobs, descriptor, platform, 0)
        except ImageError:
            continue  # e.g. other platforms' blobs that docker save did not include
        config = manifest.get("config")
        if isinstance(config, dict) and config.get("digest") == image_id:
            digest = descriptor.get("digest")
            return digest if isinstance(digest, str) else None
    return None


# -- OCI layouts -----------------------------------------------------------------------------------


def _open_oci(blobs: _Blobs, source: ArchiveSource, platform: str,
              limits: Limits) -> OpenedImage:
    if not blobs.exists("oci-layout"):
        raise ImageError(f"{blobs.where}: no oci-layout file, not an OCI image layout",
                         hint="create one with `skopeo copy docker://IMAGE oci:DIR:TAG`")
    where = f"{blobs.where}: index.json"
    index = _load_json(blobs.read("index.json"), where)
    descriptors = _field(index, "manifests", list, where)
    top = _choose_top(descriptors, source.reference, platform, blobs, where)
    manifest, manifest_where = _resolve(blobs, top, platform, 0)
    config_descriptor = _field(manifest, "config", dict, manifest_where)
    if config_descriptor.get("mediaType") not in _CONFIG_TYPES:
        raise ImageError(f"{manifest_where}: not a container image "
                         f"(config media type {config_descriptor.get('mediaType')!r})")
    _, config = _read_verified(blobs, config_descriptor, "config")
    config_where = f"{blobs.where}: {_blob_name(config_descriptor['digest'], where)}"
    _check_platform(config, platform, config_where)
    layer_blobs = []
    for descriptor in _field(manifest, "layers", list, manifest_where):
        if not isinstance(descriptor, dict) or descriptor.get("mediaType") not in _LAYER_TYPES:
            kind = descriptor.get("mediaType") if isinstance(descriptor, dict) else descriptor
            raise ImageError(f"{manifest_where}: unsupported layer media type {kind!r}",
                             hint="only tar, tar+gzip and tar+zstd layers can be read")
        digest = descriptor.get("digest")
        layer_blobs.append((_blob_name(digest, manifest_where), digest))
    layers = _layers(config, layer_blobs, blobs, config_where, limits)
    annotations = top.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
    info = ImageInfo(
        reference=annotations.get("io.containerd.image.name") or annotations.get(REF_NAME)
        or str(source.path),
        digest=top["digest"],
        image_id=config_descriptor["digest"],
        created=config.get("created") if isinstance(config.get("created"), str) else None,
    )
    return OpenedImage(info=info, layers=layers)


def _choose_top(descriptors: list[Any], reference: str | None, platform: str, blobs: _Blobs,
                where: str) -> dict[str, Any]:
    """The index.json entry for ``reference`` (a ref name), or the only one."""
    def ref(descriptor: Any) -> str | None:
        annotations = descriptor.get("annotations") if isinstance(descriptor, dict) else None
        value = annotations.get(REF_NAME) if isinstance(annotations, dict) else None
        return value if isinstance(value, str) else None

    candidates = [d for d in descriptors if isinstance(d, dict)]
    if reference is not None:
        candidates = [d for d in candidates if ref(d) == reference]
        if not candidates:
            names = sorted({name for name in map(ref, descriptors) if name})
            raise ImageError(f"{where}: no image named {reference!r} "
                             f"(the layout has: {', '.join(names) or 'no names'})",
                             hint="use one of the listed names after the last ':'")
    if not candidates:
        raise ImageError(f"{where}: the layout holds no image", hint=_HINT)
    if len(candidates) == 1:
        return candidates[0]
    names = sorted({name for name in map(ref, candidates) if name})
    if len(names) > 1:
        raise ImageError(f"{where}: the layout holds several images ({', '.join(names)})",
                         hint="pick one: oci:DIR:NAME or oci-archive:PATH:NAME")
    return _choose_platform(candidates, platform, blobs, where)


def _choose_platform(descriptors: list[Any], platform: str, blobs: _Blobs,
                     where: str) -> dict[str, Any]:
    found = []
    for descriptor in descriptors:
        if not isinstance(descriptor, dict):
            continue
        described = descriptor.get("platform")
        if described is None and descriptor.get("mediaType") in _MANIFEST_TYPES:
            manifest_data = _read_verified(blobs, descriptor, "manifest")[1]
            config_descriptor = _field(manifest_data, "config", dict, where)
            described = _read_verified(blobs, config_descriptor, "config")[1]
        if _matches(described, platform):
            found.append(descriptor)
    if len(found) != 1:
        available = ", ".join(_describe_platform(d.get("platform")) for d in descriptors
                              if isinstance(d, dict))
        problem = "no" if not found else "more than one"
        raise ImageError(f"{where}: {problem} manifest for {platform} (available: {available})",
                         hint="set platform: in upstream-manifest.yaml to one of these")
    return found[0]


def _resolve(blobs: _Blobs, descriptor: Any, platform: str, depth: int) -> tuple[Any, str]:
    """Follow image indexes from ``descriptor`` down to the image manifest for ``platform``."""
    if depth > 4:
        raise ImageError(f"{blobs.where}: image indexes nested too deeply", hint=_HINT)
    media_type = descriptor.get("mediaType") if isinstance(descriptor, dict) else None
    _, document = _read_verified(blobs, descriptor, "manifest")
    where = f"{blobs.where}: {_blob_name(descriptor['digest'], blobs.where)}"
    # an index.json entry may omit the media type; the document's own field then decides
    media_type = media_type or (document.get("mediaType") if isinstance(document, dict) else None)
    if media_type in _INDEX_TYPES:
        manifests = _field(document, "manifests", list, where)
        chosen = _choose_platform(manifests, platform, blobs, where)
        return _resolve(blobs, chosen, platform, depth + 1)
    if media_type not in _MANIFEST_TYPES:
        raise ImageError(f"{where}: unsupported manifest media type {media_type!r}",
                         hint="expected an OCI or Docker v2 schema 2 image manifest or index")
    return document, where
