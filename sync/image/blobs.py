"""How the image package reads and writes blobs: one reader interface for every source, one writer.

A ``BlobReader`` is one source's content-addressed blobs: a registry repository or an OCI image
layout (a directory, or a tar on disk). Documents (manifests, indexes, configs) are read whole,
capped and checked against their descriptors before anything parses them; layer blobs are opened
as raw streams, which ``streams.LayerStream`` decompresses and verifies as they are read.

A ``BlobStore`` is where file content goes: the caller provides it (the git adapter writes git
blobs), so the image package knows nothing of git.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from sync.image.oci import Descriptor

# Opens a stream afresh on each call: a blob, a layer, a member of an archive.
Opener = Callable[[], AbstractContextManager[BinaryIO]]


class BlobReader(Protocol):
    """The blobs of one image source, by descriptor."""

    where: str  # names the source in messages: a path, "registry/repository"
    hint: str  # what to do when its content turns out damaged

    def describe(self, digest: str) -> str:
        """Where the blob ``digest`` is, for messages."""
        ...

    def document(self, descriptor: Descriptor) -> bytes:
        """A manifest or index, whole, checked against the descriptor's digest and size."""
        ...

    def config(self, descriptor: Descriptor) -> bytes:
        """An image config, whole, checked against the descriptor's digest and size."""
        ...

    def opener(self, descriptor: Descriptor, where: str) -> Opener:
        """Opens the blob's raw bytes; not verified here (the layer stream does it).

        ``where`` names the blob in messages about the stream.
        """
        ...


class BlobStore(Protocol):
    """Where file content goes. ``write`` reads exactly ``size`` bytes from ``stream``."""

    def write(self, stream: BinaryIO, size: int) -> str:
        """Store the content and return its blob id (hex)."""
        ...
