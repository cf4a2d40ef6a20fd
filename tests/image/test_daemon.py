"""The docker-daemon: source, against the session's real Docker Engine and registry.

Every image here is built from tarballs the test writes, pushed to the local registry and removed
from the engine, so that ``open_daemon_image`` really pulls it through the engine.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import BinaryIO

import docker
import pytest

from sync.config.manifest import Manifest, PathMapping
from sync.errors import ImageError
from sync.filetree import MODE_EXECUTABLE
from sync.image.archive import open_archive
from sync.image.daemon import (
    CONTAINER_LABEL,
    _check_platform,
    connect,
    open_daemon_image,
    pull_image,
)
from sync.image.flatten import FlattenResult, flatten
from sync.image.model import Layer
from tests.fixtures.docker_services import (
    Dir,
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
from tests.fixtures.http_server import serving

pytestmark = pytest.mark.docker

BASE: dict[str, Entry] = {
    "opt/amazon/markov/agent.py": File(b"print('agent')\n", mode=0o755),
    "opt/amazon/config.yaml": b"track: reinvent\n",
    "opt/amazon/rl_coach/build/lib.py": b"# a real folder named build\n",
    "opt/amazon/old.txt": b"removed by the upper layer\n",
    "opt/amazon/config-link": Symlink("config.yaml"),
    "opt/elsewhere/secret": b"not mapped\n",
    "etc/simapp/env": b"A=1\n",
}
UPPER: dict[str, Entry] = {
    "opt/amazon/.wh.old.txt": b"",
    "opt/amazon/config.yaml": b"track: reinvent2019\n",
    "opt/current": Symlink("amazon"),
    "opt/via-chain": Symlink("current"),
    "opt/dangling": Symlink("/opt/nowhere"),
}
EXPECTED_AMAZON = {
    "opt/amazon": Dir(),
    "opt/amazon/markov": Dir(),
    "opt/amazon/markov/agent.py": (b"print('agent')\n", 0o755),
    "opt/amazon/config.yaml": (b"track: reinvent2019\n", 0o644),
    "opt/amazon/rl_coach": Dir(),
    "opt/amazon/rl_coach/build": Dir(),
    "opt/amazon/rl_coach/build/lib.py": (b"# a real folder named build\n", 0o644),
    "opt/amazon/config-link": Symlink("config.yaml"),
}


def read_layer(layer: Layer) -> dict[str, object]:
    """Image path -> (content, permission bits), Symlink(target) or Dir(), as the layer says."""
    found: dict[str, object] = {}
    with layer.open() as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            path = layer.rename(member.name) if layer.rename else member.name
            if path is None:
                continue
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                found[path] = (extracted.read(), member.mode & 0o777)
            elif member.issym():
                found[path] = Symlink(member.linkname)
            elif member.isdir():
                found[path] = Dir()
            else:
                found[path] = member.type
    return found


def containers_of(client: docker.DockerClient, image: PushedImage) -> list[str]:
    """Every container (running or not) the engine has for ``image``."""
    containers = client.api.containers(all=True, filters={"ancestor": image.image_id})
    return [str(container["Id"]) for container in containers]


@pytest.fixture
def simapp(images: ImageFactory) -> PushedImage:
    """A two-layer image: a whiteout, a changed file and symlinks in the upper layer."""
    return images.push("simapp", [BASE, UPPER])


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int | None, int | None]] = []

    def update(self, layer: str, status: str, current: int | None, total: int | None) -> None:
        self.events.append((layer, status, current, total))


# --- pulling and streaming ---------------------------------------------------------------------


def test_pulls_through_the_engine_and_streams_each_source(
        simapp: PushedImage, docker_client: docker.DockerClient, registry: Registry) -> None:
    manifest = simapp.manifest(("/opt/amazon", "bundle"), ("/etc/simapp", "etc"))
    assert docker_client.api.images(name=simapp.repository) == []
    before = registry.mark()

    with open_daemon_image(manifest, client=docker_client) as image:
        trees = [read_layer(layer) for layer in image.layers]

    assert image.info.reference == simapp.reference
    assert image.info.digest == simapp.digest
    assert image.info.image_id == simapp.image_id
    assert image.info.created is not None and image.info.created.startswith("2024-01-01T00:00:00")
    assert [layer.description for layer in image.layers] == [
        "docker cp /opt/amazon", "docker cp /etc/simapp"]
    assert all(layer.whiteouts is False for layer in image.layers)
    assert trees[0] == EXPECTED_AMAZON  # the engine applied the whiteout and the upper layer
    assert trees[1] == {"etc/simapp": Dir(), "etc/simapp/env": (b"A=1\n", 0o644)}
    assert len(registry.blob_gets(since=before)) == 3  # config and two layers: a real pull


def test_honours_docker_host(simapp: PushedImage, docker_host: str) -> None:
    with open_daemon_image(simapp.manifest(("/opt/amazon", "bundle"))) as image:
        assert read_layer(image.layers[0]) == EXPECTED_AMAZON


def test_reports_per_layer_progress_with_optional_totals(
        simapp: PushedImage, docker_client: docker.DockerClient) -> None:
    progress = RecordingProgress()

    digest = pull_image(docker_client, simapp.manifest(), progress)

    assert digest == simapp.digest
    layer_ids = {layer_id for layer_id, _, _, _ in progress.events}
    assert len(layer_ids) == 2
    statuses = {status for _, status, _, _ in progress.events}
    assert {"Pulling fs layer", "Pull complete"} <= statuses
    assert any(total is None for _, _, _, total in progress.events)  # e.g. "Pull complete"
    assert all(current is None or current >= 0 for _, _, current, _ in progress.events)


@pytest.mark.parametrize("source", ["/opt/current", "/opt/via-chain"])
def test_a_symlinked_source_is_resolved_and_named_as_the_source(
        simapp: PushedImage, docker_client: docker.DockerClient, source: str) -> None:
    with open_daemon_image(simapp.manifest((source, "bundle")), client=docker_client) as image:
        tree = read_layer(image.layers[0])

    prefix = source.lstrip("/")
    assert tree == {path.replace("opt/amazon", prefix, 1): entry
                    for path, entry in EXPECTED_AMAZON.items()}


def test_a_single_file_source(simapp: PushedImage, docker_client: docker.DockerClient) -> None:
    manifest = simapp.manifest(("/opt/amazon/markov/agent.py", "agent"))
    with open_daemon_image(manifest, client=docker_client) as image:
        tree = read_layer(image.layers[0])

    assert tree == {"opt/amazon/markov/agent.py": (b"print('agent')\n", 0o755)}


def test_the_engines_placeholders_are_not_image_content(
        images: ImageFactory, docker_client: docker.DockerClient) -> None:
    pushed = images.push("imported", [{"etc/app.conf": b"x=1\n", "bin/tool": b"#!\n"}],
                         via="import")

    with open_daemon_image(pushed.manifest(("/", "root")), client=docker_client) as image:
        tree = read_layer(image.layers[0])

    files = {path for path, entry in tree.items() if not isinstance(entry, Dir)}
    assert files == {"etc/app.conf", "bin/tool"}  # no .dockerenv, etc/hosts, dev/console, ...


def test_streams_without_holding_the_archive_in_memory(
        images: ImageFactory, docker_client: docker.DockerClient) -> None:
    size = 64 * 1024 * 1024
    pushed = images.push("big", [{"opt/amazon/big.bin": File(size=size)}])

    with open_daemon_image(pushed.manifest(), client=docker_client) as image:
        tracemalloc.start()
        try:
            total = 0
            with image.layers[0].open() as stream:
                while chunk := stream.read(256 * 1024):
                    total += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert total > size
    assert peak < 8 * 1024 * 1024


# --- the container is temporary -----------------------------------------------------------------


def test_the_container_exists_only_inside_the_context(
        simapp: PushedImage, docker_client: docker.DockerClient) -> None:
    with open_daemon_image(simapp.manifest(), client=docker_client):
        inside = docker_client.api.containers(all=True, filters={"ancestor": simapp.image_id})
    assert [container["State"] for container in inside] == ["created"]  # never started
    assert inside[0]["Labels"][CONTAINER_LABEL] == "pull"
    assert containers_of(docker_client, simapp) == []


def test_the_container_is_removed_when_the_caller_fails(
        simapp: PushedImage, docker_client: docker.DockerClient) -> None:
    with pytest.raises(RuntimeError, match="flattening broke"), \
            open_daemon_image(simapp.manifest(), client=docker_client) as image:
        with image.layers[0].open() as stream:
            stream.read(100)
        raise RuntimeError("flattening broke")
    assert containers_of(docker_client, simapp) == []


def test_a_missing_source_is_an_error_and_the_container_is_removed(
        simapp: PushedImage, docker_client: docker.DockerClient) -> None:
    manifest = simapp.manifest(("/opt/amazon", "bundle"), ("/opt/missing", "missing"))

    with pytest.raises(ImageError, match=r"/opt/missing: no such path in .*simapp") as error, \
            open_daemon_image(manifest, client=docker_client):
        pytest.fail("the context must not be entered")

    assert error.value.exit_code == 2
    assert "paths[].source" in (error.value.hint or "")
    assert containers_of(docker_client, simapp) == []


def test_a_dangling_symlink_source_is_an_error(
        simapp: PushedImage, docker_client: docker.DockerClient) -> None:
    with pytest.raises(ImageError, match="/opt/dangling: a symlink to /opt/nowhere, which does "
                                         "not exist"), \
            open_daemon_image(simapp.manifest(("/opt/dangling", "x")), client=docker_client):
        pytest.fail("the context must not be entered")
    assert containers_of(docker_client, simapp) == []


# --- pull failures ------------------------------------------------------------------------------


def test_a_missing_tag_is_an_error(simapp: PushedImage,
                                   docker_client: docker.DockerClient) -> None:
    manifest = simapp.manifest(tag="no-such-tag")

    with pytest.raises(ImageError, match="image or tag no-such-tag not found") as error, \
            open_daemon_image(manifest, client=docker_client):
        pytest.fail("the context must not be entered")

    assert error.value.message.startswith(f"{simapp.repository}:no-such-tag: ")
    assert "tag:" in (error.value.hint or "")


def test_an_error_inside_the_pull_stream_is_caught(
        images: ImageFactory, registry: Registry, docker_client: docker.DockerClient) -> None:
    pushed = images.push("broken", [{"opt/amazon/a": b"a"}])
    manifest_blob = registry.blob_path(pushed.digest).read_bytes()
    layer_digest = docker_manifest_layers(manifest_blob)[0]
    registry.blob_path(layer_digest).write_bytes(b"not the layer")
    # the premise: the engine accepts the request (HTTP 200) and reports the failure as an event
    events = list(docker_client.api.pull(pushed.repository, tag=pushed.tag, stream=True,
                                         decode=True))
    assert "errorDetail" in events[-1]

    with pytest.raises(ImageError, match="the registry sent a broken layer: filesystem layer "
                                         "verification failed"):
        pull_image(docker_client, pushed.manifest())
    with pytest.raises(ImageError, match="broken layer"), \
            open_daemon_image(pushed.manifest(), client=docker_client):
        pytest.fail("the context must not be entered")


def docker_manifest_layers(manifest: bytes) -> list[str]:
    return [layer["digest"] for layer in json.loads(manifest)["layers"]]


def test_an_unreachable_engine_says_how_to_go_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"unix://{tmp_path}/dead.sock"
    monkeypatch.setenv("DOCKER_HOST", dead)
    manifest = Manifest(image="127.0.0.1:9/simapp", tag="v1", digest=None,
                        platform="linux/amd64", branch="upstream",
                        paths=(PathMapping("/opt/amazon", "bundle"),))

    with pytest.raises(ImageError) as error:
        connect()
    with pytest.raises(ImageError, match="cannot reach the Docker Engine"), \
            open_daemon_image(manifest):
        pytest.fail("the context must not be entered")

    assert error.value.message == (
        f"cannot reach the Docker Engine at {dead}: no engine socket there")
    hint = error.value.hint or ""
    assert "DOCKER_HOST" in hint and "--from docker-archive:" in hint and "start it" in hint


# --- digests and platforms ----------------------------------------------------------------------


def test_a_pinned_digest_is_pulled_and_recorded(
        simapp: PushedImage, docker_client: docker.DockerClient) -> None:
    manifest = simapp.manifest(pin=True)

    with open_daemon_image(manifest, client=docker_client) as image:
        tree = read_layer(image.layers[0])

    assert image.info.reference == simapp.pinned
    assert image.info.digest == simapp.digest
    assert tree == EXPECTED_AMAZON


def test_a_pinned_digest_the_registry_does_not_honour_is_an_error(
        images: ImageFactory, registry: Registry, docker_client: docker.DockerClient) -> None:
    pinned = images.push("pinned", [{"opt/amazon/a": b"version 1\n"}], tag="v1")
    other = images.push("pinned", [{"opt/amazon/a": b"version 2\n"}], tag="v2", unique=False)
    other = PushedImage(pinned.repository, "v2", other.digest, other.image_id, other.platform)
    assert other.digest != pinned.digest
    # the registry now answers the pinned digest with another image's manifest
    registry.blob_path(pinned.digest).write_bytes(registry.blob_path(other.digest).read_bytes())

    with pytest.raises(ImageError, match=f"digest mismatch: .*{pinned.digest}") as error, \
            open_daemon_image(pinned.manifest(pin=True), client=docker_client):
        pytest.fail("the context must not be entered")

    assert error.value.exit_code == 2
    assert containers_of(docker_client, pinned) == []


def test_pulls_for_the_manifests_platform(
        images: ImageFactory, docker_client: docker.DockerClient) -> None:
    pushed = images.push("arm", [{"opt/amazon/a": b"arm\n"}], platform="linux/arm64")

    with open_daemon_image(pushed.manifest(), client=docker_client) as image:
        assert read_layer(image.layers[0])["opt/amazon/a"] == (b"arm\n", 0o644)

    wrong = replace(pushed.manifest(), platform="linux/s390x")
    with pytest.raises(ImageError, match="platform"), \
            open_daemon_image(wrong, client=docker_client):
        pytest.fail("the context must not be entered")


def test_a_registry_that_refuses_access_is_an_error(
        images: ImageFactory, docker_client: docker.DockerClient) -> None:
    with refusing_token_server() as realm:
        # "silly" auth demands a bearer token from ``realm``, which refuses to issue one
        locked = start_registry(auth={"silly": {"realm": realm, "service": "locked"}})
        try:
            manifest = replace(images.push("open", [{"opt/amazon/a": b"a"}]).manifest(),
                               image=f"{locked.address}/private/simapp")
            with pytest.raises(ImageError, match="the registry refused access") as error, \
                    open_daemon_image(manifest, client=docker_client):
                pytest.fail("the context must not be entered")
        finally:
            locked.stop()

    assert f"docker login {locked.address}" in (error.value.hint or "")


@contextmanager
def refusing_token_server() -> Iterator[str]:
    """A token endpoint on loopback that refuses every request; yields its URL."""

    class Refuse(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Refuse) as address:
        yield f"http://{address}/token"


# --- the same image through the engine and through a saved archive -------------------------------

THIRD: dict[str, Entry] = {
    "opt/amazon/rl_coach/.wh..wh..opq": b"",  # clears the lower rl_coach/ ...
    "opt/amazon/rl_coach/new.py": b"# only this survives\n",  # ... but not this layer's own
    "opt/amazon/build/colcon.log": b"excluded by /build/\n",
    "opt/amazon/markov/cache.pyc": b"excluded by *.pyc\n",
    "opt/amazon/markov/run.sh": File(b"#!/bin/sh\n", mode=0o750),
    "opt/amazon/markov/data.txt": b"shared\n",
    "opt/amazon/markov/data-again.txt": Hardlink("opt/amazon/markov/data.txt"),
    "opt/amazon/markov/pipe": Fifo(),
}


class GitBlobIds:
    """A BlobStore that stores nothing: it returns the git blob id of the content."""

    def write(self, stream: BinaryIO, size: int) -> str:
        digest = hashlib.sha1(b"blob %d\0" % size)
        left = size
        while left:
            chunk = stream.read(min(left, 1 << 20))
            assert chunk, "the stream ended early"
            digest.update(chunk)
            left -= len(chunk)
        return digest.hexdigest()


def flatten_both(images: ImageFactory, client: docker.DockerClient,
                 *mappings: PathMapping) -> tuple[FlattenResult, FlattenResult]:
    """Push BASE, UPPER, THIRD; flatten what the engine pulls and the engine's `docker save`."""
    pushed = images.push("same", [BASE, UPPER, THIRD])
    manifest = replace(pushed.manifest(), paths=mappings)
    with open_daemon_image(manifest, client=client) as image:
        engine = flatten(image.layers, manifest.paths, GitBlobIds())
    saved = images.save(pushed.reference)
    with open_archive(f"docker-archive:{saved}", manifest.platform) as opened:
        archive = flatten(opened.layers, manifest.paths, GitBlobIds())
    assert opened.info.image_id == image.info.image_id
    return engine, archive


