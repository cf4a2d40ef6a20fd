"""The distribution API client: plain HTTP only where safe, retries and resumed downloads, and
authentication (bearer tokens, basic, the Docker config's credentials) against real registries.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import docker
import pytest
import requests

from sync.config.manifest import Manifest, PathMapping
from sync.errors import ImageError
from sync.image import credentials
from sync.image.distribution import RegistryClient
from sync.image.flatten import flatten
from sync.image.registry import open_registry_image
from tests.fixtures.docker_services import ImageFactory, Registry, start_registry
from tests.fixtures.http_server import serving
from tests.fixtures.token_server import TokenServer
from tests.image.conftest import GitHashingStore
from tests.image.registries import (
    BASE,
    EXPECTED,
    FAST,
    SIMAPP,
    UPPER,
    install_helper,
    pull_tree,
    repository_path,
    stored_manifest,
    write_docker_config,
)

pytestmark = pytest.mark.docker


def test_plain_http_only_for_loopback_or_a_named_insecure_registry() -> None:
    assert RegistryClient("registry.example:5000", "x").base.startswith("https://")
    assert RegistryClient("127.0.0.1:5000", "x").base.startswith("http://")
    assert RegistryClient("localhost:5000", "x").base.startswith("http://")
    assert RegistryClient("[::1]:5000", "x").base.startswith("http://")
    insecure = RegistryClient("registry.example:5000", "x", insecure=["registry.example:5000"])
    assert insecure.base == "http://registry.example:5000/v2/x"


# --- failures ------------------------------------------------------------------------------------


def test_an_unreachable_registry_is_an_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    manifest = Manifest(image=f"127.0.0.1:{port}/simapp", tag="v1", digest=None,
                        platform="linux/amd64", branch="upstream",
                        paths=(PathMapping("/opt/amazon", "bundle"),))

    with pytest.raises(ImageError) as error:
        pull_tree(manifest)

    assert error.value.message == (f"cannot reach the registry at http://127.0.0.1:{port}: "
                                   "connection refused (tried 3 times)")
    assert "--from docker-archive:" in (error.value.hint or "")


def test_the_registry_going_down_mid_pull_is_an_error(
        docker_client: docker.DockerClient, docker_engine: object, tmp_path: Path) -> None:
    own = start_registry()
    try:
        factory = ImageFactory(docker_client, own, tmp_path / "images",
                               docker_engine.platform)  # type: ignore[attr-defined]
        pushed = factory.push("down", [BASE, UPPER])
        with open_registry_image(pushed.manifest(), retry=FAST) as image:
            with image.layers[0].open() as stream:
                while stream.read(1 << 16):
                    pass
            own.stop()
            with pytest.raises(ImageError, match="cannot reach the registry at http://127"):
                flatten(image.layers, pushed.manifest().paths, GitHashingStore())
    finally:
        own.stop()


class FlakyProxy:
    """Forwards to the registry, but cuts the first response for a blob in the middle."""

    def __init__(self, registry: Registry, cut_after: int) -> None:
        self.registry = registry
        self.cut_after = cut_after
        self.cut: set[str] = set()
        self.ranges: list[str] = []

    @contextmanager
    def running(self) -> Iterator[str]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept",
                                                                                  "range")}
                if "Range" in headers:
                    proxy.ranges.append(headers["Range"])
                upstream = requests.get(proxy.registry.url + self.path, headers=headers,
                                        stream=True, timeout=10)
                body = upstream.raw.read()
                self.send_response(upstream.status_code)
                for key in ("Content-Type", "Docker-Content-Digest", "Content-Range"):
                    if key in upstream.headers:
                        self.send_header(key, upstream.headers[key])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if "/blobs/" in self.path and self.path not in proxy.cut and \
                        len(body) > proxy.cut_after:
                    proxy.cut.add(self.path)
                    self.wfile.write(body[:proxy.cut_after])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        with serving(Handler) as address:
            yield address


def test_a_broken_download_resumes_with_a_range_request(
        images: ImageFactory, registry: Registry) -> None:
    big = os.urandom(300_000)  # incompressible: the layer blob is larger than the cut
    pushed = images.push("flaky", [{"opt/amazon/big.bin": big}, UPPER])
    proxy = FlakyProxy(registry, cut_after=100_000)

    with proxy.running() as address:
        manifest = replace(pushed.manifest(), image=f"{address}/{repository_path(pushed)}")
        tree, _ = pull_tree(manifest)

    assert tree["bundle/big.bin"] == (0o100644, big)
    first_layer = stored_manifest(registry, pushed.digest)["layers"][0]  # type: ignore[index]
    assert proxy.cut == {f"/v2/{repository_path(pushed)}/blobs/{first_layer['digest']}"}
    assert proxy.ranges == ["bytes=100000-"]  # resumed where it broke off


# --- authentication ------------------------------------------------------------------------------


@contextmanager
def challenging_registry(challenge: str) -> Iterator[str]:
    """A loopback server answering every request with 401 and ``challenge``."""

    class Challenge(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            self.send_response(401)
            self.send_header("WWW-Authenticate", challenge)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Challenge) as address:
        yield address


def test_credentials_never_go_to_a_plain_http_token_realm() -> None:
    challenge = 'Bearer realm="http://tokens.example/token",service="x"'
    with challenging_registry(challenge) as address:
        manifest = Manifest(image=f"{address}/simapp", tag="v1", digest=None,
                            platform="linux/amd64", branch="upstream",
                            paths=(PathMapping("/opt/amazon", "bundle"),))
        with pytest.raises(ImageError, match="token requests to http://tokens.example/token, "
                                             "which is not HTTPS") as error:
            pull_tree(manifest, credentials=credentials.Credentials("u", "secret"))
    assert error.value.hint == "if you trust it, pass --insecure-registry tokens.example"
    assert "secret" not in str(error.value)


def test_an_unknown_authentication_scheme_is_an_error() -> None:
    with challenging_registry('Negotiate') as address:
        manifest = Manifest(image=f"{address}/simapp", tag="v1", digest=None,
                            platform="linux/amd64", branch="upstream",
                            paths=(PathMapping("/opt/amazon", "bundle"),))
        with pytest.raises(ImageError, match="an authentication this tool does not speak "
                                             r"\(Negotiate\)"):
            pull_tree(manifest, credentials=None)


@pytest.fixture
def token_registry(tmp_path: Path, docker_client: docker.DockerClient,
                   docker_engine: object) -> Iterator[tuple[TokenServer, ImageFactory]]:
    """A registry that demands tokens from a token server of ours, and a factory pushing to it."""
    server = TokenServer(tmp_path / "token", users={"maintainer": "s3cret-pass"}).start()
    locked = start_registry(auth=server.registry_auth())
    server.fronting = locked.address  # credentialed pulls go through server.origin (see fronted)
    try:
        yield server, ImageFactory(docker_client, locked, tmp_path / "images",
                                   docker_engine.platform)  # type: ignore[attr-defined]
    finally:
        locked.stop()
        server.stop()


def fronted(server: TokenServer, manifest: Manifest) -> tuple[Manifest, str]:
    """``manifest`` pulled through the token server's origin, and that registry host.

    Credentials go over plain HTTP only to the registry's own origin, so the tests that send
    some pull from the token server, which relays the registry API: realm and registry share it.
    """
    path = manifest.image.split("/", 1)[1]
    return replace(manifest, image=f"{server.origin}/{path}"), server.origin


def test_the_anonymous_token_flow(token_registry: tuple[TokenServer, ImageFactory],
                                  caplog: pytest.LogCaptureFixture,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    server, factory = token_registry
    pushed = factory.push("public", [BASE, UPPER])
    server.requests.clear()
    caplog.set_level(logging.DEBUG)

    tree, _ = pull_tree(pushed.manifest(SIMAPP), credentials=None)

    assert tree == EXPECTED
    assert server.requests and all(
        request.user is None and request.scopes == (f"repository:{repository_path(pushed)}:pull",)
        for request in server.requests)
    output = caplog.text + "".join(capsys.readouterr())
    assert not any(token in output for token in server.issued)


def test_credentials_from_the_docker_config(token_registry: tuple[TokenServer, ImageFactory],
                                            caplog: pytest.LogCaptureFixture) -> None:
    server, factory = token_registry
    pushed = factory.push("private", [BASE, UPPER])
    server.locked = True
    manifest, registry_host = fronted(server, pushed.manifest(SIMAPP))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ImageError, match="refused access without credentials") as error:
        pull_tree(manifest)
    assert f"docker login {registry_host}" in (error.value.hint or "")

    import base64
    auth = base64.b64encode(b"maintainer:s3cret-pass").decode()
    write_docker_config({"auths": {registry_host: {"auth": auth}}})
    tree, _ = pull_tree(manifest)
    assert tree == EXPECTED
    assert server.requests[-1].user == "maintainer"

    wrong = base64.b64encode(b"maintainer:wrong").decode()
    write_docker_config({"auths": {f"https://{registry_host}/v1/": {"auth": wrong}}})
    with pytest.raises(ImageError, match="refused access with the Docker config's credentials: "
                                         "its token service refused a token"):
        pull_tree(manifest)
    assert "s3cret-pass" not in caplog.text and "wrong" not in str(error.value)


def test_an_identity_token_from_the_docker_config(
        token_registry: tuple[TokenServer, ImageFactory], caplog: pytest.LogCaptureFixture
) -> None:
    server, factory = token_registry
    pushed = factory.push("oauth", [BASE, UPPER])
    server.locked = True
    server.refresh_tokens["refresh-me-7f3a"] = "maintainer"
    manifest, registry_host = fronted(server, pushed.manifest(SIMAPP))
    caplog.set_level(logging.DEBUG)

    write_docker_config({"auths": {registry_host: {"identitytoken": "refresh-me-7f3a"}}})
    tree, _ = pull_tree(manifest)

    assert tree == EXPECTED
    assert server.requests[-1].user == "maintainer"  # through the OAuth2 refresh-token form
    assert "refresh-me-7f3a" not in caplog.text


def test_credentials_from_a_credential_helper(token_registry: tuple[TokenServer, ImageFactory],
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server, factory = token_registry
    pushed = factory.push("helped", [BASE, UPPER])
    server.locked = True
    manifest, registry_host = fronted(server, pushed.manifest(SIMAPP))
    log = install_helper(tmp_path, monkeypatch, "simapptest",
                         {registry_host: ("maintainer", "s3cret-pass")})

    write_docker_config({"credHelpers": {registry_host: "simapptest"}})
    tree, _ = pull_tree(manifest)
    assert tree == EXPECTED
    assert log.read_text().splitlines() == [f"get {registry_host}"]

    write_docker_config({"credsStore": "simapptest"})  # the default helper, for every registry
    tree, _ = pull_tree(manifest)
    assert tree == EXPECTED
    assert server.requests[-1].user == "maintainer"
