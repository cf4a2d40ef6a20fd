"""What every image source hands to the flattener, and what the flattener hands back.

The image package knows nothing of git: content goes through a ``blobs.BlobStore`` that the
caller provides (the git adapter implements it), and the result is a ``sync.filetree.Tree`` of
modes and blob ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sync.errors import ImageError
from sync.image.blobs import Opener
from sync.untrusted import control_character


class Checkpoints(Protocol):
    """Where the flattener keeps its state after a prefix of layers, keyed by their digests.

    ``save`` gets the blob ids the state refers to, so that the store can keep them alive.
    A state is only saved once its layer was read to the end and verified. ``load`` raises
    ``CacheError`` for a saved state it cannot vouch for (damaged, unreadable).
    """

    def load(self, key: str) -> bytes | None:
        """The state saved under ``key``, or None."""
        ...

    def save(self, key: str, state: bytes, oids: list[str]) -> None:
        """Remember ``state`` under ``key``."""
        ...

    def verify(self, key: str, blobs: dict[str, int]) -> None:
        """Raise ``CacheError`` unless every blob the state under ``key`` names (id -> size) is
        in the store, whole, and kept alive with it."""
        ...


@dataclass(frozen=True)
class ImageInfo:
    """Identity of the image that was read, recorded in the upstream commit."""

    reference: str  # what was asked for, e.g. "repo:tag" or "repo@sha256:..."
    digest: str | None  # the registry (repo) digest of the manifest, when known
    image_id: str  # the config digest: identifies the root filesystem content
    created: str | None  # the config's "created" timestamp, RFC 3339

    def __post_init__(self) -> None:
        """Refuse text that could forge a commit-message line or a rendered instruction.

        These are the only image-config and registry strings that are recorded (as commit
        trailers) and rendered (as Dockerfile labels); the config's other strings (labels,
        author, env, history) are never read.
        """
        for key in ("reference", "digest", "image_id", "created"):
            value = getattr(self, key)
            if value is None:
                continue
            if not isinstance(value, str) or len(value) > 512:
                what = "is not a string of at most 512 characters"
            elif (char := control_character(value)) is not None:
                what = f"contains the control character {char!r}"
            else:
                continue
            raise ImageError(f"image {self.reference!r:.200}: {key} {value!r:.200} {what}",
                             hint="nothing was written; the image's config or registry answer "
                                  "is malformed (it could forge commit trailers)")


@dataclass(frozen=True)
class Layer:
    """One tar stream to flatten, bottom first.

    ``open`` returns a context manager giving the *uncompressed* tar stream. Closing it after the
    whole stream was read verifies the layer's digests and raises ``ImageError`` on a mismatch;
    the flattener therefore reads every layer to its end before closing it.

    ``rename`` maps a member name of this tar to an image path ("opt/amazon/x", no leading
    slash) or ``None`` to ignore the member. Registry/archive layers use the identity; an engine
    ``get_archive`` stream of "/opt/amazon" names its members "amazon/...", so it renames them.
    """

    description: str  # for progress and errors: "layer 3/12 sha256:ab12..", "docker cp /opt/amazon"
    open: Opener
    size: int | None = None  # compressed size in bytes, for progress; None when unknown
    rename: Callable[[str], str | None] | None = None
    whiteouts: bool = True  # False for engine archives, where ".wh." names are plain files
    digest: str | None = None  # the blob digest, when the layer is a content-addressed blob:
    # what the per-layer checkpoints are keyed by (None: never cached)


@dataclass
class ReadReport:
    """What reading the filesystem found, for the summary and --json."""

    files: int = 0  # regular files and symlinks kept
    bytes: int = 0  # content bytes kept
    excluded: int = 0  # entries dropped by an exclude pattern
    skipped: dict[str, int] = field(default_factory=dict)  # kind ("fifo", "chardev", ...) -> count
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    """Caps on untrusted input, against decompression bombs. Sizes are uncompressed bytes,
    sparse holes included.

    A layer may expand at most ``max_layer_ratio`` times the compressed bytes read so far, once
    it has expanded past ``ratio_grace`` bytes (before that, small layers of tar headers alone
    may look very compressible). Real layers stay below 10:1; a layer mostly of zeros reaches
    200-1000:1 with gzip and 30000:1 with zstd.
    """

    max_file_size: int = 4 * 1024**3
    max_layer_size: int = 64 * 1024**3
    max_layer_ratio: int = 100
    ratio_grace: int = 256 * 1024**2


class ReadProgress(Protocol):
    """Receives progress while layers are read (bytes are compressed bytes of the layer)."""

    def start_layer(self, description: str, total: int | None) -> None: ...

    def advance(self, nbytes: int, files: int) -> None: ...

    def finish_layer(self) -> None: ...


@dataclass(frozen=True)
class OpenedImage:
    """An image ready to be flattened: its identity and its layers, bottom first."""

    info: ImageInfo
    layers: tuple[Layer, ...]
