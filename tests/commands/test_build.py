"""`sync build`: real builds on the test engine, pushed to the test registry, with clear failures.

The template here is a small test template, not the real one (that needs the internet): its
base is a tiny image this test imports with `docker import` — a shell and the C library copied
from this machine — so RUN steps really run, without any network.
"""

from __future__ import annotations

import io
import json
import socket
import tarfile
import urllib.request
import uuid
from pathlib import Path

import docker
import pytest

from tests.commands.projects import UPSTREAM_DIGEST, Project, make_project
from tests.fixtures.docker_services import File, ImageFactory, Registry
from tests.test_json_schemas import validate

SHELL_FILES = ("/bin/sh", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2")

TEST_TEMPLATE = """\
# test template for {{ variant.name }}
FROM {{ variant.base }} AS build
COPY bundle/ /opt/amazon/
RUN echo "building {{ variant.name }}" && echo "{{ variant.tensorflow }}" > /opt/amazon/built
COPY . /context/

FROM {{ variant.base }} AS runtime
COPY --from=build /opt/amazon/ /opt/amazon/
COPY --from=build /context/ /context/
{% if variant.env %}
ENV {% for name, value in variant.env %}{{ name }}="{{ value }}" {% endfor %}

{% endif %}
ARG REVISION=
LABEL org.opencontainers.image.version="{{ version }}" \\
      org.opencontainers.image.revision="${REVISION}" \\
      io.github.aws-deepracer-community.upstream.digest="{{ upstream.digest }}"
"""

FAILING_TEMPLATE = """\
FROM {{ variant.base }}
COPY bundle/ /opt/amazon/
RUN echo "checking the bundle" && echo "no colcon here" >&2 && exit 3
LABEL never="reached"
"""

UPSTREAM_FILES = {"src/simulation/launch.py": b"print('launch')\n", "README.md": b"upstream\n"}


@pytest.fixture(scope="session")
def tiny_base(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory,
              docker_engine: object, registry: Registry) -> str:
    """A local image with just /bin/sh and libc, made with `docker import`; returns its tag."""
    factory = ImageFactory(docker_client, registry, tmp_path_factory.mktemp("tiny"),
                           "linux/amd64")
    entries = {}
    for path in SHELL_FILES:
        resolved = Path(path).resolve()
        entries[path.lstrip("/")] = File(resolved.read_bytes(), mode=0o755)
    entries["tmp/.keep"] = File(b"")
    image_id = factory.import_(entries)
    tag = f"simapp-tiny-base:{uuid.uuid4().hex[:8]}"
    repository, _, name = tag.partition(":")
    docker_client.api.tag(image_id, repository, name)
    return tag


def project_for(tmp_path: Path, base: str, template: str = TEST_TEMPLATE,
                extra: str = "") -> Project:
    variants = f"  tiny:\n    base: {base}\n    tensorflow: tensorflow-cpu==2.13.1\n{extra}"
    project = make_project(tmp_path, UPSTREAM_FILES, variants=variants, template=template)
    result = project.run("render")
    assert result.code == 0, result.err
    project.commit_all("render")
    return project


def archive_from_image(client: docker.DockerClient, image: str, path: str) -> tarfile.TarFile:
    container = client.containers.create(image, command=["/bin/sh"])
    try:
        stream, _ = container.get_archive(path)
        return tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
    finally:
        container.remove(force=True)


def file_in_image(client: docker.DockerClient, image: str, path: str) -> bytes:
    with archive_from_image(client, image, path) as tar:
        member = tar.extractfile(tar.getmembers()[0])
        assert member is not None
        return member.read()


def registry_manifest(registry: Registry, repository: str, reference: str) -> tuple[str, dict]:
    """The image manifest (schema 2) and its digest, as the registry serves them."""
    request = urllib.request.Request(
        f"{registry.url}/v2/{repository}/manifests/{reference}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"], json.loads(response.read())


def test_build_and_push_a_rendered_variant(tmp_path: Path, tiny_base: str, docker_host: str,
                                           docker_client: docker.DockerClient,
                                           registry: Registry):
    project = project_for(tmp_path, tiny_base, extra="    env:\n      SIMAPP_MODE: test\n")
    prefix = f"{registry.address}/community-{uuid.uuid4().hex[:6]}"
    result = project.run("build", "--push", "--prefix", prefix, "--json")
    assert result.code == 0, result.err
    document = validate("build", json.loads(result.out))  # the shipped schema holds
    (image,) = document["images"]
    tag = f"{prefix}/deepracer-simapp:5.3.3-tiny"
    # --push pushes the per-architecture tag only; `publish` makes the plain name
    assert image["tag"] == f"{tag}-amd64" and image["variant"] == "tiny"
    assert image["pushed"] is True

    built = docker_client.images.get(tag)
    assert built.id == image["image_id"]
    labels = built.labels
    assert labels["org.opencontainers.image.version"] == "5.3.3"
    assert labels["org.opencontainers.image.revision"] == str(project.repo.head.target)
    assert labels["io.github.aws-deepracer-community.upstream.digest"] == UPSTREAM_DIGEST
    assert "SIMAPP_MODE=test" in built.attrs["Config"]["Env"]
    # the bundle went through the build stage into the runtime stage
    assert file_in_image(docker_client, tag, "/opt/amazon/src/simulation/launch.py") == \
        b"print('launch')\n"
    assert file_in_image(docker_client, tag, "/opt/amazon/built") == b"tensorflow-cpu==2.13.1\n"
    # .dockerignore keeps the build context to what the image needs: no .git, patches/, manifest
    with archive_from_image(docker_client, tag, "/context") as tar:
        names = {name.split("/", 2)[1] for name in tar.getnames() if "/" in name}
    # docker/: the Dockerfile is always sent; VERSION: the image copies it
    assert names == {"bundle", "docker", "VERSION"}, names

    # the registry serves it under the digest the command reported
    repository = tag.split("/", 1)[1].rsplit(":", 1)[0]
    digest, manifest = registry_manifest(registry, repository, "5.3.3-tiny-amd64")
    assert digest == image["digest"]
    assert len(manifest["layers"]) == len(built.attrs["RootFS"]["Layers"])


def test_the_progress_display_names_the_variant_being_built(tmp_path: Path, tiny_base: str,
                                                            docker_host: str):
    project = project_for(tmp_path, tiny_base)
    result = project.run("build", "--prefix", "localhost/test")
    assert result.code == 0, result.err
    assert "building tiny" in result.err
    assert "localhost/test/deepracer-simapp:5.3.3-tiny" in result.out


def test_a_failed_step_is_named_with_its_output(tmp_path: Path, tiny_base: str,
                                                docker_host: str):
    project = project_for(tmp_path, tiny_base, template=FAILING_TEMPLATE)
    result = project.run("build", "--prefix", "localhost/test")
    assert result.code == 1
    assert "docker/Dockerfile.tiny: step 3/4 `RUN echo \"checking the bundle\"" in result.err
    assert "returned a non-zero code: 3" in result.err
    # stdout and stderr of the step both shown (their relative order is the engine's to choose)
    assert "  | checking the bundle\n" in result.err
    assert "  | no colcon here\n" in result.err
    assert "\x1b[" not in result.err and "Running in" not in result.err  # no engine noise
    assert "Traceback" not in result.err


def test_a_refused_push_is_named(tmp_path: Path, tiny_base: str, docker_host: str):
    project = project_for(tmp_path, tiny_base)
    closed = f"127.0.0.1:{_closed_port()}"
    result = project.run("build", "--push", "--prefix", f"{closed}/community")
    assert result.code == 1
    message = " ".join(result.err.split())
    assert f"pushing {closed}/community/deepracer-simapp:5.3.3-tiny-amd64 failed:" in message
    assert "Traceback" not in result.err


def _closed_port() -> int:
    with socket.socket() as probe:  # a free port, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_engine_is_a_clear_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch):
    project = project_for(tmp_path, "ubuntu:20.04")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = project.run("build")
    assert result.code == 1
    message = " ".join(result.err.split())  # undo the terminal's line wrapping
    assert f"cannot reach the Docker Engine at unix://{tmp_path}/no-engine.sock" in message
    assert "DOCKER_HOST" in message
    assert "Traceback" not in result.err


def test_build_runs_the_render_gate_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    project = project_for(tmp_path, "ubuntu:20.04")
    project.write("bundle/README.md", "edited outside the series\n")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = project.run("build")
    assert result.code == 1
    assert "bundle/README.md" in result.err
    assert "Docker Engine" not in result.err  # refused before the engine was even contacted


def test_build_refuses_stale_rendered_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    project = project_for(tmp_path, "ubuntu:20.04")
    project.write("VERSION", "5.4.0\n")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = project.run("build")
    assert result.code == 1
    assert "stale rendered files: docker/Dockerfile.tiny" in result.err
    assert "python -m sync render" in result.err
