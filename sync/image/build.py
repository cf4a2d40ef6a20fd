"""Writers for layer tars and image archives, for tests, the benchmark, the sample and the demo.

Describe a layer as a list of entry specs (``File``, ``Dir``, ``Symlink``, ``Hardlink``, ``Fifo``,
``CharDevice``, ``Whiteout``, ``Opaque``, and ``Raw`` for adversarial names), an image as an
``ImageSpec``, then write it as a ``docker save`` archive (``write_docker_archive``), an OCI image
layout directory (``write_oci_layout``) or an OCI archive (``write_oci_archive``).

Output is deterministic for a given environment: fixed mtimes and owners unless an entry says
otherwise, sorted JSON, sorted archive members. Content may be a ``Stream`` that produces its
bytes on demand, so a multi-gigabyte image never has to fit in memory::

    image = ImageSpec(layers=(
        LayerSpec((Dir("opt/amazon"), File("opt/amazon/run.sh", b"#!/bin/sh\\n", mode=0o755))),
        LayerSpec((Whiteout("opt/amazon/run.sh"),), compression="zstd"),
    ))
    write_docker_archive(tmp_path / "image.tar", image)
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import zstandard

_deflate: Any
try:  # isal compresses gzip several times faster than zlib: it matters for benchmark images
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - exercised only where isal is missing
    _deflate = zlib

Compression = Literal["none", "gzip", "gzip-multi", "zstd", "zstd-multi"]
MediaTypes = Literal["oci", "docker"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
REF_NAME = "org.opencontainers.image.ref.name"
DEFAULT_CREATED = "2024-01-01T00:00:00Z"
_CHUNK = 1 << 20
_MULTI_MEMBER = 64 * 1024  # uncompressed bytes per gzip member / zstd frame in "-multi" modes


# -- content and entry specs -------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """``size`` bytes produced by ``chunks()``, called afresh each time the content is written."""

    size: int
    chunks: Callable[[], Iterable[bytes]]

    @classmethod
    def pattern(cls, size: int, seed: bytes = b"simapp") -> Stream:
        """``size`` bytes of deterministic, poorly compressible data; each seed gives other
        bytes. Cheap enough to describe hundreds of thousands of files."""
        offset = int.from_bytes(hashlib.sha256(seed).digest()[:4], "big") % _CHUNK

        def chunks() -> Iterator[bytes]:
            noise = _noise()
            block = noise[offset:] + noise[:offset]  # rotated: other seeds, other bytes
            left = size
            while left > 0:
                yield block[: min(left, len(block))]
                left -= len(block)

        return cls(size, chunks)

    @classmethod
    def zeros(cls, size: int) -> Stream:
        """``size`` zero bytes (highly compressible)."""

        def chunks() -> Iterator[bytes]:
            left = size
            while left > 0:
                yield bytes(min(left, _CHUNK))
                left -= _CHUNK

        return cls(size, chunks)


@functools.lru_cache(maxsize=1)
def _noise() -> bytes:
    """1 MiB of hash output: incompressible, and the same on every run."""
    return b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(_CHUNK // 32))


@dataclass(frozen=True)
class _Meta:
    """Metadata every entry may vary; none of it may change the flattened tree."""

    mtime: int = field(default=0, kw_only=True)
    uid: int = field(default=0, kw_only=True)
    gid: int = field(default=0, kw_only=True)


@dataclass(frozen=True)
class File(_Meta):
    """A regular file."""

    path: str
    content: bytes | Stream = b""
    mode: int = 0o644


@dataclass(frozen=True)
class Dir(_Meta):
    """A directory."""

    path: str
    mode: int = 0o755


@dataclass(frozen=True)
class Symlink(_Meta):
    """A symbolic link to ``target`` (kept verbatim)."""

    path: str
    target: str


@dataclass(frozen=True)
class Hardlink(_Meta):
    """A hardlink to the earlier member ``target`` of the same layer."""

    path: str
    target: str


@dataclass(frozen=True)
class Fifo(_Meta):
    """A named pipe."""

    path: str


@dataclass(frozen=True)
class CharDevice(_Meta):
    """A character device node."""

    path: str
    major: int = 1
    minor: int = 3


@dataclass(frozen=True)
class Whiteout(_Meta):
    """Removes ``path`` (and what is below it) of lower layers: writes ``dir/.wh.name``."""

    path: str


@dataclass(frozen=True)
class Opaque(_Meta):
    """Hides what lower layers have in directory ``path``: writes ``path/.wh..wh..opq``."""

    path: str


@dataclass(frozen=True)
class Raw(_Meta):
    """A member written exactly as given, for adversarial tests.

    ``name`` and ``linkname`` may be bytes (written as they are, e.g. invalid UTF-8);
    ``type`` is a tarfile type flag (``tarfile.REGTYPE``, ``tarfile.SYMTYPE``, ...).
    """

    name: str | bytes
    type: bytes = tarfile.REGTYPE
    content: bytes = b""
    linkname: str | bytes = ""
    mode: int = 0o644


Entry = File | Dir | Symlink | Hardlink | Fifo | CharDevice | Whiteout | Opaque | Raw


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its entries in archive order, and how the blob is compressed."""

    entries: Sequence[Entry]
    compression: Compression = "gzip"


