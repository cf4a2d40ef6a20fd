"""Multi-arch: `build --push` of a two-platform variant through BuildKit (per-arch tags), then
`publish` assembles the OCI image index on the real registry; refusals unless --force."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import docker

from tests.commands.projects import make_project
from tests.commands.test_build import UPSTREAM_FILES
from tests.fixtures.docker_services import Registry
from tests.test_json_schemas import validate

# no RUN: the foreign architecture's stage needs no emulator
MULTI_TEMPLATE = """\
FROM scratch
COPY bundle/ /opt/amazon/
LABEL org.opencontainers.image.version="{{ version }}" variant="{{ variant.name }}"
"""


def project(tmp_path: Path, platforms: str):
    variants = (f"  tiny:\n    base: scratch\n    tensorflow: tensorflow-cpu==2.13.1\n"
                f"    platforms: [{platforms}]\n")
    made = make_project(tmp_path, UPSTREAM_FILES, variants=variants, template=MULTI_TEMPLATE)
    assert made.run("render").code == 0
    made.commit_all("render")
    return made


def registry_get(registry: Registry, repository: str, reference: str) -> tuple[str, dict]:
    request = urllib.request.Request(
        f"{registry.url}/v2/{repository}/manifests/{reference}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json, "
                           "application/vnd.docker.distribution.manifest.v2+json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return response.headers["Content-Type"], json.loads(response.read())


def test_build_push_and_publish_a_two_platform_variant(tmp_path: Path, docker_host: str,
                                                       docker_client: docker.DockerClient,
                                                       registry: Registry):
    made = project(tmp_path, "linux/amd64, linux/arm64")
    prefix = f"{registry.address}/community-{uuid.uuid4().hex[:6]}"
    built = made.run("build", "--push", "--prefix", prefix, "--json")
    assert built.code == 0, built.err
    images = validate("build", json.loads(built.out))["images"]
    assert [image["tag"] for image in images] == [
        f"{prefix}/deepracer-simapp:5.3.3-tiny-{arch}" for arch in ("amd64", "arm64")]
    # BuildKit really built the foreign architecture
    arm = docker_client.images.get(f"{prefix}/deepracer-simapp:5.3.3-tiny-arm64")
    assert arm.attrs["Architecture"] == "arm64"

    published = made.run("publish", "--prefix", prefix, "--json")
    assert published.code == 0, published.err
    (item,) = validate("publish", json.loads(published.out))["published"]
    assert item["platforms"] == ["linux/amd64", "linux/arm64"]
    repository = f"{prefix.split('/', 1)[1]}/deepracer-simapp"
    media_type, index = registry_get(registry, repository, "5.3.3-tiny")
    assert media_type == "application/vnd.oci.image.index.v1+json"
    assert [(entry["platform"]["architecture"], entry["digest"]) for entry in index["manifests"]] \
        == [("amd64", images[0]["digest"]), ("arm64", images[1]["digest"])]

    # the index now exists: a different set of platforms, or a single image, is refused
    single = project(tmp_path / "single", "linux/amd64")
    assert single.run("build", "--push", "--prefix", prefix).code == 0
    refused = single.run("publish", "--prefix", prefix)
    assert refused.code == 1
    assert f"{repository}:5.3.3-tiny is a multi-arch index" in refused.err
    assert "--force" in refused.err
    assert registry_get(registry, repository, "5.3.3-tiny")[0] == media_type  # untouched
    forced = single.run("publish", "--prefix", prefix, "--force")
    assert forced.code == 0, forced.err
    assert registry_get(registry, repository, "5.3.3-tiny")[0] == \
        "application/vnd.docker.distribution.manifest.v2+json"


def test_publish_without_the_per_arch_images_says_to_build_first(tmp_path: Path,
                                                                  registry: Registry):
    made = project(tmp_path, "linux/amd64, linux/arm64")
    result = made.run("publish", "--prefix", f"{registry.address}/nothing-{uuid.uuid4().hex[:6]}")
    assert result.code == 2
    assert "build --push" in result.err
