"""Download blobs ahead of the reader: a few at once, each into a small bounded buffer.

The flattener reads layers strictly in order; while it reads layer *i*, worker threads already
stream layers *i+1 .. i+k* from the network. Each blob's buffer is bounded (``buffer_bytes``)
and at most ``workers`` blobs are in flight, so memory stays flat whatever the layer sizes: a
worker whose buffer is full simply waits (the connection idles; if the server drops it, the
blob stream resumes with a range request). Nothing is written to disk.

Downloads start when the first blob is opened (a pull that finds nothing new reads no layer
and downloads nothing). A blob's first ``open`` takes the prefetched stream; any later ``open``
(the flattener reads a layer again for a hardlink or a symlinked source) downloads it afresh.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, BinaryIO, cast

from sync.image.blobs import Opener
from sync.image.streams import CHUNK

_END = object()
_POLL = 0.2  # seconds between checks of the stop flag while a buffer is full

# (bytes so far, or None when done) for one blob, called from a worker thread
OnProgress = Callable[[int | None], None]


class _Pipe:
    """One blob's chunks, from its worker to the reader."""

    def __init__(self, open_raw: Opener, capacity: int, on_progress: OnProgress | None,
                 stop: threading.Event) -> None:
        self.open_raw = open_raw
        self.chunks: queue.Queue[Any] = queue.Queue(maxsize=max(1, capacity // CHUNK))
        self.on_progress = on_progress
        self.stop = stop
        self.abandoned = threading.Event()
        self.taken = False
        self.submitted = False

    def produce(self) -> None:
        """Worker side: stream the blob into the queue, then an end marker or the error."""
        try:
            count = 0
            with self.open_raw() as raw:
                while not self._stopped():
                    data = raw.read(CHUNK)
                    if not data:
                        break
                    count += len(data)
                    if not self._put(data):
                        return
                    if self.on_progress is not None:
                        self.on_progress(count)
            if self.on_progress is not None:
                self.on_progress(None)
            self._put(_END)
        except BaseException as error:  # handed to the reader, who raises it in its thread
            self._put(error)

    def _stopped(self) -> bool:
        return self.stop.is_set() or self.abandoned.is_set()

    def _put(self, item: object) -> bool:
        while not self._stopped():
            try:
                self.chunks.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False


class _PipeReader:
    """Reader side of a pipe: a read-only binary stream."""

    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe
        self.buffer = memoryview(b"")
        self.done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        while not self.buffer and not self.done:
            item = self.pipe.chunks.get()
            if item is _END:
                self.done = True
            elif isinstance(item, BaseException):
                self.done = True
                raise item
            else:
                self.buffer = memoryview(item)
        data = bytes(self.buffer[:size])
        self.buffer = self.buffer[size:]
        return data


class Prefetcher:
    """Starts downloads in the order blobs are added; use as a context manager."""

    def __init__(self, workers: int = 4, buffer_bytes: int = 16 << 20) -> None:
        self.workers = workers
        self.buffer_bytes = buffer_bytes
        self.stop = threading.Event()
        self.pipes: list[_Pipe] = []
        self.pool: ThreadPoolExecutor | None = None
        self.on_start: Callable[[int], None] | None = None  # told the first blob downloaded

    def add(self, open_raw: Opener, on_progress: OnProgress | None = None) -> Opener:
        """Register a blob; return its opener (prefetched the first time, direct after)."""
        pipe = _Pipe(open_raw, self.buffer_bytes, on_progress, self.stop)
        self.pipes.append(pipe)

        @contextmanager
        def open_blob() -> Iterator[BinaryIO]:
            if self.pool is None and not self.stop.is_set():
                # on first use, from this blob on: a caller that skips blobs (restored from a
                # checkpoint) or reads none downloads nothing it does not need
                self.start(self.pipes.index(pipe))
            if pipe.taken or not pipe.submitted or self.stop.is_set():
                with open_raw() as raw:
                    yield raw
                return
            pipe.taken = True
            try:
                yield cast(BinaryIO, _PipeReader(pipe))
            finally:
                pipe.abandoned.set()  # a reader that stops early frees its worker

        return open_blob

    def start(self, first: int = 0) -> None:
        """Submit the blobs from ``first`` on, in order: at most ``workers`` download at once."""
        if self.on_start is not None:
            self.on_start(first)
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="prefetch")
        for pipe in self.pipes[first:]:
            pipe.submitted = True
            self.pool.submit(pipe.produce)

    def close(self) -> None:
        """Stop every download and wait for the workers."""
        self.stop.set()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
