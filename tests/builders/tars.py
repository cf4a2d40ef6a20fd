"""Tar streams tarfile will not write, built byte by byte in bounded memory, for hostile tests.

``header`` and ``pax`` write raw header blocks (any name bytes, any size, base-256 when large);
``sparse_member`` writes a GNU sparse file in the old GNU format (type 'S') or a PAX one (0.0,
0.1, 1.0); ``compressed_layer`` compresses a stream of chunks as it hashes it, and ``bomb``
repeats one compressed chunk of zeros, so that a layer expanding to gigabytes takes a few
kilobytes and a moment to build; ``write_layout`` puts such layers in an OCI image layout::

    layer = compressed_layer([sparse_member("opt/amazon/big.img", 2**40, [(0, b"x")], "1.0"),
                              END])
    write_layout(tmp_path / "layout", [layer])
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import zstandard

from sync.sample.image_writer import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, REF_NAME, canonical_json

BLOCK = 512
END = bytes(2 * BLOCK)  # tar's end-of-archive marker


def pad(data: bytes) -> bytes:
    """``data`` padded with NULs to whole blocks."""
    return data + bytes(-len(data) % BLOCK)


def header(name: bytes, kind: bytes = b"0", size: int = 0, *, link: bytes = b"",
           extra: dict[int, bytes] | None = None) -> bytes:
    """One ustar header block; ``extra`` writes raw bytes at the given offsets (GNU fields)."""
    block = bytearray(BLOCK)
    block[0:len(name[:100])] = name[:100]
    block[100:108] = b"0000644\0"
    block[108:116] = block[116:124] = b"0000000\0"
    if size < 8**11:
        block[124:136] = b"%011o\0" % size
    else:  # base-256, as GNU tar writes large sizes
        block[124:136] = b"\x80" + size.to_bytes(11, "big")
    block[136:148] = b"00000000000\0"
    block[156:157] = kind
    block[157:157 + len(link)] = link
    block[257:265] = b"ustar\x0000"
    for offset, value in (extra or {}).items():
        block[offset:offset + len(value)] = value
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def pax(records: Sequence[tuple[str, bytes]]) -> bytes:
    """A PAX extended header ('x') holding ``records`` in order (keys may repeat)."""
    body = b"".join(_record(key.encode(), value) for key, value in records)
    return header(b"././@PaxHeader", b"x", len(body)) + pad(body)


def _record(key: bytes, value: bytes) -> bytes:
    rest = b" " + key + b"=" + value + b"\n"
    length = len(rest) + 1
    while len(str(length)) + len(rest) != length:
        length = len(str(length)) + len(rest)
    return str(length).encode() + rest


def sparse_member(name: str, size: int, regions: Sequence[tuple[int, bytes]],
                  version: str) -> bytes:
    """A GNU sparse file of ``size`` bytes: ``regions`` are (offset, data), the rest holes.

    ``version`` is "old" (type 'S' with the map in the header), "0.0", "0.1" or "1.0".
    """
    data = b"".join(chunk for _, chunk in regions)
    pairs = [(offset, len(chunk)) for offset, chunk in regions]
    raw = name.encode()
    if version == "old":
        fields = b"".join(b"%011o\0%011o\0" % pair for pair in pairs[:4])
        return header(raw, b"S", len(data), extra={
            257: b"ustar  \0", 386: fields, 483: b"%011o\0" % size}) + pad(data)
    if version == "1.0":
        text = b"".join(b"%d\n" % number for number in [len(pairs), *sum(pairs, ())])
        stored = pad(text) + data
        records = [("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0"),
                   ("GNU.sparse.name", raw), ("GNU.sparse.realsize", b"%d" % size)]
        return pax(records) + header(b"GNUSparseFile.0/" + raw[-80:], b"0",
                                     len(stored)) + pad(stored)
    if version == "0.1":
        records = [("GNU.sparse.size", b"%d" % size), ("GNU.sparse.numblocks", b"%d" % len(pairs)),
                   ("GNU.sparse.map", b",".join(b"%d" % n for n in sum(pairs, ())))]
    else:
        records = [("GNU.sparse.size", b"%d" % size), ("GNU.sparse.numblocks", b"%d" % len(pairs))]
        for offset, length in pairs:
            records += [("GNU.sparse.offset", b"%d" % offset), ("GNU.sparse.numbytes",
                                                                 b"%d" % length)]
    return pax([*records, ("path", raw)]) + header(raw, b"0", len(data)) + pad(data)


# -- layers and layouts ---------------------------------------------------------------------


@dataclass(frozen=True)
class RawLayer:
    """A layer blob and the digests a config and manifest name it by."""

    blob: bytes
    diff_id: str
    compression: str

    @property
    def digest(self) -> str:
        return f"sha256:{hashlib.sha256(self.blob).hexdigest()}"


def compressed_layer(chunks: Iterable[bytes], compression: str = "gzip") -> RawLayer:
    """The tar stream ``chunks`` compressed ("gzip", "zstd" or "none") as it is hashed."""
    plain = hashlib.sha256()
    compress: Callable[[bytes], bytes]
    finish: Callable[[], bytes]
    if compression == "gzip":
        engine = zlib.compressobj(6, zlib.DEFLATED, 31)
        compress, finish = engine.compress, engine.flush
    elif compression == "zstd":
        stream = zstandard.ZstdCompressor(level=3).compressobj()
        compress, finish = stream.compress, stream.flush
    else:
        compress, finish = bytes, bytes  # type: ignore[assignment]
    parts = []
    for chunk in chunks:
        plain.update(chunk)
        parts.append(compress(chunk))
    parts.append(finish())
    return RawLayer(b"".join(parts), f"sha256:{plain.hexdigest()}", compression)


def zeros(size: int, chunk: int = 1 << 20) -> Iterable[bytes]:
    """``size`` NUL bytes, a chunk at a time."""
    block = bytes(chunk)
    for start in range(0, size, chunk):
        yield block[: min(chunk, size - start)]


def bomb(name: str, size: int, compression: str) -> RawLayer:
    """A layer of one file of ``size`` zeros (a whole number of MiB) that takes kilobytes: one
    compressed MiB of zeros repeated. Its diff_id is not computed (the reader must stop long
    before it could check it)."""
    mib = bytes(1 << 20)
    if compression == "zstd":
        frame = zstandard.ZstdCompressor(level=19).compress
        body = frame(header(name.encode(), b"0", size)) + frame(mib) * (size >> 20) + frame(END)
    else:  # a raw deflate stream: after a full flush, each MiB compresses to the same bytes
        engine = zlib.compressobj(9, zlib.DEFLATED, -15)
        first = engine.compress(header(name.encode(), b"0", size)) + engine.flush(
            zlib.Z_FULL_FLUSH)
        segment = engine.compress(mib) + engine.flush(zlib.Z_FULL_FLUSH)
        last = engine.compress(END) + engine.flush()
        body = (b"\x1f\x8b\x08\0\0\0\0\0\0\xff" + first + segment * (size >> 20) + last
                + bytes(8))  # CRC and size never reached
    return RawLayer(body, "sha256:" + "0" * 64, compression)


def write_layout(directory: Path, layers: Sequence[RawLayer], tag: str = "v1") -> None:
    """An OCI image layout of one linux/amd64 image made of ``layers``, tagged ``tag``."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def add(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    config = {"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
              "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
              "config": {}}
    suffix = {"gzip": "+gzip", "zstd": "+zstd"}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **add(canonical_json(config))},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar"
                                         + suffix.get(layer.compression, ""), **add(layer.blob)}
                           for layer in layers]}
    entry = {"mediaType": OCI_MANIFEST, **add(canonical_json(manifest)),
             "annotations": {REF_NAME: tag}}
    (directory / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    (directory / "index.json").write_bytes(
        canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}))
