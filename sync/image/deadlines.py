"""How long a registry may take: the timeouts, deadlines and minimum rate of every request.

A slow server can keep each read just under a socket timeout for ever (a slowloris), so the
socket timeouts (to connect, and of silence between two reads) are only the first bound:

- the status line and headers of every answer (documents, tokens, blobs, and each redirect on
  the way to blob storage) must arrive within ``RetryPolicy.headers_deadline``: a timer shuts
  the socket down inside the connection that waits for them (``registry_session``);
- a document's body (manifest, config, token, error) must arrive whole within
  ``RetryPolicy.deadline`` (``watchdog``);
- a layer blob must keep up a minimum rate: fewer than ``low_speed_limit`` bytes a second over
  ``low_speed_time`` seconds of waiting cuts the connection (``RateWindow``; git's
  ``http.lowSpeedLimit``/``lowSpeedTime``, curl's ``--speed-limit``/``--speed-time``).

Every bound is configurable through ``SIMAPP_SYNC_REGISTRY_*`` environment variables
(``RetryPolicy.from_environment``), so one setting holds for every command that talks to a
registry.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager
from urllib3.poolmanager import pool_classes_by_scheme as _DEFAULT_POOLS

from sync.errors import ConfigError

ENVIRONMENT_PREFIX = "SIMAPP_SYNC_REGISTRY_"


@dataclass(frozen=True)
class RetryPolicy:
    """How patient the registry client is, and how often it retries transient failures."""

    attempts: int = 5  # tries per request (and per resumed stretch of a blob)
    backoff: float = 0.5  # seconds before the first retry, doubled each time
    max_backoff: float = 8.0
    timeout: float = 60.0  # seconds of silence allowed between two reads
    connect_timeout: float = 30.0  # seconds to open a connection (docker's dialer: 30 s)
    headers_deadline: float = 60.0  # seconds for an answer's status line and headers
    deadline: float = 120.0  # seconds for a whole document body (manifest, config, token)
    low_speed_limit: int = 10 * 1024  # bytes a second a blob must keep up (0: no minimum) ...
    low_speed_time: float = 60.0  # ... over this many seconds of waiting for it

    def delays(self) -> Iterator[float]:
        """The pause before each retry."""
        delay = self.backoff
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_backoff)

    @property
    def timeouts(self) -> tuple[float, float]:
        """(connect, read) as requests takes them."""
        return self.connect_timeout, self.timeout

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> RetryPolicy:
        """The defaults, with any ``SIMAPP_SYNC_REGISTRY_<FIELD>`` variable set in ``environ``
        (``..._ATTEMPTS``, ``..._READ_TIMEOUT``, ``..._LOW_SPEED_LIMIT``...) taking over."""
        values: dict[str, Any] = {}
        for name, variable in ENVIRONMENT.items():
            text = environ.get(variable, "").strip()
            if text:
                values[name] = _parse(variable, text, int if name in _COUNTS else float,
                                      zero=name == "low_speed_limit")
        return cls(**values)


# the variable of each setting (README "Untrusted input" lists them with their defaults)
_RENAMED = {"timeout": "READ_TIMEOUT", "deadline": "DOCUMENT_DEADLINE"}
ENVIRONMENT = {field.name: ENVIRONMENT_PREFIX + _RENAMED.get(field.name, field.name.upper())
               for field in fields(RetryPolicy) if field.name not in ("backoff", "max_backoff")}
_COUNTS = ("attempts", "low_speed_limit")


def _parse(variable: str, text: str, kind: Callable[[str], float], *, zero: bool) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        allowed = "a number ≥ 0 (0 turns the minimum off)" if zero else "a positive number"
        raise ConfigError(f"environment variable {variable}={text!r:.40}: not {allowed}",
                          hint=f"unset it for the default, or set it to {allowed}")
    return value


# -- a clock on an answer's headers --------------------------------------------------------------


class HeadersTooSlow(TimeoutError):
    """An answer's status line and headers did not arrive within the deadline.

    A ``TimeoutError``, so urllib3 and requests report it as a read timeout (retried like one);
    ``headers_too_slow`` finds it again in the chain for the message.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no status line and headers within {seconds:g} s")
        self.seconds = seconds


_HEADERS_DEADLINE: ContextVar[float | None] = ContextVar("headers_deadline", default=None)


