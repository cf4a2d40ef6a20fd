"""Stream wrappers: layer blobs' compression by magic bytes, streaming digests, size caps."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import pytest

from sync.errors import ImageError, UnsafeArchiveError
from sync.image import streams as streams_module
from sync.image.model import Limits
from sync.image.streams import CHUNK, LayerStream, detect_compression, layer_opener
from tests.builders.images import Compression, File, Stream, layer_blob, layer_tar

ENTRIES = [File("opt/amazon/a.py", b"print('a')\n" * 1000),
           File("opt/amazon/big.bin", Stream.pattern(3 * CHUNK + 17))]


# Every gzip stream here is closed, by close() or a ``with``: ISA-L's threaded reader left to the
# garbage collector joins its thread wherever a collection runs, and inside another thread's
# start-up that deadlocks CPython's threading module (the suite hung so).


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
    assert streams_module._gzip.__name__ == "isal.igzip"  # isal is installed here: it is used
    monkeypatch.setattr(streams_module, "_gzip", gzip)
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


def test_closing_before_the_end_reads_the_rest_and_verifies_it() -> None:
    # a reader that stopped early (a hardlink's target found) gets nothing unverified
    blob, built = layer_blob(ENTRIES, "gzip")
    stream = LayerStream(io.BytesIO(blob), description="l", digest="sha256:" + "0" * 64)
    stream.read(1000)
    with pytest.raises(ImageError, match="l: digest mismatch"):
        stream.close()
    good = LayerStream(io.BytesIO(blob), description="l", digest=built.digest)
    good.read(1000)
    good.close()
    assert good.at_end and good.consumed == len(blob)


def test_an_error_on_its_way_is_not_masked_by_the_checks_and_leaves_no_thread() -> None:
    blob, _ = layer_blob(ENTRIES, "gzip")
    threads = threading.active_count()
    with pytest.raises(KeyError), LayerStream(io.BytesIO(blob), description="l",
                                              digest="sha256:" + "0" * 64) as stream:
        stream.read(10)
        raise KeyError("the reader's own error")
    # the threaded gzip reader would read ahead forever (and hold the interpreter's exit)
    assert threading.active_count() == threads


def test_ctrl_c_while_the_digest_thread_starts_stays_an_interrupt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``Thread.start`` waits for the new thread to run; after a Ctrl-C there ``join`` refuses
    the thread ("cannot join thread before it is started"), and that RuntimeError used to replace
    the interrupt (a traceback and exit 1 instead of 130)."""
    blob, built = layer_blob(ENTRIES, "none")  # read in this thread, where a Ctrl-C lands
    start = threading.Thread.start

    def interrupted(thread: threading.Thread) -> None:
        if thread.name == "layer-digests":
            raise KeyboardInterrupt  # as if it came before the new thread said it runs
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", interrupted)
    with pytest.raises(KeyboardInterrupt), LayerStream(io.BytesIO(blob), description="l",
                                                       digest=built.digest) as stream:
        stream.read(1000)


def test_a_layer_without_digests_must_read_the_same_every_time() -> None:
    first, _ = layer_blob(ENTRIES, "none")
    served = [first, first, layer_blob([*ENTRIES, File("opt/x", b"x")], "none")[0]]

    @contextmanager
    def open_raw() -> Iterator[BinaryIO]:
        yield io.BytesIO(served.pop(0))

    opener = layer_opener(open_raw, description="docker cp /opt/amazon", plain=True)
    for _ in range(2):
        with opener() as stream:
            stream.read(700)  # the first read pins the whole stream, the second matches it
    with pytest.raises(ImageError) as raised, opener() as stream:
        stream.read(700)
    assert raised.value.message.startswith(
        "docker cp /opt/amazon: the layer changed between two reads: the first gave sha256:")


@pytest.mark.parametrize("compression", ["gzip", "gzip-multi"])
def test_a_truncated_gzip_layer_is_an_error_naming_it(compression: Compression) -> None:
    blob, _ = layer_blob(ENTRIES, compression)
    with pytest.raises(ImageError) as raised, LayerStream(
            io.BytesIO(blob[: len(blob) // 2]), description="layer 3/4") as stream:
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
    with pytest.raises(ImageError, match="truncated or corrupt"), LayerStream(
            io.BytesIO(damaged), description="l") as stream:
        read_all(stream)


def test_the_layer_size_limit_stops_a_decompression_bomb_early() -> None:
    bomb = [File("bomb", Stream.zeros(64 * CHUNK))]
    blob, _ = layer_blob(bomb, "zstd")
    assert len(blob) < 64 * 1024  # tiny on disk
    with pytest.raises(UnsafeArchiveError) as raised, LayerStream(
            io.BytesIO(blob), description="layer 1/1",
            limits=Limits(max_layer_size=8 * CHUNK)) as stream:
        read_all(stream, CHUNK)
    assert "layer 1/1: more than 8388608 bytes once uncompressed" in raised.value.message
    assert stream.size <= 9 * CHUNK  # stopped at the limit, not at the end


def test_reads_are_bounded_by_the_requested_size() -> None:
    blob, _ = layer_blob([File("noise", Stream.pattern(64 * CHUNK))], "gzip")
    with LayerStream(io.BytesIO(blob), description="l") as stream:
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
