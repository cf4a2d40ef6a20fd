"""Writes layer blobs: entries as a PAX tar stream, compressed as asked, with both digests.

The blob's digest (of the compressed bytes) and the diff_id (of the tar) are computed while
writing, so a layer of any size passes through memory once, in chunks.
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from collections.abc import Iterable
from typing import Any, BinaryIO, Protocol

import zstandard

from sync.sample.specs import BuiltLayer, Compression, Entry

_deflate: Any
try:  # isal compresses gzip several times faster than zlib: it matters for benchmark images
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - exercised only where isal is missing
    _deflate = zlib

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
_MULTI_MEMBER = 64 * 1024  # uncompressed bytes per gzip member / zstd frame in "-multi" modes


def write_layer_tar(entries: Iterable[Entry], out: BinaryIO) -> None:
    """Write ``entries`` as an uncompressed tar stream to ``out`` (PAX format, as Docker)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        for entry in entries:
            info, content = entry.member()
            tar.addfile(info, content)


def write_layer(entries: Iterable[Entry], out: BinaryIO,
                compression: Compression = "gzip") -> BuiltLayer:
    """Write a layer blob of ``entries`` to ``out``, compressed as asked; return its digests."""
    blob = HashingWriter(out)
    compressor = _compressor(compression, blob)
    plain = HashingWriter(compressor)
    write_layer_tar(entries, plain)  # type: ignore[arg-type]
    compressor.close()
    suffix = {"none": "", "gzip": "+gzip", "gzip-multi": "+gzip"}.get(compression, "+zstd")
    return BuiltLayer(digest=blob.digest(), diff_id=plain.digest(), size=blob.count,
                      compression=compression, media_type=OCI_LAYER + suffix)


class _Writer(Protocol):
    def write(self, data: bytes) -> Any: ...


class HashingWriter:
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