@dataclass(frozen=True)
class ImageSpec:
    """One image: layers bottom first, tags ("name:tag" for Docker; OCI ref names), platform."""

    layers: Sequence[LayerSpec]
    tags: tuple[str, ...] = ("sample:latest",)
    platform: str = "linux/amd64"
    created: str = DEFAULT_CREATED


@dataclass(frozen=True)
class BuiltLayer:
    """A layer blob as written."""

    digest: str  # of the blob (compressed) bytes
    diff_id: str  # of the uncompressed tar
    size: int  # blob bytes
    compression: Compression
    media_type: str


@dataclass(frozen=True)
class BuiltImage:
    """What was written for one image, for tests to compare with what the reader reports."""

    config_digest: str
    manifest_digest: str
    layers: tuple[BuiltLayer, ...]
    tags: tuple[str, ...]
    index_digest: str | None = None  # the image index holding it, when written with index=True


# -- layer tars ----------------------------------------------------------------------------------


def write_layer_tar(entries: Iterable[Entry], out: BinaryIO) -> None:
    """Write ``entries`` as an uncompressed tar stream to ``out`` (PAX format, as Docker)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        for entry in entries:
            info, content = _member(entry)
            tar.addfile(info, content)


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """The uncompressed tar of ``entries`` as bytes (for small tests)."""
    buffer = io.BytesIO()
    write_layer_tar(entries, buffer)
    return buffer.getvalue()


def write_layer(entries: Iterable[Entry], out: BinaryIO,
                compression: Compression = "gzip") -> BuiltLayer:
    """Write a layer blob of ``entries`` to ``out``, compressed as asked; return its digests."""
    blob = _HashingWriter(out)
    compressor = _compressor(compression, blob)
    plain = _HashingWriter(compressor)
    write_layer_tar(entries, plain)  # type: ignore[arg-type]
    compressor.close()
    suffix = {"none": "", "gzip": "+gzip", "gzip-multi": "+gzip"}.get(compression, "+zstd")
    return BuiltLayer(digest=blob.digest(), diff_id=plain.digest(), size=blob.count,
                      compression=compression, media_type=OCI_LAYER + suffix)


def layer_blob(entries: Iterable[Entry], compression: Compression = "gzip") -> tuple[bytes,
                                                                                       BuiltLayer]:
    """A layer blob as bytes with its digests (for small tests)."""
    buffer = io.BytesIO()
    built = write_layer(entries, buffer, compression)
    return buffer.getvalue(), built


def _member(entry: Entry) -> tuple[tarfile.TarInfo, BinaryIO | None]:
    if isinstance(entry, Raw):
        name = entry.name
        info = tarfile.TarInfo(_text(name))
        info.type = entry.type
        info.linkname = _text(entry.linkname)
        info.mode = entry.mode
        content: BinaryIO | None = None
        if entry.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
            info.size = len(entry.content)
            content = io.BytesIO(entry.content)
        return _stamp(info, entry), content
    if isinstance(entry, Whiteout):
        parent, _, name = entry.path.rpartition("/")
        info = tarfile.TarInfo(f"{parent}/.wh.{name}" if parent else f".wh.{name}")
        return _stamp(info, entry), io.BytesIO(b"")
    if isinstance(entry, Opaque):
        info = tarfile.TarInfo(f"{entry.path.rstrip('/')}/.wh..wh..opq")
        return _stamp(info, entry), io.BytesIO(b"")
    info = tarfile.TarInfo(entry.path)
    content = None
    if isinstance(entry, File):
        info.mode = entry.mode
        if isinstance(entry.content, Stream):
            info.size = entry.content.size
            content = io.BufferedReader(_StreamReader(entry.content), _CHUNK)  # type: ignore[assignment]
        else:
            info.size = len(entry.content)
            content = io.BytesIO(entry.content)
    elif isinstance(entry, Dir):
        info.type = tarfile.DIRTYPE
        info.mode = entry.mode
    elif isinstance(entry, Symlink):
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
        info.mode = 0o777
    elif isinstance(entry, Hardlink):
        info.type = tarfile.LNKTYPE
        info.linkname = entry.target
    elif isinstance(entry, Fifo):
        info.type = tarfile.FIFOTYPE
    elif isinstance(entry, CharDevice):
        info.type = tarfile.CHRTYPE
        info.devmajor, info.devminor = entry.major, entry.minor
    return _stamp(info, entry), content


def _stamp(info: tarfile.TarInfo, entry: _Meta) -> tarfile.TarInfo:
    info.mtime = entry.mtime
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    return info


def _text(name: str | bytes) -> str:
    # tarfile writes str names; surrogateescape carries arbitrary bytes through unchanged
    return name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else name


class _StreamReader(io.RawIOBase):
    """A file object over a ``Stream``; checks that it produces exactly ``size`` bytes."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.chunks = iter(stream.chunks())
        self.pending = b""
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            chunk = next(self.chunks, None)
            if chunk is None:
                if self.produced != self.stream.size:
                    raise ValueError(f"stream produced {self.produced} bytes, "
                                     f"not {self.stream.size}")
                return 0
            self.pending = bytes(chunk)
            self.produced += len(chunk)
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


