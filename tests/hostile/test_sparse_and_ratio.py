"""Class 7 of issue 11, layers: sparse holes count against the file and layer caps when the
header announces them, before a single zero is produced; a sparse map is read by bounded code
and checked; a layer expanding over 100:1 past its first 256 MiB stops (gzip and zstd alike);
a zstd frame cannot ask for a window over 128 MiB. The PAX sparse formats docker reads are
supported, the old GNU one (type 'S') docker refuses is refused."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import BinaryIO

import pygit2
import pytest

from sync.errors import ImageError, UnsafeArchiveError
from sync.image.layer_tar import TarMembers, tar_errors
from sync.image.model import Limits
from sync.image.sparse import MAX_SPARSE_MAP
from sync.image.streams import LayerStream
from tests.builders.tars import (
    END,
    bomb,
    compressed_layer,
    header,
    pad,
    pax,
    sparse_member,
    write_layout,
    zeros,
)
from tests.hostile.pulling import assert_refused, prepared, pull

TIB = 1024**4
DATA = [(0, b"#!/bin/sh\n"), (3 << 20, b"in the middle"), (6 << 20, b"")]


def read_all(blob: bytes, limits: Limits | None = None) -> dict[str, bytes]:
    """Every regular member's content, read in chunks as the blob store reads it."""
    found = {}
    with tar_errors("layer 1/1"):
        members = TarMembers(io.BytesIO(blob), "layer 1/1", limits)  # type: ignore[arg-type]
        for info in members:
            if info.isreg():
                found[info.name] = read_chunks(members.content(info))
    return found


def read_chunks(content: BinaryIO) -> bytes:
    return b"".join(iter(lambda: content.read(1 << 20), b""))


def expected_sparse() -> bytes:
    data = bytearray(6 << 20)
    for offset, chunk in DATA:
        data[offset:offset + len(chunk)] = chunk
    return bytes(data)


# -- sparse members, in process -------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.0", "0.1", "1.0"])
def test_a_pax_sparse_file_reads_back_with_its_holes_as_zeros(version: str):
    blob = sparse_member("opt/amazon/disk.img", 6 << 20, DATA, version) + END
    assert read_all(blob) == {"opt/amazon/disk.img": expected_sparse()}


def test_an_old_gnu_sparse_member_is_refused_by_name():
    blob = sparse_member("opt/amazon/disk.img", 6 << 20, DATA, "old") + END
    with pytest.raises(UnsafeArchiveError, match=r"'opt/amazon/disk.img' is an old GNU sparse"):
        read_all(blob)


@pytest.mark.parametrize("version", ["0.0", "0.1", "1.0"])
def test_the_holes_count_against_the_layer_cap_when_the_header_announces_them(version: str):
    blob = sparse_member("opt/amazon/huge.img", TIB, [(0, b"x")], version) + END
    started = time.monotonic()
    with pytest.raises(UnsafeArchiveError, match=r"layer 1/1: more than 68719476736 bytes .*"
                                                 r"holes of sparse member 'opt/amazon/huge.img'"):
        read_all(blob, Limits())
    assert time.monotonic() - started < 1


def test_the_holes_count_against_the_ratio_cap_too():
    blob = sparse_member("opt/amazon/big.img", 300 << 20, [(0, b"x")], "1.0") + END
    with pytest.raises(UnsafeArchiveError, match=r"expands more than 100:1 .*'opt/amazon/big.img'"):
        read_all(blob, Limits())
    assert read_all(blob, Limits(max_layer_ratio=10**6))["opt/amazon/big.img"][:1] == b"x"