def test_the_engine_and_a_saved_archive_give_the_same_tree_and_report(
        images: ImageFactory, docker_client: docker.DockerClient) -> None:
    engine, archive = flatten_both(
        images, docker_client,
        PathMapping("/opt/amazon", "bundle", exclude=("/build/", "*.pyc")),
        PathMapping("/etc/simapp", "etc"))

    assert dict(engine.tree.walk()) == dict(archive.tree.walk())
    tree = dict(engine.tree.walk())
    assert set(tree) == {
        "bundle/config-link", "bundle/config.yaml", "bundle/markov/agent.py",
        "bundle/markov/data-again.txt", "bundle/markov/data.txt", "bundle/markov/run.sh",
        "bundle/rl_coach/new.py", "etc/env"}  # whiteout, opaque directory and excludes applied
    assert tree["bundle/markov/run.sh"].mode == MODE_EXECUTABLE
    assert tree["bundle/markov/data-again.txt"] == tree["bundle/markov/data.txt"]
    assert engine.report == archive.report
    assert (engine.report.excluded, engine.report.skipped) == (3, {"fifo": 1})


def test_a_symlinked_source_gives_the_same_tree_through_the_engine(
        images: ImageFactory, docker_client: docker.DockerClient) -> None:
    engine, archive = flatten_both(
        images, docker_client,
        PathMapping("/opt/current", "current"),  # current -> amazon, via-chain -> current
        PathMapping("/opt/via-chain", "chain", exclude=("/build/",)))

    assert dict(engine.tree.walk()) == dict(archive.tree.walk())
    paths = {path for path, _ in engine.tree.walk()}
    assert {"current/build/colcon.log", "current/rl_coach/new.py",
            "chain/rl_coach/new.py"} <= paths
    assert "chain/build/colcon.log" not in paths
    # only the archive reader meets the symlinks themselves, and says so
    assert (engine.report.files, engine.report.bytes) == (archive.report.files,
                                                          archive.report.bytes)
    assert engine.report.warnings == []


@pytest.mark.parametrize(("platform", "engine", "matches"), [
    ("linux/arm64", {"Os": "linux", "Architecture": "arm64", "Variant": "v8"}, True),
    ("linux/arm64/v8", {"Os": "linux", "Architecture": "aarch64"}, True),
    ("linux/arm/v7", {"Os": "linux", "Architecture": "arm"}, True),
    ("linux/arm/v6", {"Os": "linux", "Architecture": "arm", "Variant": "v7"}, False),
    ("linux/amd64", {"Os": "linux", "Architecture": "arm64"}, False),
])
def test_the_engine_source_judges_platforms_by_the_rule_every_source_uses(
        platform: str, engine: dict[str, str], matches: bool):
    manifest = Manifest(image="example.org/simapp", tag="v1", digest=None, platform=platform,
                        branch="upstream", paths=(PathMapping("/opt/amazon", "bundle"),))
    if matches:
        _check_platform(manifest, engine)
    else:
        with pytest.raises(ImageError, match="not for platform"):
            _check_platform(manifest, engine)