class _Writer(Protocol):
    def write(self, data: bytes) -> Any: ...


class _HashingWriter:
    """Passes bytes on while counting and hashing them (sha256)."""

    def __init__(self, out: _Writer) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.count += len(data)
        self.out.write(data)
        return len(data)

    def digest(self) -> str:
        return f"sha256:{self.hash.hexdigest()}"


class _Compressor:
    """Compresses what is written to it into ``out``; "-multi" modes start a new gzip member
    or zstd frame every 64 KiB of input, as parallel compressors do."""

    def __init__(self, compression: Compression, out: _Writer) -> None:
        self.compression = compression
        self.out = out
        self.multi = compression.endswith("-multi")
        self.since = 0
        self.engine: Any = self._start()

    def _start(self) -> Any:
        if self.compression.startswith("gzip"):
            return _deflate.compressobj(1, zlib.DEFLATED, 31)
        return zstandard.ZstdCompressor(level=3).compressobj()

    def write(self, data: bytes) -> int:
        if self.compression == "none":
            self.out.write(data)
            return len(data)
        view = memoryview(data)
        while view:
            take = len(view) if not self.multi else min(len(view), _MULTI_MEMBER - self.since)
            self.out.write(self.engine.compress(view[:take]))
            view = view[take:]
            self.since += take
            if self.multi and self.since >= _MULTI_MEMBER:
                self.out.write(self.engine.flush())
                self.engine, self.since = self._start(), 0
        return len(data)

    def close(self) -> None:
        if self.compression != "none":
            self.out.write(self.engine.flush())


def _compressor(compression: Compression, out: _Writer) -> _Compressor:
    if compression not in ("none", "gzip", "gzip-multi", "zstd", "zstd-multi"):
        raise ValueError(f"unknown compression {compression!r}")
    return _Compressor(compression, out)


# -- images ----------------------------------------------------------------------------------------


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _platform(platform: str) -> dict[str, str]:
    os_name, architecture, *variant = platform.split("/")
    result = {"os": os_name, "architecture": architecture}
    if variant:
        result["variant"] = variant[0]
    return result


class _Blobs:
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


def _write_image(blobs: _Blobs, image: ImageSpec,
                 media_types: MediaTypes) -> tuple[BuiltImage, dict[str, Any], str]:
    """Write the layers, config and manifest of ``image``; return (built, descriptor, config)."""
    layers = tuple(blobs.add_layer(spec, media_types) for spec in image.layers)
    config = {
        **_platform(image.platform),
        "created": image.created,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": image.created, "created_by": "sync.image.build"}
                    for _ in layers],
    }
    config_digest, config_size = blobs.add_bytes(_json(config))
    docker = media_types == "docker"
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
                   for layer in layers],
    }
    manifest_digest, manifest_size = blobs.add_bytes(_json(manifest))
    descriptor = {"mediaType": manifest["mediaType"], "digest": manifest_digest,
                  "size": manifest_size, "platform": _platform(image.platform)}
    built = BuiltImage(config_digest=config_digest, manifest_digest=manifest_digest,
                       layers=layers, tags=tuple(image.tags))
    return built, descriptor, config_digest


