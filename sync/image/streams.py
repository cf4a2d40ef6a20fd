"""Stream wrappers for untrusted blobs: decompressing, digest-verifying, counting, size-capping.

Every byte an image source reads goes through one of these. ``LayerStream`` opens a layer blob:
it detects the compression, decompresses as a stream and verifies the digests; ``Bounded``
hands out exactly the bytes of one member of an archive; ``read_capped`` reads a small document
whole, refusing one that is too large.

A layer is never held in memory: bytes flow from the blob through a hashing counter into the
decompressor and out to the tar reader in chunks. When the stream is closed (without an error on
its way) the rest of it is read, and the compressed bytes are checked against the descriptor
digest and the uncompressed bytes against the config's diff_id (each when known): a reader that
stops early (a hardlink's target found) still gets nothing unverified. A layer without digests
(the engine's archive stream) is pinned instead: its first complete read records the sha256 of
its bytes, and every later read must give the same (``Pin``). The uncompressed size is capped by
``Limits.max_layer_size`` as it grows, so a decompression bomb stops early (the tar reader also
caps how far it expands, ``Limits.max_layer_ratio``). A zstd frame may not ask for a window
over ``MAX_ZSTD_WINDOW`` (zstd's own default); its declared content size allocates nothing.

Compression is recognized by its magic bytes, not by media type: gzip (``1f 8b``, also
multi-member), zstd (``28 b5 2f fd``, also several frames), anything else is read as a plain tar.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import zstandard

from sync.errors import ImageError, UnsafeArchiveError
from sync.image.blobs import Opener
from sync.image.model import Limits
from sync.image.oci import ALGORITHMS

try:  # isal decompresses gzip about 2.5x faster than zlib; optional
    from isal import igzip as _gzip
    from isal import igzip_threaded as _gzip_threaded
    from isal.isal_zlib import error as _isal_error

    _DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (
        OSError, EOFError, zlib.error, zstandard.ZstdError, cast(type, _isal_error),
    )
except ImportError:  # pragma: no cover - exercised only where isal is missing
    import gzip as _gzip  # type: ignore[no-redef]

    _gzip_threaded = None  # type: ignore[assignment]

    _DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, zstandard.ZstdError)

if TYPE_CHECKING:
    from hashlib import _Hash

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_ZSTD_WINDOW = 1 << 27  # 128 MiB: zstd --long (27) still fits, --long=31 frames do not
_VERIFY_HINT = "the archive is corrupt or was altered; fetch or save the image again"


def detect_compression(head: bytes) -> str:
    """"gzip", "zstd" or "none", from the first bytes of a blob."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


class _Check:
    """One expected digest ("sha256:<hex>") and the hasher that will confirm it.

    ``pin`` (and no ``expected``): measure the sha256 and record it there, on the first read.
    """

    def __init__(self, what: str, expected: str | None, description: str,
                 pin: Pin | None = None) -> None:
        algorithm, _, value = (expected or "sha256:-").partition(":")
        if algorithm not in ALGORITHMS or not value:
            raise ImageError(f"{description}: unsupported {what} {expected!r}",
                             hint="only sha256, sha384 and sha512 digests are supported")
        self.what = what
        self.expected = expected
        self.algorithm = algorithm
        self.pin = pin


class Pin:
    """What a layer without digests held when it was first read whole: its sha256.

    Such a layer (the engine's archive stream) has nothing to be checked against, but a second
    read of it (a hardlink's target, a symlinked source) must give exactly the bytes of the first.
    """

    def __init__(self) -> None:
        self.digest: str | None = None


class _Hashers:
    """Hashers for a set of checks, one per algorithm, so the same bytes are hashed once."""

    def __init__(self, checks: list[_Check]) -> None:
        self.checks = checks
        self.hashers: dict[str, _Hash] = {}
        for check in checks:
            self.hashers.setdefault(check.algorithm, hashlib.new(check.algorithm))

    def update(self, data: bytes) -> None:
        for hasher in self.hashers.values():
            hasher.update(data)

    def verify(self, description: str) -> None:
        for check in self.checks:
            actual = f"{check.algorithm}:{self.hashers[check.algorithm].hexdigest()}"
            if check.expected is None:
                assert check.pin is not None
                check.pin.digest = actual
            elif check.pin is not None and actual != check.expected:
                raise ImageError(
                    f"{description}: the layer changed between two reads: the first gave "
                    f"{check.expected}, this one {actual}",
                    hint="the source serves different bytes each time it is read; nothing was "
                         "written",
                )
            elif actual != check.expected:
                raise ImageError(
                    f"{description}: {check.what} mismatch: expected {check.expected}, "
                    f"the content has {actual}",
                    hint=_VERIFY_HINT,
                )