@pytest.mark.parametrize("records, data, shown", [
    ([("GNU.sparse.size", b"100"), ("GNU.sparse.map", b"50,10,0,10")], b"x" * 20, "out of order"),
    ([("GNU.sparse.size", b"100"), ("GNU.sparse.map", b"0,20,10,10")], b"x" * 30, "out of order"),
    ([("GNU.sparse.size", b"100"), ("GNU.sparse.map", b"95,10")], b"x" * 10, "outside the file"),
    ([("GNU.sparse.size", b"100"), ("GNU.sparse.map", b"0,10")], b"x" * 600, "archive stores 600"),
    ([("GNU.sparse.size", b"100"), ("GNU.sparse.map", b"0,10,20")], b"x" * 10, "odd count"),
    ([("GNU.sparse.size", b"1e9"), ("GNU.sparse.map", b"0,1")], b"x", "malformed number"),
    ([("GNU.sparse.size", b"9" * 30), ("GNU.sparse.map", b"0,1")], b"x", "malformed number"),
    ([("GNU.sparse.size", b"10"), ("GNU.sparse.offset", b"0")], b"x", "do not pair up"),
    ([("GNU.sparse.major", b"2"), ("GNU.sparse.minor", b"0")], b"x", "unsupported sparse"),
    ([("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0"), ("GNU.sparse.realsize", b"10")],
     b"999999999999\n", "over the 65536-byte cap"),
    ([("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0"), ("GNU.sparse.realsize", b"10")],
     b"2\n0\n1\n", "cut short"),
])
def test_a_malformed_sparse_map_is_refused_naming_the_member(records, data: bytes, shown: str):
    blob = pax([*records, ("path", b"opt/amazon/bad.img")]) + header(
        b"opt/amazon/bad.img", b"0", len(data)) + pad(data) + END
    with pytest.raises(UnsafeArchiveError, match=f"sparse member 'opt/amazon/bad.img': .*{shown}"):
        read_all(blob)


def test_a_sparse_map_as_long_as_the_layer_is_refused_after_its_cap_not_read_whole():
    """Format 1.0 keeps its map in the data: a count of a billion then lines of "0" for
    64 MiB would be a list of 32 million numbers in tarfile; here it stops at the cap."""
    records = [("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0"),
               ("GNU.sparse.realsize", b"10"), ("path", b"opt/amazon/map.img")]
    data = b"1000000000\n" + b"0\n" * (32 << 20)
    blob = pax(records) + header(b"opt/amazon/map.img", b"0", len(data)) + pad(data) + END
    started = time.monotonic()
    with pytest.raises(UnsafeArchiveError, match=f"over the {MAX_SPARSE_MAP}-byte cap"):
        read_all(blob)
    assert time.monotonic() - started < 2


def test_sparse_records_on_a_symlink_or_in_a_global_header_are_refused():
    link = pax([("GNU.sparse.size", b"10"), ("GNU.sparse.map", b"0,0")]) + header(
        b"opt/amazon/link", b"2", link=b"target") + END
    with pytest.raises(UnsafeArchiveError, match="not a regular file"):
        read_all(link)
    body = b"24 GNU.sparse.size=1000\n"
    glob = header(b"././@PaxHeader", b"g", len(body)) + pad(body) + header(b"a", b"0") + END
    with pytest.raises(UnsafeArchiveError, match="global PAX header .* sparse"):
        read_all(glob)


# -- decompression ratio and zstd windows, in process ---------------------------------------


def stream(layer: bytes, limits: Limits) -> dict[str, bytes]:
    where = "layer 1/1 sha256:0123456789ab"
    with LayerStream(io.BytesIO(layer), description=where, limits=limits) as opened, \
            tar_errors(where):
        members = TarMembers(opened, where, limits)  # type: ignore[arg-type]
        return {info.name: b"" for info in members}


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_layer_expanding_over_the_ratio_stops_past_the_grace(compression: str):
    layer = bomb("opt/amazon/zeros.bin", 64 << 20, compression).blob
    limits = Limits(ratio_grace=8 << 20)
    with pytest.raises(UnsafeArchiveError, match=r"layer 1/1 sha256:0123456789ab: expands more "
                                                 r"than 100:1"):
        stream(layer, limits)


def test_a_zeros_heavy_layer_under_the_ratio_reads():
    random = os.urandom(1 << 20)
    chunks = [header(b"opt/amazon/random.bin", b"0", len(random)), random,
              header(b"opt/amazon/zeros.bin", b"0", 24 << 20), *zeros(24 << 20), END]
    layer = compressed_layer(chunks).blob
    assert 10 < (26 << 20) / len(layer) < 50
    names = stream(layer, Limits(ratio_grace=8 << 20, max_layer_ratio=50))
    assert set(names) == {"opt/amazon/random.bin", "opt/amazon/zeros.bin"}


def zstd_frame(descriptor: bytes) -> bytes:
    """A zstd frame with the given header descriptor bytes and one raw block holding "x"."""
    return b"\x28\xb5\x2f\xfd" + descriptor + b"\x09\0\0x"


