"""A tiny HTTP server on loopback whose answers a test scripts, recording every request.

It stops by itself when the ``with`` block ends; every handler answers in bounded time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.fixtures.http_server import serving


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Loopback:
    """The running server: its ``origin`` (host:port) and the requests it saw."""

    origin: str
    seen: list[Seen] = field(default_factory=list)


# a script gets the request and the server, and answers through the handler
Script = Callable[[BaseHTTPRequestHandler, Loopback], None]


@contextmanager
def loopback(script: Script) -> Iterator[Loopback]:
    """Serve ``script`` on 127.0.0.1 (a free port) until the block ends."""
    state = Loopback("")

    class Handler(BaseHTTPRequestHandler):
        timeout = 30  # a client that stalls cannot hold the server past the test

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(min(length, 1 << 20)) if length else b""
            state.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            script(self, state)

        do_GET = do_POST = do_HEAD = _handle  # noqa: N815 (the http.server API)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as origin:
        state.origin = origin
        yield state


def answer(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"",
           headers: dict[str, str] | None = None) -> None:
    """Send a complete answer."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)
