"""The docker:// source, against the session's real registry with images pushed by the real engine.

Images are pushed and removed from the engine, so everything read here comes from the registry.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import uuid
from dataclasses import replace

import docker
import pytest
import requests

from sync.config.manifest import Manifest, PathMapping
from sync.errors import ConfigError, ImageError
from sync.image.archive import open_archive
from sync.image.daemon import open_daemon_image
from sync.image.flatten import flatten
from sync.image.registry import ImageReference, open_registry_image, parse_reference
from tests.builders import images as builders
from tests.fixtures.docker_services import ImageFactory, Registry
from tests.image.conftest import GitHashingStore
from tests.image.registries import (
    BASE,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    EXPECTED,
    FAST,
    OCI_INDEX,
    OCI_MANIFEST,
    SIMAPP,
    THIRD,
    UPPER,
    descriptor,
    pull_tree,
    put_manifest,
    repository_path,
    stored_manifest,
)

pytestmark = pytest.mark.docker


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


def test_a_tag_that_looks_like_an_algorithm_is_still_a_tag(images: ImageFactory) -> None:
    pushed = images.push("shatag", [BASE, UPPER], tag="sha256-lookalike")

    tree, info = pull_tree(pushed.manifest(SIMAPP))

    assert tree == EXPECTED and info.digest == pushed.digest  # type: ignore[attr-defined]


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


def test_a_missing_tag_is_an_error(images: ImageFactory) -> None:
    pushed = images.push("tags", [{"opt/amazon/a": b"a\n"}])

    with pytest.raises(ImageError, match=r":no-such-tag: not found in the registry \(HTTP 404 "
                                         r"\(MANIFEST_UNKNOWN") as error:
        pull_tree(pushed.manifest(tag="no-such-tag"))
    assert "tag:" in (error.value.hint or "")