def headers_too_slow(error: BaseException) -> HeadersTooSlow | None:
    """The ``HeadersTooSlow`` behind ``error`` (requests wraps urllib3's wrapper of it)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, HeadersTooSlow):
            return current
        seen.add(id(current))
        nested = [arg for arg in current.args if isinstance(arg, BaseException)]
        current = current.__cause__ or current.__context__ or (nested[0] if nested else None)
    return None


def _cut(sock: object) -> None:
    """Shut ``sock`` down, waking a read blocked on it in another thread (TLS too: the plain
    socket's shutdown, not the TLS layer's, which would also drop its state under the reader)."""
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _answer_on_time(connection: HTTPConnection,
                    get: Callable[[], urllib3.BaseHTTPResponse]) -> urllib3.BaseHTTPResponse:
    """``get()`` (the connection's own ``getresponse``) within the deadline in force."""
    seconds = _HEADERS_DEADLINE.get()
    if seconds is None:
        return get()
    lock = threading.Lock()
    state = {"done": False, "cut": False}
    sock = connection.sock

    def cut() -> None:
        with lock:
            if not state["done"]:
                state["cut"] = True
                _cut(sock)

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        response = get()
    except BaseException as error:
        if state["cut"]:
            raise HeadersTooSlow(seconds) from error
        raise
    finally:
        with lock:
            state["done"] = True
        timer.cancel()
    if state["cut"]:  # headers cut short can still parse: never trust them
        response.close()
        raise HeadersTooSlow(seconds)
    return response


class _Connection(HTTPConnection):
    def getresponse(self) -> Any:
        return _answer_on_time(self, super().getresponse)


class _SecureConnection(HTTPSConnection):
    def getresponse(self) -> Any:
        return _answer_on_time(self, super().getresponse)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _SecurePool(HTTPSConnectionPool):
    ConnectionCls = _SecureConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _Pool, "https": _SecurePool}


class _Adapter(HTTPAdapter):
    """requests' adapter with connections that keep the headers deadline, proxies included
    (a SOCKS proxy keeps its own connections, and so no headers deadline)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme is _DEFAULT_POOLS:
            manager.pool_classes_by_scheme = _POOLS
        return manager


class _Session(requests.Session):
    """Every request it sends (redirects included) gets its headers within ``deadline``."""

    def __init__(self, headers_deadline: float) -> None:
        super().__init__()
        self.headers_deadline = headers_deadline
        for prefix in ("https://", "http://"):
            self.mount(prefix, _Adapter())

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        token = _HEADERS_DEADLINE.set(self.headers_deadline)
        try:
            return super().send(request, **kwargs)
        finally:
            _HEADERS_DEADLINE.reset(token)


def registry_session(retry: RetryPolicy) -> requests.Session:
    """A requests session for a registry: every answer's headers within the policy's deadline,
    and the body of a redirect read capped and on a clock before it is dropped."""
    session = _Session(retry.headers_deadline)
    session.headers["User-Agent"] = "simapp-sync"
    session.hooks["response"].append(_drop_redirect_body(retry.deadline))
    return session


REDIRECT_BODY = 64 * 1024  # a redirect's body is a line of HTML: read no more of it


def _drop_redirect_body(seconds: float) -> Callable[..., requests.Response]:
    """A response hook: requests reads a redirect's whole body before following it; read at
    most ``REDIRECT_BODY`` bytes of it, within ``seconds``, and close the rest unread."""
    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.is_redirect:
            with contextlib.suppress(*_READ_ERRORS), watchdog(response, seconds):
                left = REDIRECT_BODY
                while left > 0 and (piece := response.raw.read1(left, decode_content=False)):
                    left -= len(piece)
            response.close()  # requests then finds nothing more to read
        return response
    return hook


_READ_ERRORS = (OSError, urllib3.exceptions.HTTPError, requests.RequestException, ValueError)


# -- a clock on a document's body ----------------------------------------------------------------


@contextmanager
def watchdog(response: requests.Response, seconds: float) -> Iterator[threading.Event]:
    """Cut ``response``'s connection after ``seconds``; the event says whether it was cut.

    Only a clock around the whole transfer bounds a body trickled just under the socket
    timeout. Cutting shuts the socket down, which wakes a read blocked in another thread with
    an error the caller reports as too slow.
    """
    fired = threading.Event()

    def cut() -> None:
        fired.set()
        for sock in _sockets(response):
            _cut(sock)

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


# -- a minimum rate for blobs --------------------------------------------------------------------


class RateWindow:
    """Bytes received per window of ``seconds`` spent waiting for them.

    The clock runs only inside ``waiting()``: a reader that stops reading (its buffer is full,
    the flattener is busy) is never taken for a slow server.
    """

    def __init__(self, minimum: int, seconds: float) -> None:
        self.minimum = minimum
        self.seconds = seconds
        self.waited = 0.0  # seconds spent waiting, outside the current wait
        self.since: float | None = None  # when the current wait began
        self.start = 0.0  # where the current window began, in waited seconds
        self.received = 0  # bytes received in the current window

    @contextmanager
    def waiting(self) -> Iterator[None]:
        self.since = time.monotonic()
        try:
            yield
        finally:
            self.waited = self.clock()
            self.since = None

    def clock(self) -> float:
        return self.waited + (time.monotonic() - self.since if self.since is not None else 0.0)

    def add(self, count: int) -> bool | None:
        """Count ``count`` bytes received: None while the window runs, then whether the
        window that just ended kept up the minimum (the next one starts)."""
        self.received += count
        now = self.clock()
        if self.minimum <= 0 or now - self.start < self.seconds:
            return None
        kept = self.received >= self.minimum * (now - self.start)
        self.restart()
        return kept

    def restart(self) -> None:
        """Start a new window now (after the connection was cut)."""
        self.start = self.clock()
        self.received = 0
