"""Layer blobs: compression by magic bytes, streaming digests, size caps."""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from sync.errors import ImageError, UnsafeArchiveError
from sync.image import layers as layers_module
from sync.image.build import Compression, File, Stream, layer_blob, layer_tar
from sync.image.layers import CHUNK, LayerStream, TarMembers, _LeanTarInfo, detect_compression
from sync.image.model import Limits

ENTRIES = [File("opt/amazon/a.py", b"print('a')\n" * 1000),
           File("opt/amazon/big.bin", Stream.pattern(3 * CHUNK + 17))]


def read_all(stream: LayerStream, size: int = 65536) -> bytes:
    parts = []
    while data := stream.read(size):
        parts.append(data)
    return b"".join(parts)


@pytest.mark.parametrize("compression, magic", [
    ("none", "none"), ("gzip", "gzip"), ("gzip-multi", "gzip"), ("zstd", "zstd"),
    ("zstd-multi", "zstd"),
])
def test_every_compression_is_recognized_and_verified(compression: Compression,
                                                      magic: str) -> None:
    blob, built = layer_blob(ENTRIES, compression)
    assert detect_compression(blob[:4]) == magic
    stream = LayerStream(io.BytesIO(blob), description="layer 1/1", digest=built.digest,
                         diff_id=built.diff_id)
    content = read_all(stream)
    stream.close()  # verifies: no error
    assert content == layer_tar(ENTRIES)
    assert f"sha256:{hashlib.sha256(content).hexdigest()}" == built.diff_id
    assert stream.consumed == len(blob) == built.size


def test_multi_member_gzip_really_has_several_members() -> None:
    blob, _ = layer_blob(ENTRIES, "gzip-multi")
    assert blob.count(b"\x1f\x8b\x08") > 10
    assert gzip.decompress(blob) == layer_tar(ENTRIES)


def test_stdlib_gzip_is_the_fallback_when_isal_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert layers_module._gzip.__name__ == "isal.igzip"  # isal is installed here: it is used
    monkeypatch.setattr(layers_module, "_gzip", gzip)
    blob, built = layer_blob(ENTRIES, "gzip-multi")
    with LayerStream(io.BytesIO(blob), description="l", digest=built.digest,
                     diff_id=built.diff_id) as stream:
        assert read_all(stream) == layer_tar(ENTRIES)


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_a_digest_mismatch_names_the_layer_and_both_digests(compression: Compression) -> None:
    blob, built = layer_blob(ENTRIES, compression)
    wrong = "sha256:" + "0" * 64
    stream = LayerStream(io.BytesIO(blob), description="layer 2/5 sha256:abc",
                         digest=wrong, diff_id=built.diff_id)
    read_all(stream)
    with pytest.raises(ImageError) as raised:
        stream.close()
    assert "layer 2/5 sha256:abc: digest mismatch" in raised.value.message
    assert wrong in raised.value.message and built.digest in raised.value.message


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_a_diff_id_mismatch_is_an_error(compression: Compression) -> None:
    blob, built = layer_blob(ENTRIES, compression)
    stream = LayerStream(io.BytesIO(blob), description="layer 1/1", digest=built.digest,
                         diff_id="sha256:" + "1" * 64)
    read_all(stream)
    with pytest.raises(ImageError, match="layer 1/1: diff_id mismatch"):
        stream.close()


def test_a_single_flipped_byte_is_caught() -> None:
    blob, built = layer_blob(ENTRIES, "none")
    damaged = bytearray(blob)
    damaged[700] ^= 1
    stream = LayerStream(io.BytesIO(bytes(damaged)), description="l", digest=built.digest)
    read_all(stream)
    with pytest.raises(ImageError, match="digest mismatch"):
        stream.close()


def test_closing_before_the_end_verifies_nothing() -> None:
    blob, _ = layer_blob(ENTRIES, "gzip")
    stream = LayerStream(io.BytesIO(blob), description="l", digest="sha256:" + "0" * 64)
    stream.read(1000)
    stream.close()  # a partial read (a hardlink re-read) cannot be verified, and is not


