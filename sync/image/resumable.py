"""A registry blob read as a file that survives a broken connection: it resumes with ``Range``.

A download that breaks off (connection error, timeout, a body cut short) is retried with the
client's backoff from the byte it reached; a registry that ignores ranges is re-read from the
start with the bytes already delivered skipped.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import requests
import urllib3.exceptions

from sync.errors import ImageError, TransferError
from sync.image.streams import CHUNK

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError, ConnectionError, TimeoutError,
)


class _Retry(Protocol):
    @property
    def deadline(self) -> float: ...

    def delays(self) -> Iterator[float]: ...


@contextmanager
def watchdog(response: requests.Response, seconds: float) -> Iterator[threading.Event]:
    """Cut ``response``'s connection after ``seconds``; the event says whether it was cut.

    A server can keep each read just under the socket timeout (a slowloris): only a clock
    around the whole transfer bounds it. Cutting shuts the socket down, which wakes a read
    blocked in another thread with an error the caller reports as too slow.
    """
    fired = threading.Event()

    def cut() -> None:
        fired.set()
        for sock in _sockets(response):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def _sockets(response: requests.Response) -> list[socket.socket]:
    """The socket under ``response``: urllib3 keeps it on the connection, or only under the
    body's file object once http.client let go of it (a connection that will close)."""
    connection = getattr(response.raw, "_connection", None)
    body = getattr(getattr(getattr(response.raw, "_fp", None), "fp", None), "raw", None)
    found = [getattr(connection, "sock", None), getattr(body, "_sock", None)]
    return [sock for sock in found if isinstance(sock, socket.socket)]


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

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        size = min(size, self.size - self.offset)
        if size <= 0:
            return b""
        delays = self.client.retry.delays()
        while True:
            try:
                data = self._read(size)
                if not data:  # the body ended before the size the manifest gives
                    raise urllib3.exceptions.ProtocolError("the body ended early")
                self.offset += len(data)
                return data
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

    def _read(self, size: int) -> bytes:
        if self.response is None:
            self.response = self._open()
        return bytes(self.response.raw.read(size, decode_content=False))

    def _open(self) -> requests.Response:
        headers = {"Range": f"bytes={self.offset}-"} if self.offset else {}
        response = self.client.request("GET", self.path, where=self.where, headers=headers)
        if self.offset and response.status_code != 206:
            # no range support: read the start again and drop it
            left = self.offset
            while left:
                skipped = response.raw.read(min(left, CHUNK), decode_content=False)
                if not skipped:
                    raise urllib3.exceptions.ProtocolError("the body ended early")
                left -= len(skipped)
        elif self.offset:
            start = response.headers.get("Content-Range", "").removeprefix("bytes ")
            if not start.startswith(f"{self.offset}-"):
                response.close()
                raise ImageError(f"{self.where}: the registry resumed at the wrong place "
                                 f"({response.headers.get('Content-Range')!r})")
        return response

    def _drop(self) -> None:
        if self.response is not None:
            self.response.close()
            self.response = None

    def close(self) -> None:
        self._drop()


def reason(error: BaseException) -> str:
    """A transient failure in a few words, for messages."""
    text = str(error)
    if "Connection refused" in text or isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if "Name or service not known" in text or "NameResolutionError" in text:
        return "unknown host"
    if isinstance(error, (requests.Timeout, TimeoutError, urllib3.exceptions.TimeoutError)):
        return "timed out"
    return type(error).__name__
