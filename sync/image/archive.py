"""Image sources that need no daemon, named as skopeo names them: parse ``--from`` and open it.

- ``docker-archive:PATH[:REFERENCE]`` — a ``docker save`` tarball (``docker_archive``).
- ``oci-archive:PATH[:REF]`` — a tar of an OCI image layout (``layout``).
- ``oci:DIR[:REF]`` — an OCI image layout directory, as ``skopeo copy ... oci:DIR:REF`` writes.

Everything read is verified: manifests, indexes and configs against their digests and sizes,
layers (when flattened) against their digests and diff_ids. Archives are read with random
access (``archive_files``); each layer's ``open`` streams just that member from the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sync.errors import ImageError
from sync.image.archive_files import DirFiles, TarFiles
from sync.image.docker_archive import open_docker_archive
from sync.image.layout import open_layout
from sync.image.model import Limits, OpenedImage
from sync.image.oci import Platform

TRANSPORTS = ("docker-archive", "oci-archive", "oci")


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
    wanted = Platform.parse(platform)
    if source.transport == "oci":
        if not source.path.is_dir():
            raise ImageError(f"{source.path}: no such directory",
                             hint="oci:DIR names an OCI image layout directory")
        yield open_layout(DirFiles(source.path), source.reference, wanted, limits)
        return
    with TarFiles.open(source.path) as files:
        if source.transport == "oci-archive":
            yield open_layout(files, source.reference, wanted, limits)
        else:
            yield open_docker_archive(files, source.reference, wanted, limits)