@pytest.mark.parametrize("descriptor", [
    bytes([0x00, 21 << 3]),  # a window of 2 GiB
    bytes([0xE0]) + (1 << 40).to_bytes(8, "little"),  # one segment declaring 1 TiB of content
])
def test_a_zstd_frame_asking_for_a_huge_window_is_refused_before_it_allocates(descriptor):
    with pytest.raises(UnsafeArchiveError, match="a zstd frame asks for a window over 128 MiB"):
        stream(zstd_frame(descriptor), Limits())


def test_a_zstd_frame_with_an_ordinary_window_reads():
    with pytest.raises(ImageError, match="tar stream"):  # "x" is no tar, but it decoded
        stream(zstd_frame(bytes([0x00, 17 << 3])), Limits())


# -- the real CLI: exit 2, named, bounded, nothing changed -------------------------------------


def layout_of(tmp_path: Path, *members: bytes, compression: str = "gzip") -> str:
    write_layout(tmp_path / "hostile", [compressed_layer([*members, END], compression)])
    return f"oci:{tmp_path / 'hostile'}"


def test_a_tiny_layer_declaring_a_1_tib_sparse_file_is_refused_by_the_layer_cap(
        repo_dir: Path, tmp_path: Path):
    source = layout_of(tmp_path, sparse_member("opt/amazon/huge.img", TIB, [(0, b"x")], "1.0"))
    assert_refused(pull(prepared(repo_dir, tmp_path), source),
                   "more than 68719476736 bytes", "'opt/amazon/huge.img'", "layer 1/1 sha256:",
                   "--max-layer-size")


def test_and_by_the_file_cap_when_the_layer_caps_are_raised(repo_dir: Path, tmp_path: Path):
    source = layout_of(tmp_path, sparse_member("opt/amazon/huge.img", TIB, [(0, b"x")], "0.1"))
    assert_refused(pull(prepared(repo_dir, tmp_path), source, "--max-layer-size", "2T",
                        "--max-layer-ratio", str(10**13)),
                   "'opt/amazon/huge.img' is 1099511627776 bytes, over the file size limit",
                   "--max-file-size")


def test_an_old_gnu_sparse_member_is_refused_at_pull(repo_dir: Path, tmp_path: Path):
    source = layout_of(tmp_path, sparse_member("opt/amazon/disk.img", 6 << 20, DATA, "old"))
    assert_refused(pull(prepared(repo_dir, tmp_path), source),
                   "'opt/amazon/disk.img' is an old GNU sparse member")


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_decompression_bomb_stops_early_naming_the_layer(repo_dir: Path, tmp_path: Path,
                                                           compression: str):
    layer = bomb("opt/other/zeros.bin", 32 << 30, compression)  # 32 GiB, streamed past
    assert len(layer.blob) < 40 << 20
    write_layout(tmp_path / "bomb", [layer])
    pulled = pull(prepared(repo_dir, tmp_path), f"oci:{tmp_path / 'bomb'}")
    assert_refused(pulled, f"layer 1/1 {layer.digest[:19]}", "expands more than 100:1",
                   "--max-layer-ratio")
    assert pulled.seconds < 20


def test_a_modest_sparse_file_and_a_zeros_heavy_layer_still_pull(repo_dir: Path, tmp_path: Path):
    random = os.urandom(4 << 20)
    chunks = [sparse_member("opt/amazon/disk.img", 6 << 20, DATA, "1.0"),
              header(b"opt/amazon/random.bin", b"0", len(random)), random,
              header(b"opt/other/zeros.bin", b"0", 300 << 20), *zeros(300 << 20), END]
    write_layout(tmp_path / "legit", [compressed_layer(chunks, "gzip")])
    pulled = pull(prepared(repo_dir, tmp_path), f"oci:{tmp_path / 'legit'}")
    assert pulled.status == 0, pulled.stderr
    tree = pygit2.Repository(str(repo_dir)).revparse_single("upstream").peel(pygit2.Tree)

    def data(path: str) -> bytes:
        found = tree[path]
        assert isinstance(found, pygit2.Blob)
        return found.data
    assert data("bundle/disk.img") == expected_sparse()
    assert data("bundle/random.bin") == random
