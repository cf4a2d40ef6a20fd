"""Prefetching: blobs download ahead of an in-order reader, bounded, errors reach the reader."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import pytest

from sync.errors import ImageError
from sync.image.prefetch import Prefetcher
from sync.image.streams import CHUNK


class Source:
    """An in-memory blob that counts its opens and the bytes taken from it."""

    def __init__(self, data: bytes, *, gate: threading.Event | None = None,
                 fail_after: int | None = None) -> None:
        self.data = data
        self.gate = gate
        self.fail_after = fail_after
        self.opened = threading.Event()
        self.opens = 0
        self.taken = 0

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        self.opens += 1
        self.opened.set()
        if self.gate is not None:
            assert self.gate.wait(5), "the gate was never opened"
        source = self

        class Reader(io.RawIOBase):
            def __init__(self) -> None:
                self.stream = io.BytesIO(source.data)

            def read(self, size: int = -1) -> bytes:
                if source.fail_after is not None and source.taken >= source.fail_after:
                    raise ImageError("the registry went away")
                data = self.stream.read(size)
                source.taken += len(data)
                return data

        yield Reader()  # type: ignore[misc]


def read_all(opener: object) -> bytes:
    with opener() as stream:  # type: ignore[operator]
        return b"".join(iter(lambda: stream.read(100_000), b""))


def test_blobs_arrive_whole_and_in_order_while_later_ones_download_ahead() -> None:
    later = Source(b"second" * 1000)
    # the first blob's download only proceeds once the second one has started: that needs two
    # downloads at the same time, which is the point
    first = Source(b"first" * 1000, gate=later.opened)
    progress: list[int | None] = []
    with Prefetcher(workers=2) as prefetcher:
        openers = [prefetcher.add(first.open, progress.append), prefetcher.add(later.open)]
        assert [read_all(opener) for opener in openers] == [first.data, later.data]
    assert progress == [len(first.data), None]


def test_each_buffer_is_bounded() -> None:
    big = Source(bytes(64 * CHUNK))
    with Prefetcher(workers=2, buffer_bytes=4 * CHUNK) as prefetcher:
        opener = prefetcher.add(big.open)
        prefetcher.start()
        time.sleep(0.5)  # nobody reads: the worker must stop at the buffer's size
        assert big.taken <= 6 * CHUNK
        assert read_all(opener) == big.data


def test_a_download_error_is_raised_in_the_reader() -> None:
    broken = Source(bytes(8 * CHUNK), fail_after=2 * CHUNK)
    with Prefetcher(workers=2) as prefetcher:
        opener = prefetcher.add(broken.open)
        prefetcher.start()
        with pytest.raises(ImageError, match="the registry went away"):
            read_all(opener)


def test_a_second_open_downloads_afresh() -> None:
    blob = Source(b"layer" * 100)
    with Prefetcher(workers=2) as prefetcher:
        opener = prefetcher.add(blob.open)
        prefetcher.start()
        assert read_all(opener) == blob.data
        assert read_all(opener) == blob.data
    assert blob.opens == 2


def test_nothing_downloads_until_a_blob_is_opened() -> None:
    blobs = [Source(b"layer" * 100) for _ in range(2)]
    with Prefetcher(workers=2) as prefetcher:
        openers = [prefetcher.add(blob.open) for blob in blobs]
        time.sleep(0.2)
        assert [blob.opens for blob in blobs] == [0, 0]
        assert read_all(openers[0]) == blobs[0].data
        assert blobs[1].opened.wait(2)  # the next one downloads ahead


def test_blobs_below_the_first_one_opened_are_not_downloaded_ahead() -> None:
    blobs = [Source(b"layer %d" % i * 100) for i in range(3)]
    with Prefetcher(workers=2) as prefetcher:
        openers = [prefetcher.add(blob.open) for blob in blobs]
        assert read_all(openers[1]) == blobs[1].data  # layer 0 restored from a checkpoint
        assert read_all(openers[2]) == blobs[2].data
        assert blobs[0].opens == 0
        assert read_all(openers[0]) == blobs[0].data  # a later need: a direct download
    assert [blob.opens for blob in blobs] == [1, 1, 1]


def test_closing_stops_workers_waiting_on_a_full_buffer() -> None:
    blobs = [Source(bytes(32 * CHUNK)) for _ in range(3)]
    prefetcher = Prefetcher(workers=3, buffer_bytes=2 * CHUNK)
    for blob in blobs:
        prefetcher.add(blob.open)
    prefetcher.start()
    time.sleep(0.2)
    started = time.monotonic()
    prefetcher.close()
    assert time.monotonic() - started < 2
    assert all(blob.taken < 8 * CHUNK for blob in blobs)