def _as_list(images: ImageSpec | Sequence[ImageSpec]) -> list[ImageSpec]:
    return [images] if isinstance(images, ImageSpec) else list(images)


def write_oci_layout(directory: Path, images: ImageSpec | Sequence[ImageSpec], *,
                     index: bool = False, media_types: MediaTypes = "oci") -> list[BuiltImage]:
    """Write an OCI image layout (as ``skopeo copy ... oci:DIR`` does) into ``directory``.

    Each image's tags become ``org.opencontainers.image.ref.name`` annotations in index.json.
    With ``index=True`` all images go into one image index (a multi-platform image) that
    index.json names with the first image's tags.
    """
    directory.mkdir(parents=True, exist_ok=True)
    blobs = _Blobs(directory)
    specs = _as_list(images)
    built: list[BuiltImage] = []
    descriptors: list[dict[str, Any]] = []
    for spec in specs:
        result, descriptor, _ = _write_image(blobs, spec, media_types)
        built.append(result)
        descriptors.append(descriptor)
    top: list[dict[str, Any]] = []
    if index:
        nested = {"schemaVersion": 2,
                  "mediaType": DOCKER_LIST if media_types == "docker" else OCI_INDEX,
                  "manifests": descriptors}
        digest, size = blobs.add_bytes(_json(nested))
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
    (directory / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    (directory / "index.json").write_bytes(
        _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": top}))
    return built


def write_oci_archive(path: Path, images: ImageSpec | Sequence[ImageSpec], *,
                      index: bool = False, media_types: MediaTypes = "oci") -> list[BuiltImage]:
    """Write an OCI image layout as a tar file (``oci-archive:PATH``)."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".oci-") as staging:
        built = write_oci_layout(Path(staging), images, index=index, media_types=media_types)
        _tar_directory(Path(staging), path)
    return built


def write_docker_archive(path: Path, images: ImageSpec | Sequence[ImageSpec], *,
                         layout: Literal["legacy", "oci"] = "legacy") -> list[BuiltImage]:
    """Write a ``docker save`` archive that ``docker load`` accepts.

    ``layout="legacy"``: ``<id>/layer.tar``, ``<config hex>.json``, manifest.json, repositories
    (Docker before 25). ``layout="oci"``: the Docker 25+ form, an OCI layout (blobs/sha256,
    index.json) plus manifest.json pointing into blobs/.
    """
    specs = _as_list(images)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".docker-") as staging:
        root = Path(staging)
        blobs = _Blobs(root)
        built: list[BuiltImage] = []
        manifest: list[dict[str, Any]] = []
        repositories: dict[str, dict[str, str]] = {}
        top: list[dict[str, Any]] = []
        for spec in specs:
            result, descriptor, config_digest = _write_image(blobs, spec, "oci")
            built.append(result)
            if layout == "legacy":
                layer_paths = []
                for layer in result.layers:
                    folder = root / layer.digest[7:]
                    if not folder.exists():
                        folder.mkdir()
                        shutil.copyfile(blobs.path(layer.digest), folder / "layer.tar")
                        (folder / "VERSION").write_bytes(b"1.0")
                        (folder / "json").write_bytes(_json({"id": layer.digest[7:]}))
                    layer_paths.append(f"{layer.digest[7:]}/layer.tar")
                config_path = f"{config_digest[7:]}.json"
                shutil.copyfile(blobs.path(config_digest), root / config_path)
            else:
                layer_paths = [f"blobs/sha256/{layer.digest[7:]}" for layer in result.layers]
                config_path = f"blobs/sha256/{config_digest[7:]}"
                for tag in spec.tags:
                    name = tag if "/" in tag else f"docker.io/library/{tag}"
                    plain = {key: value for key, value in descriptor.items() if key != "platform"}
                    top.append({**plain, "annotations": {
                        "io.containerd.image.name": name, REF_NAME: tag.rpartition(":")[2]}})
            manifest.append({"Config": config_path, "RepoTags": list(spec.tags),
                             "Layers": layer_paths})
            for tag in spec.tags:
                repository, _, name = tag.rpartition(":")
                repositories.setdefault(repository, {})[name] = (
                    result.layers[-1].digest[7:] if result.layers else "")
        if layout == "legacy":
            shutil.rmtree(root / "blobs")
        else:
            (root / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
            (root / "index.json").write_bytes(
                _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": top}))
        (root / "manifest.json").write_bytes(_json(manifest))
        if repositories:
            (root / "repositories").write_bytes(_json(repositories))
        _tar_directory(root, path)
    return built


def _tar_directory(source: Path, destination: Path) -> None:
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