class _Verifier:
    """Hashes a layer's compressed and uncompressed bytes for its checks on a worker thread.

    hashlib releases the GIL while it hashes a large buffer, so with two cores the digests cost
    almost no wall time: the main thread decompresses and parses while the worker hashes. The
    queue is bounded (a few chunks), so memory stays flat even if hashing falls behind.
    """

    def __init__(self, compressed: list[_Check], plain: list[_Check]) -> None:
        self.sides = (_Hashers(compressed), _Hashers(plain))
        self.queue: queue.Queue[tuple[_Hashers, bytes] | None] = queue.Queue(maxsize=8)
        self.thread: threading.Thread | None = None
        self.stopped = False

    def feeder(self, side: int) -> Callable[[bytes], None] | None:
        """A function that queues bytes for one side, or None when that side has no check."""
        hashers = self.sides[side]
        if not hashers.checks:
            return None

        def feed(data: bytes) -> None:
            if self.stopped:  # a decoder thread still reading after an error: nothing to check
                return
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="layer-digests",
                                               daemon=True)
                self.thread.start()
            self.queue.put((hashers, data))

        return feed

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            item[0].update(item[1])

    def stop(self) -> None:
        """Let the worker finish what is queued, and end it; later bytes are not hashed."""
        self.stopped = True
        if self.thread is not None:
            self.queue.put(None)
            with contextlib.suppress(RuntimeError):  # Ctrl-C inside start(): join() refuses
                self.thread.join()
            self.thread = None

    def verify(self, description: str) -> None:
        self.stop()
        for hashers in self.sides:
            hashers.verify(description)


