"""GNU sparse maps and content: maps from PAX records (0.0, 0.1) or the data (1.0), checked;
content that hands out holes as zeros, one chunk at a time, whatever their size."""

from __future__ import annotations

import io

import pytest

from sync.errors import ImageError
from sync.image.sparse import SparseContent, SparseError, SparseMap, sparse_map

REGIONS = ((0, 4), (100, 3))


def no_data(size: int) -> bytes:
    raise AssertionError("formats 0.0 and 0.1 keep their map in the header")


@pytest.mark.parametrize("records", [
    [(b"GNU.sparse.size", b"200"), (b"GNU.sparse.map", b"0,4,100,3")],
    [(b"GNU.sparse.size", b"200"), (b"GNU.sparse.offset", b"0"), (b"GNU.sparse.numbytes", b"4"),
     (b"GNU.sparse.offset", b"100"), (b"GNU.sparse.numbytes", b"3")],
])
def test_a_map_in_the_pax_header(records):
    assert sparse_map(records, 7, no_data) == SparseMap(REGIONS, 200, 0)


def test_a_map_in_front_of_the_data_takes_whole_blocks():
    records = [(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"),
               (b"GNU.sparse.realsize", b"200")]
    stored = b"2\n0\n4\n100\n3\n".ljust(512, b"\0") + b"abcdxyz"
    layout = sparse_map(records, len(stored), lambda size: stored[:size])
    assert layout == SparseMap(REGIONS, 200, 512)
    assert (layout.data, layout.holes) == (7, 193)


def test_regions_must_hold_exactly_the_stored_bytes():
    with pytest.raises(SparseError, match="hold 7 bytes, the archive stores 8"):
        sparse_map([(b"GNU.sparse.size", b"200"), (b"GNU.sparse.map", b"0,4,100,3")], 8,
                   no_data)


def test_content_reads_holes_as_zeros():
    content = SparseContent(io.BytesIO(b"abcdxyz"), SparseMap(REGIONS, 200, 0),  # type: ignore[arg-type]
                            "short", "hint")
    data = b"".join(iter(lambda: content.read(64), b""))
    assert data == b"abcd" + bytes(96) + b"xyz" + bytes(97)


def test_a_read_of_a_huge_hole_hands_out_one_chunk_not_the_hole():
    content = SparseContent(io.BytesIO(b""), SparseMap((), 1 << 40, 0),  # type: ignore[arg-type]
                            "short", "hint")
    assert len(content.read(1 << 40)) == 1 << 20
    assert len(content.read()) == 1 << 20


def test_content_whose_data_ends_early_is_an_error():
    content = SparseContent(io.BytesIO(b"ab"), SparseMap(REGIONS, 200, 0),  # type: ignore[arg-type]
                            "layer: ends inside 'x'", "hint")
    with pytest.raises(ImageError, match="ends inside 'x'"):
        b"".join(iter(lambda: content.read(64), b""))
