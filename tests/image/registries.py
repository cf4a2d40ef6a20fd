"""Helpers for the registry tests: sample layers, pulling a tree, manifests and credentials."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from sync.config.manifest import Manifest, PathMapping
from sync.filetree import MODE_EXECUTABLE, MODE_SYMLINK
from sync.image import credentials
from sync.image.distribution import RetryPolicy
from sync.image.flatten import flatten
from sync.image.registry import open_registry_image
from tests.fixtures.docker_services import (
    Entry,
    Fifo,
    File,
    Hardlink,
    PushedImage,
    Registry,
    Symlink,
)
from tests.image.conftest import GitHashingStore, read_tree

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


def write_docker_config(document: dict[str, object]) -> None:
    path = credentials.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


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