@pytest.mark.parametrize("compression", ["gzip", "gzip-multi"])
def test_a_truncated_gzip_layer_is_an_error_naming_it(compression: Compression) -> None:
    blob, _ = layer_blob(ENTRIES, compression)
    stream = LayerStream(io.BytesIO(blob[: len(blob) // 2]), description="layer 3/4")
    with pytest.raises(ImageError) as raised:
        read_all(stream)
    assert "layer 3/4: the gzip stream is truncated or corrupt" in raised.value.message


def test_a_truncated_zstd_layer_fails_its_digest() -> None:
    # zstandard's reader ends quietly at a cut frame: the digest (and the flattener's
    # end-of-archive check) catch it
    blob, built = layer_blob(ENTRIES, "zstd")
    stream = LayerStream(io.BytesIO(blob[:-5]), description="l", digest=built.digest)
    read_all(stream)
    with pytest.raises(ImageError, match="digest mismatch"):
        stream.close()


def test_corrupt_compressed_data_is_an_error() -> None:
    blob, _ = layer_blob(ENTRIES, "gzip")
    damaged = blob[:20] + bytes(b ^ 0x55 for b in blob[20:200]) + blob[200:]
    with pytest.raises(ImageError, match="truncated or corrupt"):
        read_all(LayerStream(io.BytesIO(damaged), description="l"))


def test_the_layer_size_limit_stops_a_decompression_bomb_early() -> None:
    bomb = [File("bomb", Stream.zeros(64 * CHUNK))]
    blob, _ = layer_blob(bomb, "zstd")
    assert len(blob) < 64 * 1024  # tiny on disk
    stream = LayerStream(io.BytesIO(blob), description="layer 1/1", limits=Limits(
        max_layer_size=8 * CHUNK))
    with pytest.raises(UnsafeArchiveError) as raised:
        read_all(stream, CHUNK)
    assert "layer 1/1: more than 8388608 bytes once uncompressed" in raised.value.message
    assert stream.size <= 9 * CHUNK  # stopped at the limit, not at the end


def test_reads_are_bounded_by_the_requested_size() -> None:
    blob, _ = layer_blob([File("noise", Stream.pattern(64 * CHUNK))], "gzip")
    stream = LayerStream(io.BytesIO(blob), description="l")
    assert len(stream.read(CHUNK)) == CHUNK
    time.sleep(0.3)  # let the decompressing thread fill its bounded queue
    # the blob is not read ahead: only the decompressing thread's few blocks
    assert stream.consumed <= 12 * CHUNK < len(blob)


def test_an_empty_blob_is_read_as_empty() -> None:
    stream = LayerStream(io.BytesIO(b""), description="l")
    assert stream.read(10) == b""
    assert stream.compression == "none"


def test_unsupported_digest_algorithms_are_refused() -> None:
    with pytest.raises(ImageError, match="unsupported digest"):
        LayerStream(io.BytesIO(b"x" * 10), description="l", digest="md5:abcd")


def test_plain_tar_detection_does_not_depend_on_names() -> None:
    blob = layer_tar([File("\x1f\x8b-looks-like-gzip", b"x")])
    assert blob[:2] != b"\x1f\x8b"  # a tar starts with its first member's name...
    assert tarfile.is_tarfile(io.BytesIO(blob))


# -- the tar stream inside a layer ---------------------------------------------------------------


def stock_members(blob: bytes) -> list[tuple[object, ...]]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:", encoding="utf-8",
                      errors="surrogateescape") as tar:
        return [describe(info, tar.extractfile(info) if info.isreg() else None) for info in tar]


def lean_members(blob: bytes) -> list[tuple[object, ...]]:
    members = TarMembers(io.BytesIO(blob), "layer")  # type: ignore[arg-type]
    return [describe(info, members.content(info) if info.isreg() else None) for info in members]


def describe(info: tarfile.TarInfo, content: object) -> tuple[object, ...]:
    data = content.read(info.size) if content is not None else None  # type: ignore[attr-defined]
    return (info.name, info.type, info.size, info.mode, info.linkname, info.offset_data, data)


LONG = "opt/amazon/" + "/".join(["a-rather-long-directory-name"] * 8) + "/file.py"


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_member_headers_read_as_tarfile_reads_them(fmt: int) -> None:
    names = ["opt/amazon/a.py", LONG[:250] if fmt == tarfile.USTAR_FORMAT else LONG]
    if fmt != tarfile.USTAR_FORMAT:
        names.append("opt/amazon/caf\u00e9/\u65e5\u672c.txt")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for number, name in enumerate(names):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid = 3 + number, 0o755, 1000
            tar.addfile(info, io.BytesIO(b"x" * info.size))
        link = tarfile.TarInfo("opt/amazon/link")
        link.type, link.linkname = tarfile.SYMTYPE, "a.py" if fmt == tarfile.USTAR_FORMAT else LONG
        tar.addfile(link)
        folder = tarfile.TarInfo("opt/amazon/dir")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
    blob = buffer.getvalue()
    assert lean_members(blob) == stock_members(blob)


def test_old_v7_directories_and_odd_checksums_read_as_tarfile_reads_them() -> None:
    info = tarfile.TarInfo("opt/amazon/v7dir/")
    info.type = tarfile.AREGTYPE  # V7: a "regular file" whose name ends in a slash
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    # store a *signed* checksum, as some old tars did, by setting a high byte in the name
    header[99] = 0xFF
    header[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in header)
    header[148:156] = b"%06o\0 " % signed
    blob = bytes(header) + bytes(1024)
    assert stock_members(blob) == lean_members(blob)


def test_a_size_in_base_256_is_read_by_tarfile_itself() -> None:
    info = tarfile.TarInfo("opt/amazon/huge.bin")
    info.size = 9 * 1024**3  # over 8 GiB: the GNU format writes the size in base 256
    header = info.tobuf(tarfile.GNU_FORMAT)
    parsed = _LeanTarInfo.frombuf(header, "utf-8", "surrogateescape")
    assert (parsed.name, parsed.size) == ("opt/amazon/huge.bin", 9 * 1024**3)


@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_sparse_files_from_gnu_tar_read_with_their_holes(tmp_path: Path, fmt: str) -> None:
    sparse = tmp_path / "opt" / "amazon" / "sparse.img"
    sparse.parent.mkdir(parents=True)
    with sparse.open("wb") as file:
        file.seek(3 * 1024 * 1024)
        file.write(b"data in the middle")
        file.truncate(6 * 1024 * 1024)
    archive = tmp_path / "sparse.tar"
    subprocess.run(["tar", f"--format={fmt}", "--sparse", "-cf", str(archive), "-C",
                    str(tmp_path), "opt"], check=True)
    blob = archive.read_bytes()
    lean = lean_members(blob)
    assert lean == stock_members(blob)
    assert [member[-1] for member in lean if str(member[0]).endswith("sparse.img")] == [
        sparse.read_bytes()]
    assert len(blob) < 1024 * 1024  # the holes were not stored


def test_a_stream_that_ends_without_the_end_of_archive_marker_is_an_error() -> None:
    blob = layer_tar([File("a", b"a" * 600)])
    with pytest.raises(ImageError, match="layer: the tar stream ends without its end-of-archive"):
        list(TarMembers(io.BytesIO(blob[:1536]), "layer"))  # type: ignore[arg-type]
