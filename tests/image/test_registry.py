"""The docker:// source, against the session's real registry with images pushed by the real engine.

Images are pushed and removed from the engine, so everything read here comes from the registry.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import socket
import tarfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import docker
import pytest
import requests

from sync.config.manifest import Manifest, PathMapping
from sync.errors import ConfigError, ImageError
from sync.image import credentials
from sync.image.archive import open_archive
from sync.image.daemon import open_daemon_image
from sync.image.distribution import RegistryClient, RetryPolicy
from sync.image.flatten import flatten
from sync.image.model import MODE_EXECUTABLE, MODE_SYMLINK
from sync.image.registry import ImageReference, open_registry_image, parse_reference
from tests.builders import images as builders
from tests.fixtures.docker_services import (
    Entry,
    Fifo,
    File,
    Hardlink,
    ImageFactory,
    PushedImage,
    Registry,
    Symlink,
    start_registry,
)
from tests.fixtures.token_server import TokenServer
from tests.image.conftest import GitHashingStore, read_tree

pytestmark = pytest.mark.docker

FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02, timeout=10)
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

BASE: dict[str, Entry] = {
    "opt/amazon/markov/agent.py": File(b"print('agent')\n", mode=0o755),
    "opt/amazon/config.yaml": b"track: reinvent\n",
    "opt/amazon/old.txt": b"removed by the upper layer\n",
    "opt/amazon/rl_coach/build/lib.py": b"# a real folder named build\n",
    "opt/elsewhere/secret": b"not mapped\n",
}
UPPER: dict[str, Entry] = {
    "opt/amazon/.wh.old.txt": b"",
    "opt/amazon/config.yaml": b"track: reinvent2019\n",
    "opt/amazon/config-link": Symlink("config.yaml"),
}
THIRD: dict[str, Entry] = {
    "opt/amazon/rl_coach/.wh..wh..opq": b"",
    "opt/amazon/rl_coach/new.py": b"# only this survives\n",
    "opt/amazon/build/colcon.log": b"excluded by /build/\n",
    "opt/amazon/markov/data.txt": b"shared\n",
    "opt/amazon/markov/data-again.txt": Hardlink("opt/amazon/markov/data.txt"),
    "opt/amazon/markov/pipe": Fifo(),
}
EXPECTED = {
    "bundle/markov/agent.py": (MODE_EXECUTABLE, b"print('agent')\n"),
    "bundle/config.yaml": (0o100644, b"track: reinvent2019\n"),
    "bundle/config-link": (MODE_SYMLINK, b"config.yaml"),
    "bundle/rl_coach/build/lib.py": (0o100644, b"# a real folder named build\n"),
}
SIMAPP = PathMapping("/opt/amazon", "bundle", exclude=("/build/",))


def repository_path(image: PushedImage) -> str:
    """"127.0.0.1:PORT/name" -> "name"."""
    return image.repository.split("/", 1)[1]


def pull_tree(manifest: Manifest, **options: object) -> tuple[dict[str, tuple[int, bytes]],
                                                               object]:
    store = GitHashingStore()
    with open_registry_image(manifest, retry=FAST, **options) as image:  # type: ignore[arg-type]
        result = flatten(image.layers, manifest.paths, store)
    return read_tree(result, store), image.info


def put_manifest(registry: Registry, repository: str, reference: str, document: object,
                 media_type: str) -> str:
    """PUT a manifest or index; return its digest."""
    body = json.dumps(document).encode()
    response = requests.put(f"{registry.url}/v2/{repository}/manifests/{reference}", data=body,
                            headers={"Content-Type": media_type}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.headers["Docker-Content-Digest"])


def stored_manifest(registry: Registry, digest: str) -> dict[str, object]:
    return json.loads(registry.blob_path(digest).read_bytes())


def descriptor(registry: Registry, digest: str, media_type: str, platform: str) -> dict:
    os_name, _, architecture = platform.partition("/")
    return {"mediaType": media_type, "digest": digest,
            "size": registry.blob_path(digest).stat().st_size,
            "platform": {"os": os_name, "architecture": architecture}}


# --- references ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("ubuntu", ImageReference("registry-1.docker.io", "library/ubuntu", None, None)),
    ("docker.io/ubuntu:22.04", ImageReference("registry-1.docker.io", "library/ubuntu",
                                              "22.04", None)),
    ("public.ecr.aws/k1d3r4z1/deepracer-sim-public:latest",
     ImageReference("public.ecr.aws", "k1d3r4z1/deepracer-sim-public", "latest", None)),
    ("127.0.0.1:5000/simapp@sha256:" + "a" * 64,
     ImageReference("127.0.0.1:5000", "simapp", None, "sha256:" + "a" * 64)),
    ("localhost/a/b:v1", ImageReference("localhost", "a/b", "v1", None)),
])
def test_references_are_parsed_as_docker_does(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize("text", ["Upper/Case", "x@sha256:short", "x:bad/tag:", "x:-bad"])
def test_invalid_references_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_reference(text)


def test_plain_http_only_for_loopback_or_a_named_insecure_registry() -> None:
    assert RegistryClient("registry.example:5000", "x").base.startswith("https://")
    assert RegistryClient("127.0.0.1:5000", "x").base.startswith("http://")
    assert RegistryClient("localhost:5000", "x").base.startswith("http://")
    assert RegistryClient("[::1]:5000", "x").base.startswith("http://")
    insecure = RegistryClient("registry.example:5000", "x", insecure=["registry.example:5000"])
    assert insecure.base == "http://registry.example:5000/v2/x"


# --- resolving and reading -----------------------------------------------------------------------


def test_reads_an_image_straight_from_the_registry(images: ImageFactory,
                                                   registry: Registry) -> None:
    pushed = images.push("simapp", [BASE, UPPER])
    before = registry.mark()

    tree, info = pull_tree(pushed.manifest(SIMAPP))

    assert tree == EXPECTED
    assert info.digest == pushed.digest  # type: ignore[attr-defined]
    assert info.image_id == pushed.image_id  # type: ignore[attr-defined]
    assert info.reference == pushed.reference  # type: ignore[attr-defined]
    assert info.created.startswith("2024-01-01T00:00:00")  # type: ignore[attr-defined]
    layer_digests = [layer["digest"] for layer in
                     stored_manifest(registry, pushed.digest)["layers"]]  # type: ignore[index]
    gets = registry.blob_gets(since=before)
    # the config first; the layers download concurrently, in any order, each once
    assert gets[0] == pushed.image_id and sorted(gets[1:]) == sorted(layer_digests)


def test_resolves_a_tag_through_an_index_to_the_platform_manifest(
        images: ImageFactory, registry: Registry) -> None:
    amd = images.push("multi", [{"opt/amazon/which": b"amd64\n"}], tag="amd64")
    repository = repository_path(amd)
    arm = images.push(repository, [{"opt/amazon/which": b"arm64\n"}], tag="arm64",
                      unique=False, platform="linux/arm64")
    index = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        descriptor(registry, arm.digest, DOCKER_MANIFEST, "linux/arm64"),
        descriptor(registry, amd.digest, DOCKER_MANIFEST, amd.platform)]}
    index_digest = put_manifest(registry, repository, "multi", index, DOCKER_LIST)

    for wanted, content in ((amd.platform, b"amd64\n"), ("linux/arm64", b"arm64\n")):
        manifest = replace(amd.manifest(tag="multi"), platform=wanted)
        tree, info = pull_tree(manifest)
        assert tree == {"bundle/which": (0o100644, content)}
        assert info.digest == index_digest  # type: ignore[attr-defined]  # the repo digest

    with pytest.raises(ImageError, match=r"no manifest for platform linux/s390x \(available: "
                                         r"linux/amd64, linux/arm64\)") as error:
        pull_tree(replace(amd.manifest(tag="multi"), platform="linux/s390x"))
    assert "platform:" in (error.value.hint or "")


def test_accepts_oci_media_types(images: ImageFactory, registry: Registry) -> None:
    pushed = images.push("oci", [BASE, UPPER])
    repository = repository_path(pushed)
    document = stored_manifest(registry, pushed.digest)
    oci = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {**document["config"],  # type: ignore[dict-item]
                      "mediaType": "application/vnd.oci.image.config.v1+json"},
           "layers": [{**layer, "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}
                      for layer in document["layers"]]}  # type: ignore[attr-defined]
    oci_digest = put_manifest(registry, repository, "oci-manifest", oci, OCI_MANIFEST)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(registry, oci_digest, OCI_MANIFEST, pushed.platform)]}
    put_manifest(registry, repository, "oci-index", index, OCI_INDEX)

    for tag in ("oci-manifest", "oci-index"):
        tree, info = pull_tree(pushed.manifest(SIMAPP, tag=tag))
        assert tree == EXPECTED
        assert info.image_id == pushed.image_id  # type: ignore[attr-defined]


def upload_blob(registry: Registry, repository: str, data: bytes) -> str:
    """Push one blob through the upload API; return its digest."""
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    started = requests.post(f"{registry.url}/v2/{repository}/blobs/uploads/", timeout=10)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    url = location if location.startswith("http") else registry.url + location
    done = requests.put(f"{url}{'&' if '?' in url else '?'}digest={digest}", data=data,
                        headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert done.status_code == 201, done.text
    return digest


def test_reads_zstd_and_gzip_layers_of_an_oci_image(registry: Registry) -> None:
    repository = f"zstd-{uuid.uuid4().hex[:8]}"
    blobs = [builders.layer_blob([builders.File("opt/amazon/lower.txt", b"gzip layer\n"),
                               builders.File("opt/amazon/both.txt", b"from gzip\n")], "gzip"),
             builders.layer_blob([builders.File("opt/amazon/upper.txt", b"zstd layer\n"),
                               builders.File("opt/amazon/both.txt", b"from zstd\n")], "zstd-multi")]
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                         "rootfs": {"type": "layers",
                                    "diff_ids": [built.diff_id for _, built in blobs]}}).encode()
    config_digest = upload_blob(registry, repository, config)
    layers = []
    for (data, _), kind in zip(blobs, ("tar+gzip", "tar+zstd"), strict=True):
        layers.append({"mediaType": f"application/vnd.oci.image.layer.v1.{kind}",
                       "digest": upload_blob(registry, repository, data), "size": len(data)})
    put_manifest(registry, repository, "v1", {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": layers,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)}}, OCI_MANIFEST)
    manifest = Manifest(image=f"{registry.address}/{repository}", tag="v1", digest=None,
                        platform="linux/amd64", branch="upstream",
                        paths=(PathMapping("/opt/amazon", "bundle"),))

    tree, info = pull_tree(manifest)

    assert tree == {"bundle/lower.txt": (0o100644, b"gzip layer\n"),
                    "bundle/upper.txt": (0o100644, b"zstd layer\n"),
                    "bundle/both.txt": (0o100644, b"from zstd\n")}
    assert info.image_id == config_digest  # type: ignore[attr-defined]


def test_a_pinned_digest_is_fetched_and_checked(images: ImageFactory) -> None:
    pushed = images.push("pinned", [BASE, UPPER])

    tree, info = pull_tree(pushed.manifest(SIMAPP, pin=True))

    assert tree == EXPECTED
    assert info.reference == pushed.pinned  # type: ignore[attr-defined]


def test_registry_docker_daemon_and_docker_archive_give_the_same_tree(
        images: ImageFactory, docker_client: docker.DockerClient) -> None:
    pushed = images.push("same", [BASE, UPPER, THIRD])
    manifest = replace(pushed.manifest(), paths=(SIMAPP, PathMapping("/opt/elsewhere", "else")))
    results = []
    with open_registry_image(manifest, retry=FAST) as image:
        results.append((flatten(image.layers, manifest.paths, GitHashingStore()), image.info))
    with open_daemon_image(manifest, client=docker_client) as image:
        results.append((flatten(image.layers, manifest.paths, GitHashingStore()), image.info))
    saved = images.save(pushed.reference)
    with open_archive(f"docker-archive:{saved}", manifest.platform) as image:
        results.append((flatten(image.layers, manifest.paths, GitHashingStore()), image.info))

    trees = [dict(result.tree.walk()) for result, _ in results]
    assert trees[0] == trees[1] == trees[2]
    assert set(trees[0]) == {
        "bundle/config-link", "bundle/config.yaml", "bundle/markov/agent.py",
        "bundle/markov/data-again.txt", "bundle/markov/data.txt", "bundle/rl_coach/new.py",
        "else/secret"}
    assert {info.image_id for _, info in results} == {pushed.image_id}
    assert results[0][1].digest == results[1][1].digest == pushed.digest
    registry_report, engine_report = results[0][0].report, results[1][0].report
    assert (registry_report.files, registry_report.bytes, registry_report.skipped) == (
        engine_report.files, engine_report.bytes, engine_report.skipped)


# --- integrity -----------------------------------------------------------------------------------


def gzip_layer(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def test_a_corrupted_layer_blob_is_rejected(images: ImageFactory, registry: Registry) -> None:
    # blobs are shared by every repository of the registry: damage only one no other test has
    unique = uuid.uuid4().hex.encode()
    pushed = images.push("tampered", [{"opt/amazon/app.py": b"genuine\n" * 1000 + unique}])
    layer = stored_manifest(registry, pushed.digest)["layers"][0]  # type: ignore[index]
    # a valid gzip tar of the same size (gzip allows zero padding): only its digest tells
    evil = gzip_layer({"opt/amazon/app.py": b"evil\n"})
    assert len(evil) < layer["size"]
    registry.blob_path(layer["digest"]).write_bytes(evil.ljust(layer["size"], b"\0"))
    store = GitHashingStore()

    with pytest.raises(ImageError, match=rf"layer 1/1 {layer['digest'][:19]}.*: digest "
                                         rf"mismatch: expected {layer['digest']}") as error, \
            open_registry_image(pushed.manifest(), retry=FAST) as image:
        flatten(image.layers, pushed.manifest().paths, store)

    assert error.value.exit_code == 2


def test_a_manifest_that_does_not_match_its_digest_is_rejected(
        images: ImageFactory, registry: Registry) -> None:
    unique = uuid.uuid4().hex.encode()  # the manifest blob we damage is ours alone
    pushed = images.push("swapped", [{"opt/amazon/a": b"version 1\n" + unique}], tag="v1")
    other = images.push("swapped", [{"opt/amazon/a": b"version 2\n" + unique}], tag="v2",
                        unique=False)
    registry.blob_path(pushed.digest).write_bytes(registry.blob_path(other.digest).read_bytes())

    with pytest.raises(ImageError, match=f"digest mismatch.*expected {pushed.digest}"):
        pull_tree(pushed.manifest(pin=True))


def test_a_tag_is_checked_against_the_pinned_digest(images: ImageFactory) -> None:
    pushed = images.push("pin", [{"opt/amazon/a": b"a\n"}])
    manifest = pushed.manifest(digest="sha256:" + "0" * 64)

    with pytest.raises(ImageError, match="pins digest: sha256:0000"), \
            open_registry_image(manifest, parse_reference(pushed.reference), retry=FAST):
        pytest.fail("the context must not be entered")


# --- failures ------------------------------------------------------------------------------------


def test_a_missing_tag_is_an_error(images: ImageFactory) -> None:
    pushed = images.push("tags", [{"opt/amazon/a": b"a\n"}])

    with pytest.raises(ImageError, match=r":no-such-tag: not found in the registry \(HTTP 404 "
                                         r"\(MANIFEST_UNKNOWN") as error:
        pull_tree(pushed.manifest(tag="no-such-tag"))
    assert "tag:" in (error.value.hint or "")


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

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


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


def test_a_tag_that_looks_like_an_algorithm_is_still_a_tag(images: ImageFactory) -> None:
    pushed = images.push("shatag", [BASE, UPPER], tag="sha256-lookalike")

    tree, info = pull_tree(pushed.manifest(SIMAPP))

    assert tree == EXPECTED and info.digest == pushed.digest  # type: ignore[attr-defined]


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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Challenge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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
    try:
        yield server, ImageFactory(docker_client, locked, tmp_path / "images",
                                   docker_engine.platform)  # type: ignore[attr-defined]
    finally:
        locked.stop()
        server.stop()


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


def write_docker_config(document: dict[str, object]) -> None:
    path = credentials.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def test_credentials_from_the_docker_config(token_registry: tuple[TokenServer, ImageFactory],
                                            caplog: pytest.LogCaptureFixture) -> None:
    server, factory = token_registry
    pushed = factory.push("private", [BASE, UPPER])
    server.locked = True
    registry_host = pushed.repository.split("/")[0]
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ImageError, match="refused access without credentials") as error:
        pull_tree(pushed.manifest(SIMAPP))
    assert f"docker login {registry_host}" in (error.value.hint or "")

    import base64
    auth = base64.b64encode(b"maintainer:s3cret-pass").decode()
    write_docker_config({"auths": {registry_host: {"auth": auth}}})
    tree, _ = pull_tree(pushed.manifest(SIMAPP))
    assert tree == EXPECTED
    assert server.requests[-1].user == "maintainer"

    wrong = base64.b64encode(b"maintainer:wrong").decode()
    write_docker_config({"auths": {f"https://{registry_host}/v1/": {"auth": wrong}}})
    with pytest.raises(ImageError, match="refused access with the Docker config's credentials: "
                                         "its token service refused a token"):
        pull_tree(pushed.manifest(SIMAPP))
    assert "s3cret-pass" not in caplog.text and "wrong" not in str(error.value)


def test_an_identity_token_from_the_docker_config(
        token_registry: tuple[TokenServer, ImageFactory], caplog: pytest.LogCaptureFixture
) -> None:
    server, factory = token_registry
    pushed = factory.push("oauth", [BASE, UPPER])
    server.locked = True
    server.refresh_tokens["refresh-me-7f3a"] = "maintainer"
    registry_host = pushed.repository.split("/")[0]
    caplog.set_level(logging.DEBUG)

    write_docker_config({"auths": {registry_host: {"identitytoken": "refresh-me-7f3a"}}})
    tree, _ = pull_tree(pushed.manifest(SIMAPP))

    assert tree == EXPECTED
    assert server.requests[-1].user == "maintainer"  # through the OAuth2 refresh-token form
    assert "refresh-me-7f3a" not in caplog.text


def install_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                   answers: dict[str, tuple[str, str]]) -> Path:
    """A docker-credential-NAME on PATH answering ``answers`` (server -> (user, secret))."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / f"{name}.log"
    script = bin_dir / f"docker-credential-{name}"
    table = {server: {"Username": user, "Secret": secret}
             for server, (user, secret) in answers.items()}
    script.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"table = {json.dumps(table)!r}\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(log)!r}, 'a').write(sys.argv[1] + ' ' + server + '\\n')\n"
        "entry = json.loads(table).get(server)\n"
        "if entry is None:\n    print('credentials not found in native keychain'); sys.exit(1)\n"
        "print(json.dumps(entry))\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_credentials_from_a_credential_helper(token_registry: tuple[TokenServer, ImageFactory],
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server, factory = token_registry
    pushed = factory.push("helped", [BASE, UPPER])
    server.locked = True
    registry_host = pushed.repository.split("/")[0]
    log = install_helper(tmp_path, monkeypatch, "simapptest",
                         {registry_host: ("maintainer", "s3cret-pass")})

    write_docker_config({"credHelpers": {registry_host: "simapptest"}})
    tree, _ = pull_tree(pushed.manifest(SIMAPP))
    assert tree == EXPECTED
    assert log.read_text().splitlines() == [f"get {registry_host}"]

    write_docker_config({"credsStore": "simapptest"})  # the default helper, for every registry
    tree, _ = pull_tree(pushed.manifest(SIMAPP))
    assert tree == EXPECTED
    assert server.requests[-1].user == "maintainer"


def test_credential_lookup_order_and_fallbacks(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    install_helper(tmp_path, monkeypatch, "store", {"reg.example": ("from-store", "p1")})
    config = {"credsStore": "store", "credHelpers": {"other.example": "missing-helper"},
              "auths": {"auth.example": {"auth": "dXNlcjpwYXNz"},
                        "https://index.docker.io/v1/": {"username": "hub", "password": "p3"}}}

    assert credentials.lookup("reg.example", config) == credentials.Credentials("from-store", "p1")
    assert credentials.lookup("auth.example", config) == credentials.Credentials("user", "pass")
    assert credentials.lookup("registry-1.docker.io", config) == credentials.Credentials(
        "hub", "p3")
    assert credentials.lookup("other.example", config) is None  # helper not installed
    assert credentials.lookup("nowhere.example", config) is None
    assert "p1" not in repr(credentials.lookup("reg.example", config))
