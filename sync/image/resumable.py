"""A registry blob read as a file that survives a broken connection: it resumes with ``Range``.

A download that breaks off (connection error, timeout, a body cut short) is retried with the
client's backoff from the byte it reached; a registry that ignores ranges is re-read from the
start with the bytes already delivered skipped.

A download must also keep up the policy's minimum rate (``deadlines.RateWindow``): a window of
waiting that brought fewer bytes cuts the connection and resumes on a fresh one; ``attempts``
such windows in a row end the pull (a server trickling for ever cannot hold it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Protocol

import requests
import urllib3.exceptions

from sync.errors import ImageError, TransferError
from sync.image.deadlines import RateWindow, headers_too_slow
from sync.image.streams import CHUNK

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError, ConnectionError, TimeoutError,
)


class _Retry(Protocol):
    @property
    def attempts(self) -> int: ...

    @property
    def deadline(self) -> float: ...

    @property
    def low_speed_limit(self) -> int: ...

    @property
    def low_speed_time(self) -> float: ...

    def delays(self) -> Iterator[float]: ...


class BlobClient(Protocol):
    """What a resumable read needs of the registry client."""

    @property
    def retry(self) -> _Retry: ...

    def request(self, method: str, path: str, *, where: str,
                headers: dict[str, str] | None = None) -> requests.Response: ...


class ResumableBlob:
    """A blob's bytes, read from a streaming response; reconnects with ``Range`` on failure."""

    def __init__(self, client: BlobClient, digest: str, size: int, where: str) -> None:
        self.client = client
        self.path = f"/blobs/{digest}"
        self.size = size
        self.where = where
        self.offset = 0
        self.response: requests.Response | None = None
        retry = client.retry
        self.window = RateWindow(retry.low_speed_limit, retry.low_speed_time)
        self.slow = False  # the last window fell short: the connection was dropped
        self.slow_windows = 0  # windows in a row that fell short

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        size = min(size, self.size - self.offset)
        if size <= 0:
            return b""
        delays = self.client.retry.delays()
        with self.window.waiting():
            while True:
                if self.slow:
                    self._after_slow_window()
                try:
                    data = self._fill(size)
                    if data:
                        self.offset += len(data)
                        return data
                    if self.slow:
                        continue
                    # the body ended before the size the manifest gives
                    raise urllib3.exceptions.ProtocolError("the body ended early")
                except TRANSIENT_ERRORS as error:
                    self._drop()
                    delay = next(delays, None)
                    if delay is None:
                        raise TransferError(
                            f"{self.where}: the download broke off at byte {self.offset} of "
                            f"{self.size} and could not be resumed: {reason(error)}",
                            hint="check the network and the registry, then retry") from None
                    log.debug("%s: %s at byte %d; resuming in %.1fs", self.where,
                              type(error).__name__, self.offset, delay)
                    time.sleep(delay)

    def _fill(self, size: int) -> bytes:
        """Up to ``size`` bytes from the current connection (opened if need be), gathered
        piece by piece so that the rate is checked as they come. A failure after some bytes
        drops the connection and returns them (the next read resumes after them)."""
        if self.response is None:
            self._open()
        pieces: list[bytes] = []
        count = 0
        try:
            while count < size and self.response is not None:
                piece = self._receive(size - count)
                if not piece:
                    break
                pieces.append(piece)
                count += len(piece)
        except TRANSIENT_ERRORS:
            if not pieces:
                raise
            self._drop()
        return b"".join(pieces)

    def _receive(self, size: int) -> bytes:
        """What one read of the socket brings (at most ``size`` bytes), counted in the window;
        a window that fell short drops the connection."""
        assert self.response is not None
        piece = bytes(self.response.raw.read1(size, decode_content=False))
        kept = self.window.add(len(piece))
        if kept is False:
            self.slow = True
            self._drop()
        elif kept:
            self.slow_windows = 0  # a window kept the rate: the transfer recovered
        return piece

    def _after_slow_window(self) -> None:
        retry = self.client.retry
        self.slow = False
        self.slow_windows += 1
        if self.slow_windows >= retry.attempts:
            raise TransferError(
                f"{self.where}: the registry sends this layer too slowly: less than "
                f"{retry.low_speed_limit} bytes a second for {retry.low_speed_time:g} s, "
                f"{self.slow_windows} times in a row; gave up at byte {self.offset} of "
                f"{self.size}",
                hint="check the network and the registry, then retry (a link this slow "
                     "needs SIMAPP_SYNC_REGISTRY_LOW_SPEED_LIMIT lower; 0 turns it off)")
        log.debug("%s: below %d bytes/s at byte %d; reconnecting", self.where,
                  retry.low_speed_limit, self.offset)
        self.window.restart()

    def _open(self) -> None:
        """Connect (again) for the bytes from ``offset`` on."""
        headers = {"Range": f"bytes={self.offset}-"} if self.offset else {}
        self.response = response = self.client.request("GET", self.path, where=self.where,
                                                       headers=headers)
        if self.offset and response.status_code != 206:
            # no range support: read the start again and drop it
            left = self.offset
            while left and self.response is not None:
                skipped = self._receive(min(left, CHUNK))
                if not skipped:
                    raise urllib3.exceptions.ProtocolError("the body ended early")
                left -= len(skipped)
        elif self.offset:
            start = response.headers.get("Content-Range", "").removeprefix("bytes ")
            if not start.startswith(f"{self.offset}-"):
                self._drop()
                raise ImageError(f"{self.where}: the registry resumed at the wrong place "
                                 f"({response.headers.get('Content-Range')!r})")

    def _drop(self) -> None:
        if self.response is not None:
            self.response.close()
            self.response = None

    def close(self) -> None:
        self._drop()


def reason(error: BaseException) -> str:
    """A transient failure in a few words, for messages."""
    text = str(error)
    slow = headers_too_slow(error)
    if slow is not None:
        return f"no answer (status line and headers) within {slow.seconds:g} s"
    if "Connection refused" in text or isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if "Name or service not known" in text or "NameResolutionError" in text:
        return "unknown host"
    if isinstance(error, (requests.Timeout, TimeoutError, urllib3.exceptions.TimeoutError)):
        return "timed out"
    return type(error).__name__
