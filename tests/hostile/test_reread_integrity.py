"""Class 1 of issue 11, layers read a second time: what a second read of a layer contributes (a
hardlink's target that was not kept, a symlinked source) is used only once that read was verified
against the layer's digests, or, for a layer without any, against its first read. A registry that
serves other bytes the second time is refused (exit 2), naming the layer and the member, and the
repository is left exactly as it was."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import BinaryIO

import pytest

from sync.cli import main
from sync.config.manifest import PathMapping
from sync.errors import ImageError
from sync.image.flatten import flatten
from sync.image.model import Layer
from sync.image.streams import layer_opener
from tests.builders.images import Dir, Entry, File, Hardlink, Symlink, layer_blob, layer_tar
from tests.hostile.loopback import Loopback, answer, loopback
from tests.hostile.state import snapshot
from tests.image.conftest import GitHashingStore, read_tree

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_YAML = """image: {origin}/simapp
tag: v1
platform: linux/amd64
branch: upstream
paths:
  - source: /opt/amazon
    target: bundle
    exclude: [/build/]
"""

# the hardlink's target is excluded (/build/): it is not kept, so the layer is read again
LOWER = [Dir("opt/amazon"), File("opt/amazon/a.txt", b"a\n"),
         File("opt/amazon/build/model.bin", b"genuine weights\n")]
LINK_ABOVE = [Hardlink("opt/amazon/model.bin", "opt/amazon/build/model.bin")]
SAME_LAYER = [*LOWER, Hardlink("opt/amazon/model.bin", "opt/amazon/build/model.bin")]
FORGED = [Dir("opt/amazon"), File("opt/amazon/a.txt", b"a\n"),
          File("opt/amazon/build/model.bin", b"forged weights!\n")]
# /opt/amazon is a symlink to /opt/real: the layers are read a second time from /opt/real
REAL = [Dir("opt/real"), File("opt/real/a.txt", b"a\n"), Symlink("opt/amazon", "real")]
REAL_FORGED = [Dir("opt/real"), File("opt/real/a.txt", b"forged\n"),
               Symlink("opt/amazon", "real")]


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@contextmanager
def two_faced_registry(layers: Sequence[list[Entry]], second: dict[int, list[Entry]]
                       ) -> Iterator[Loopback]:
    """A registry on loopback serving an image of ``layers``; from its second download on,
    layer ``i`` of ``second`` is served with the entries ``second[i]`` instead (its digest
    unchanged: the registry lies). Layers are plain tars, so that a forged layer of the same
    size passes every check but its digest."""
    blobs = [layer_blob(entries, "none") for entries in layers]
    forged = {index: layer_blob(entries, "none")[0] for index, entries in second.items()}
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [built.diff_id for _, built in blobs]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": built.digest, "size": built.size} for _, built in blobs]}).encode()
    served: dict[str, int] = {}

    def script(handler: BaseHTTPRequestHandler, server: Loopback) -> None:
        path = handler.path.partition("?")[0]
        if path == "/v2/":
            return answer(handler, 200, b"{}")
        if path.endswith("/manifests/v1"):
            return answer(handler, 200, manifest, {"Content-Type": OCI_MANIFEST,
                                                   "Docker-Content-Digest": digest(manifest)})
        if path.endswith(digest(config)):
            return answer(handler, 200, config)
        for index, (data, built) in enumerate(blobs):
            if path.endswith(built.digest):
                times = served[built.digest] = served.get(built.digest, 0) + 1
                body = forged[index] if times > 1 and index in forged else data
                return answer(handler, 200, body)
        answer(handler, 404)

    with loopback(script) as server:
        yield server


def git_show(repo_dir: Path, what: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo_dir), "show", what], check=True,
                          capture_output=True).stdout


def pull(repo_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    status = main(["pull", "-C", str(repo_dir), "--from", "docker://", *extra])
    return status, capsys.readouterr().err


@pytest.mark.parametrize("layers, second, member", [
    ([LOWER, LINK_ABOVE], {0: FORGED}, "opt/amazon/build/model.bin"),  # a lower layer, again
    ([SAME_LAYER], {0: [*FORGED, *LINK_ABOVE]}, "opt/amazon/build/model.bin"),  # its own layer
])
def test_a_layer_that_changes_when_read_again_for_a_hardlink_is_refused(
        repo_dir: Path, capsys: pytest.CaptureFixture[str], layers, second, member) -> None:
    with two_faced_registry(layers, second) as server:
        (repo_dir / "upstream-manifest.yaml").write_text(MANIFEST_YAML.format(
            origin=server.origin))
        before = snapshot(repo_dir)
        status, err = pull(repo_dir, capsys)
    assert status == 2, err
    assert "Traceback" not in err
    layer_digest = layer_blob(layers[0], "none")[1].digest
    assert f"layer 1/{len(layers)} {layer_digest[:19]}" in err
    assert f"digest mismatch: expected {layer_digest}" in err  # the layer, by its full digest
    assert "hardlink 'opt/amazon/model.bin' -> 'opt/amazon/build/model.bin'" in err
    assert f"looking for '{member}'" in err
    assert snapshot(repo_dir) == before  # no branch, no layer cache ref


def test_the_same_image_served_honestly_resolves_the_hardlink(
        repo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with two_faced_registry([LOWER, LINK_ABOVE], {}) as server:
        (repo_dir / "upstream-manifest.yaml").write_text(MANIFEST_YAML.format(
            origin=server.origin))
        status, err = pull(repo_dir, capsys)
        lower = layer_blob(LOWER, "none")[1].digest
        downloads = [seen.path for seen in server.seen if seen.path.endswith(lower)]
    assert status == 0, err
    assert git_show(repo_dir, "upstream:bundle/model.bin") == b"genuine weights\n"
    assert len(downloads) == 2  # read, then read again (whole) for the hardlink


def test_a_layer_that_changes_when_read_again_for_a_symlinked_source_is_refused(
        repo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with two_faced_registry([REAL], {0: REAL_FORGED}) as server:
        (repo_dir / "upstream-manifest.yaml").write_text(MANIFEST_YAML.format(
            origin=server.origin))
        before = snapshot(repo_dir)
        status, err = pull(repo_dir, capsys)
    assert status == 2, err
    assert "Traceback" not in err
    assert f"digest mismatch: expected {layer_blob(REAL, 'none')[1].digest}" in err
    assert "the source /opt/amazon goes through the symlink /opt/amazon, to /opt/real" in err
    assert snapshot(repo_dir) == before


def test_a_layer_without_digests_must_give_its_first_bytes_when_read_again() -> None:
    """The engine's archive stream has no digest: a second read is held to the first."""
    served = [layer_tar(SAME_LAYER), layer_tar([*FORGED, *LINK_ABOVE])]

    @contextmanager
    def open_raw() -> Iterator[BinaryIO]:
        yield io.BytesIO(served.pop(0) if len(served) > 1 else served[0])

    layer = Layer(description="docker cp /opt/amazon",
                  open=layer_opener(open_raw, description="docker cp /opt/amazon", plain=True))
    mapping = PathMapping("/opt/amazon", "bundle", ("/build/",))
    with pytest.raises(ImageError) as raised:
        flatten([layer], [mapping], GitHashingStore())
    assert raised.value.message.startswith("docker cp /opt/amazon: the layer changed between "
                                           "two reads")
    assert "hardlink 'opt/amazon/model.bin' -> 'opt/amazon/build/model.bin'" in (
        raised.value.message)

    honest = [layer_tar(SAME_LAYER)] * 2
    layer = Layer(description="docker cp /opt/amazon", open=layer_opener(
        lambda: _bytes(honest.pop()), description="docker cp /opt/amazon", plain=True))
    store = GitHashingStore()
    tree = read_tree(flatten([layer], [mapping], store), store)
    assert tree["bundle/model.bin"] == (0o100644, b"genuine weights\n")


@contextmanager
def _bytes(data: bytes) -> Iterator[BinaryIO]:
    yield io.BytesIO(data)