class _Blob:
    """The compressed side: hands the decompressor chunks, counting (and hashing) them."""

    def __init__(self, raw: BinaryIO, head: bytes, feed: Callable[[bytes], None] | None) -> None:
        self.raw = raw
        self.head = head
        self.feed = feed
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = CHUNK
        if self.head:
            data, self.head = self.head[:size], self.head[size:]
        else:
            data = self.raw.read(size)
            if not data:
                return b""
        self.count += len(data)
        if self.feed is not None:
            self.feed(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class LayerStream:
    """The uncompressed tar stream of one layer blob (a read-only binary file object).

    ``consumed`` counts the compressed bytes taken from the blob so far, for progress.
    ``close()`` reads what is left of the stream and verifies the digests; a mismatch is an
    ``ImageError`` naming ``description``. Only an error already on its way skips the checks.
    ``pin`` stands for the digests of a layer that has none (see ``Pin``); ``plain`` says the
    blob is an uncompressed tar, whatever its first bytes look like.
    """

    def __init__(self, raw: BinaryIO, *, description: str, digest: str | None = None,
                 diff_id: str | None = None, limits: Limits | None = None,
                 pin: Pin | None = None, plain: bool = False) -> None:
        self.description = description
        self.limit = (limits or Limits()).max_layer_size
        self.size = 0  # uncompressed bytes handed out
        self.at_end = False
        self.closed = False
        head = _read_head(raw, description)
        self.compression = "none" if plain else detect_compression(head)
        compressed = [_Check("digest", digest, description)] if digest else []
        unpacked = [_Check("diff_id", diff_id, description)] if diff_id else []
        if pin is not None and not digest and not diff_id:
            unpacked = [_Check("content", pin.digest, description, pin)]
        if self.compression == "none":  # the same bytes: hash them once for both checks
            compressed, unpacked = compressed + unpacked, []
        self._verifier = _Verifier(compressed, unpacked)
        self._blob = _Blob(raw, head, self._verifier.feeder(0))
        self._feed_plain = self._verifier.feeder(1)
        self._decoder: Any
        if self.compression == "gzip" and _gzip_threaded is not None:
            # inflating on a thread of its own (ISA-L releases the GIL) overlaps it with the
            # tar parsing and blob hashing done here: most of a re-pull's time on two cores
            self._decoder = _gzip_threaded.open(cast(BinaryIO, self._blob), "rb", threads=1)
        elif self.compression == "gzip":
            self._decoder = _gzip.GzipFile(fileobj=cast(BinaryIO, self._blob), mode="rb")
        elif self.compression == "zstd":
            self._decoder = zstandard.ZstdDecompressor(
                max_window_size=MAX_ZSTD_WINDOW).stream_reader(
                cast(BinaryIO, self._blob), read_size=CHUNK, read_across_frames=True)
        else:
            self._decoder = self._blob

    @property
    def consumed(self) -> int:
        """Compressed bytes read from the blob so far."""
        return self._blob.count

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` uncompressed bytes (b"" at the end); ``-1`` reads everything left."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if size == 0 or self.at_end:
            return b""
        try:
            data = self._decoder.read(size)
        except _DECOMPRESSION_ERRORS as error:
            if "too much memory" in str(error):  # a window over MAX_ZSTD_WINDOW
                raise UnsafeArchiveError(
                    f"{self.description}: a zstd frame asks for a window over "
                    f"{MAX_ZSTD_WINDOW >> 20} MiB ({error})",
                    hint="the layer may be a decompression bomb; recompress it without "
                         "--long=28 or more") from None
            raise ImageError(
                f"{self.description}: the {self.compression} stream is truncated or corrupt "
                f"({error or type(error).__name__})",
                hint=_VERIFY_HINT,
            ) from None
        if not data:
            self.at_end = True
            return b""
        self.size += len(data)
        if self.size > self.limit:
            raise too_large(self.description, self.limit)
        if self._feed_plain is not None:
            self._feed_plain(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Read the rest of the stream and verify the digests (a mismatch is an ``ImageError``)."""
        if self.closed:
            return
        try:
            while self.read(CHUNK):  # a reader that stopped early is verified all the same
                pass
            self._blob.drain()  # bytes after the end of the compressed stream are in the blob
        finally:
            self.closed = True
            self._stop_decoder()
            self._verifier.stop()
        self._verifier.verify(self.description)

    def __enter__(self) -> LayerStream:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self.closed = True  # an error is already on its way: do not mask it
            self._stop_decoder()
            self._verifier.stop()

    def _stop_decoder(self) -> None:
        """End the decoder's own thread, if it has one (ISA-L's threaded gzip reader keeps
        reading ahead otherwise, and would hang the interpreter's exit)."""
        if self._decoder is not self._blob and self.compression == "gzip":
            with contextlib.suppress(Exception):
                self._decoder.close()


def too_large(description: str, limit: int) -> UnsafeArchiveError:
    """The error for a stream that grew past ``limit`` uncompressed bytes."""
    return UnsafeArchiveError(
        f"{description}: more than {limit} bytes once uncompressed",
        hint="the layer may be a decompression bomb; if the image is genuine, "
             "raise the layer size limit (sync pull --max-layer-size)",
    )


def too_expanded(description: str, ratio: int, expanded: int,
                 compressed: int) -> UnsafeArchiveError:
    """The error for a stream that expanded over ``ratio`` times its compressed bytes."""
    return UnsafeArchiveError(
        f"{description}: expands more than {ratio}:1 ({expanded} bytes, sparse holes included, "
        f"from the first {compressed} bytes of the blob)",
        hint="the layer may be a decompression bomb; if the image is genuine (a layer mostly of "
             "zeros), raise the ratio limit (sync pull --max-layer-ratio)",
    )


def _read_head(raw: BinaryIO, description: str) -> bytes:
    """At least 4 bytes of ``raw`` (fewer only at its end), to recognize the compression."""
    head = b""
    while len(head) < 4:
        try:
            data = raw.read(CHUNK)
        except OSError as error:
            raise ImageError(f"{description}: cannot read: {error}") from None
        if not data:
            break
        head += data
    return head


def layer_opener(
    open_raw: Opener,
    *,
    description: str,
    digest: str | None = None,
    diff_id: str | None = None,
    limits: Limits | None = None,
    plain: bool = False,
) -> Opener:
    """A ``Layer.open`` for a blob that ``open_raw`` streams (compressed or not; ``plain``: an
    uncompressed tar).

    Each call opens the blob afresh, so the flattener may read a layer again; every read is
    verified against the digests, or, for a blob without any, against its first read (``Pin``).
    """
    pin = Pin()

    @contextmanager
    def open_layer() -> Iterator[BinaryIO]:
        with open_raw() as raw, LayerStream(raw, description=description, digest=digest,
                                             diff_id=diff_id, limits=limits, pin=pin,
                                             plain=plain) as stream:
            yield cast(BinaryIO, stream)

    return open_layer


# -- exact and capped reads ------------------------------------------------------------------------


class Bounded:
    """Exactly ``size`` bytes of ``file`` from where it stands; a short file is an error.

    ``short`` is the message (and ``hint`` the hint) of the ``ImageError`` raised when the file
    ends before ``size`` bytes.
    """

    def __init__(self, file: BinaryIO, size: int, short: str, hint: str) -> None:
        self.file = file
        self.left = size
        self.short = short
        self.hint = hint

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > self.left:
            size = self.left
        if size == 0:
            return b""
        data = self.file.read(size)
        if not data:
            raise ImageError(self.short, hint=self.hint)
        self.left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_capped(chunks: Iterable[bytes], limit: int, where: str, hint: str) -> bytes:
    """All of ``chunks`` joined; more than ``limit`` bytes is an ``ImageError`` (never buffered)."""
    parts: list[bytes] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise ImageError(f"{where}: more than {limit} bytes, too large for a manifest or "
                             "config", hint=hint)
        parts.append(chunk)
    return b"".join(parts)
