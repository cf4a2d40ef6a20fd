"""The registry client's clocks: settings from the environment, the headers deadline of every
answer (through a proxy from the environment too), and the window behind the minimum rate."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from sync.errors import ConfigError
from sync.image.deadlines import (
    ENVIRONMENT,
    RateWindow,
    RetryPolicy,
    headers_too_slow,
    registry_session,
)
from tests.hostile.loopback import Loopback, answer, loopback


def test_every_setting_but_the_backoff_has_a_variable_and_unset_ones_keep_their_default():
    assert ENVIRONMENT == {
        "attempts": "SIMAPP_SYNC_REGISTRY_ATTEMPTS",
        "timeout": "SIMAPP_SYNC_REGISTRY_READ_TIMEOUT",
        "connect_timeout": "SIMAPP_SYNC_REGISTRY_CONNECT_TIMEOUT",
        "headers_deadline": "SIMAPP_SYNC_REGISTRY_HEADERS_DEADLINE",
        "deadline": "SIMAPP_SYNC_REGISTRY_DOCUMENT_DEADLINE",
        "low_speed_limit": "SIMAPP_SYNC_REGISTRY_LOW_SPEED_LIMIT",
        "low_speed_time": "SIMAPP_SYNC_REGISTRY_LOW_SPEED_TIME",
    }
    assert RetryPolicy.from_environment({}) == RetryPolicy()
    policy = RetryPolicy.from_environment({
        "SIMAPP_SYNC_REGISTRY_ATTEMPTS": "2", "SIMAPP_SYNC_REGISTRY_READ_TIMEOUT": "1.5",
        "SIMAPP_SYNC_REGISTRY_CONNECT_TIMEOUT": " 3 ", "SIMAPP_SYNC_REGISTRY_LOW_SPEED_LIMIT": "0",
        "SIMAPP_SYNC_REGISTRY_HEADERS_DEADLINE": ""})
    assert (policy.attempts, policy.timeouts, policy.low_speed_limit) == (2, (3.0, 1.5), 0)
    assert policy.headers_deadline == RetryPolicy().headers_deadline


@pytest.mark.parametrize("variable, value", [
    ("SIMAPP_SYNC_REGISTRY_READ_TIMEOUT", "soon"),
    ("SIMAPP_SYNC_REGISTRY_HEADERS_DEADLINE", "0"),
    ("SIMAPP_SYNC_REGISTRY_DOCUMENT_DEADLINE", "-5"),
    ("SIMAPP_SYNC_REGISTRY_LOW_SPEED_TIME", "inf"),
    ("SIMAPP_SYNC_REGISTRY_ATTEMPTS", "2.5"),
    ("SIMAPP_SYNC_REGISTRY_LOW_SPEED_LIMIT", "-1"),
])
def test_a_malformed_setting_is_refused_by_name(variable: str, value: str):
    with pytest.raises(ConfigError, match=variable) as error:
        RetryPolicy.from_environment({variable: value})
    assert error.value.exit_code == 2


def trickling_headers(handler: BaseHTTPRequestHandler, server: Loopback) -> None:
    """The status line and headers a byte every 50 ms (10 s at most)."""
    data = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 200 + b"\r\nContent-Length: 0\r\n\r\n"
    try:
        for index in range(len(data)):
            handler.wfile.write(data[index:index + 1])
            handler.wfile.flush()
            time.sleep(0.05)
    except OSError:
        pass


def test_an_answer_whose_headers_trickle_is_cut_at_the_headers_deadline():
    session = registry_session(RetryPolicy(headers_deadline=0.5, timeout=5))
    with loopback(trickling_headers) as server, session:
        started = time.monotonic()
        with pytest.raises(requests.RequestException) as error:
            session.get(f"http://{server.origin}/v2/", timeout=(5, 5))
        assert time.monotonic() - started < 3
    slow = headers_too_slow(error.value)
    assert slow is not None and slow.seconds == 0.5


def test_the_headers_deadline_holds_through_a_proxy_from_the_environment(
        monkeypatch: pytest.MonkeyPatch):
    """HTTP_PROXY is honoured (the request reaches the proxy, by absolute URL), and the
    proxy's connections keep the deadline too."""
    with loopback(trickling_headers) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://{proxy.origin}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        session = registry_session(RetryPolicy(headers_deadline=0.5, timeout=5))
        with session, pytest.raises(requests.RequestException) as error:
            session.get("http://registry.invalid:5000/v2/", timeout=(5, 5))
        assert [seen.path for seen in proxy.seen] == ["http://registry.invalid:5000/v2/"]
    assert headers_too_slow(error.value) is not None


def test_a_prompt_answer_is_untouched():
    def prompt(handler: BaseHTTPRequestHandler, server: Loopback) -> None:
        answer(handler, 200, b"{}")

    session = registry_session(RetryPolicy(headers_deadline=0.2))
    with loopback(prompt) as server, session:
        for _ in range(3):  # a kept-alive connection keeps its clock per answer
            response = session.get(f"http://{server.origin}/v2/", timeout=(5, 5))
            assert response.status_code == 200 and response.content == b"{}"
            time.sleep(0.3)


def test_the_rate_window_only_counts_time_spent_waiting():
    window = RateWindow(minimum=1000, seconds=0.2)
    time.sleep(0.3)  # not waiting: a reader busy elsewhere is not a slow server
    with window.waiting():
        assert window.add(10) is None
    time.sleep(0.3)
    with window.waiting():
        assert window.add(10) is None
        time.sleep(0.25)
        assert window.add(10) is False  # 30 bytes in 0.25 s of waiting: short
        assert window.add(500) is None  # a new window began
        time.sleep(0.2)
        assert window.add(10) is True  # 510 bytes in 0.2 s: kept


def test_a_minimum_of_zero_turns_the_rate_check_off():
    window = RateWindow(minimum=0, seconds=0.01)
    with window.waiting():
        time.sleep(0.05)
        assert window.add(0) is None
