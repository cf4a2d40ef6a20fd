"""Class 2 of issue 11: token realms are judged on the parsed URL; a secret goes only over https,
or over plain http to the registry's own origin; userinfo is refused; redirects carry nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pytest

from sync.config.manifest import Manifest, PathMapping
from sync.errors import ImageError
from sync.image.credentials import Credentials
from tests.hostile.loopback import Loopback, answer, loopback
from tests.image.registries import pull_tree

SECRET = "s3cret-pass-91f"
CREDENTIALS = Credentials("maintainer", SECRET)


def manifest(origin: str) -> Manifest:
    return Manifest(image=f"{origin}/simapp", tag="v1", digest=None, platform="linux/amd64",
                    branch="upstream", paths=(PathMapping("/opt/amazon", "bundle"),))


def challenging(realm: Callable[[Loopback], str]
                ) -> Callable[[BaseHTTPRequestHandler, Loopback], None]:
    """A registry answering /v2/ with a Bearer challenge naming ``realm(server)``."""
    def script(handler: BaseHTTPRequestHandler, server: Loopback) -> None:
        if handler.path.startswith("/v2/") and "Authorization" not in handler.headers:
            answer(handler, 401, headers={
                "WWW-Authenticate": f'Bearer realm="{realm(server)}",service="x"'})
        elif handler.path.startswith("/token"):
            answer(handler, 200, json.dumps({"token": "t0k"}).encode())
        else:
            answer(handler, 404, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}')
    return script


def carried_secret(server: Loopback) -> bool:
    encoded = base64.b64encode(f"maintainer:{SECRET}".encode()).decode()
    return any(encoded in str(seen.headers) or SECRET.encode() in seen.body
               for seen in server.seen)


def test_a_same_origin_plain_http_realm_of_a_loopback_registry_gets_the_credentials():
    with loopback(challenging(lambda s: f"http://{s.origin}/token")) as registry:
        with pytest.raises(ImageError, match="not found in the registry"):
            pull_tree(manifest(registry.origin), credentials=CREDENTIALS)
        assert carried_secret(registry)  # the rule lets them through: same scheme, host, port


def test_no_secret_goes_over_plain_http_to_another_port_even_on_loopback():
    with loopback(challenging(lambda s: "")) as tokens:
        realm = f"http://{tokens.origin}/token"
        with loopback(challenging(lambda s: realm)) as registry:
            with pytest.raises(ImageError, match="refusing to send your credentials") as error:
                pull_tree(manifest(registry.origin), credentials=CREDENTIALS)
            assert not carried_secret(registry)
        assert not tokens.seen and SECRET not in str(error.value)


@pytest.mark.parametrize("realm, refusal", [
    ("http://127.0.0.1:1@tokens.example/token", "carries a user name or password"),
    ("https://user:pw@tokens.example/token", "carries a user name or password"),
    ("http://localhost.tokens.example/token", "which is not HTTPS"),
    ("file:///etc/passwd", "not an http(s) URL"),
    ("https:///token", "not an http(s) URL"),
    ("http://[::1/token", "not an http(s) URL"),
])
def test_realms_are_judged_on_the_parsed_url_never_on_prefixes(realm: str, refusal: str):
    with loopback(challenging(lambda s: realm)) as registry:
        with pytest.raises(ImageError, match=refusal.replace("(", r"\(").replace(")", r"\)")):
            pull_tree(manifest(registry.origin), credentials=CREDENTIALS)
        assert not carried_secret(registry)


def test_a_token_answer_that_redirects_carries_nothing_to_another_origin():
    with loopback(challenging(lambda s: "")) as elsewhere:
        def script(handler: BaseHTTPRequestHandler, server: Loopback) -> None:
            if handler.path.startswith("/token"):
                answer(handler, 307, headers={"Location": f"http://{elsewhere.origin}/token"})
            else:
                challenging(lambda s: f"http://{s.origin}/token")(handler, server)

        with loopback(script) as registry:
            with pytest.raises(ImageError, match="gave no token"):
                pull_tree(manifest(registry.origin), credentials=CREDENTIALS)
            with pytest.raises(ImageError, match="gave no token"):
                pull_tree(manifest(registry.origin),
                          credentials=Credentials("<token>", SECRET, identity_token=True))
        assert not elsewhere.seen


def test_a_token_answer_is_read_only_up_to_its_cap():
    from sync.image.distribution import MAX_ANSWER

    def script(handler: BaseHTTPRequestHandler, server: Loopback) -> None:
        if handler.path.startswith("/token"):
            handler.send_response(200)
            handler.send_header("Content-Length", str(64 * MAX_ANSWER))
            handler.end_headers()
            try:
                for _ in range(64):  # bounded: 64 MiB at most, the client hangs up long before
                    handler.wfile.write(b'{"token": "' + b"a" * (MAX_ANSWER - 11))
            except OSError:
                pass
        else:
            challenging(lambda s: f"http://{s.origin}/token")(handler, server)

    with loopback(script) as registry, pytest.raises(ImageError, match="gave no token"):
        pull_tree(manifest(registry.origin), credentials=None)
