"""`sync pull --from docker://`: the registry path end to end, real registry and engine."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pygit2
import pytest

from sync.cli import main
from sync.commands.pull import pull
from sync.config.manifest import load_manifest
from sync.errors import ImageError
from sync.git import repo as gitrepo
from sync.image.distribution import RetryPolicy
from sync.image.model import Layer, OpenedImage
from sync.image.registry import open_registry_image
from sync.ui import UI
from sync.workspace import Workspace
from tests.fixtures.docker_services import (
    Entry,
    File,
    ImageFactory,
    PushedImage,
    Registry,
    Symlink,
    start_registry,
)

pytestmark = pytest.mark.docker

BASE: dict[str, Entry] = {
    "opt/amazon/markov/agent.py": File(b"print('agent')\n", mode=0o755),
    "opt/amazon/config.yaml": b"track: reinvent\n",
    "opt/amazon/build/out.o": b"excluded\n",
}
UPPER: dict[str, Entry] = {
    "opt/amazon/config.yaml": b"track: reinvent2019\n",
    "opt/amazon/config-link": Symlink("config.yaml"),
}


def write_manifest(repo_dir: Path, image: PushedImage) -> None:
    (repo_dir / "upstream-manifest.yaml").write_text(
        f"image: {image.repository}\ntag: {image.tag}\nplatform: {image.platform}\n"
        "branch: upstream\npaths:\n  - source: /opt/amazon\n    target: bundle\n"
        "    exclude: [/build/]\n")


def tip(repo_dir: Path) -> pygit2.Commit | None:
    return gitrepo.branch_tip(pygit2.Repository(str(repo_dir)), "upstream")


def test_pull_from_the_registry_commits_what_the_engine_path_commits(
        images: ImageFactory, registry: Registry, repo_dir: Path, tmp_path: Path,
        docker_host: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    pushed = images.push("simapp", [BASE, UPPER])
    write_manifest(repo_dir, pushed)

    assert main(["pull", "-C", str(repo_dir), "--from", "docker://", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    commit = tip(repo_dir)
    assert commit is not None and report["commit"] == str(commit.id)
    assert report["digest"] == pushed.digest and report["image_id"] == pushed.image_id
    assert (report["files"], report["excluded"]) == (3, 2)  # build/ and build/out.o
    assert gitrepo.trailers(commit.message)["Upstream-Digest"] == pushed.digest
    assert sorted(entry.name for entry in commit.tree / "bundle") == [
        "config-link", "config.yaml", "markov"]

    engine_dir = tmp_path / "engine"
    pygit2.clone_repository(str(repo_dir), str(engine_dir))
    (engine_dir / "upstream-manifest.yaml").write_text(
        (repo_dir / "upstream-manifest.yaml").read_text())
    assert main(["pull", "-C", str(engine_dir), "--from", "docker-daemon:"]) == 0
    engine_commit = tip(engine_dir)
    assert engine_commit is not None and engine_commit.tree_id == commit.tree_id
    assert engine_commit.message == commit.message  # the same image, digest and trailers

    # an explicit REF that names the same image: nothing new to commit
    capsys.readouterr()
    mark = registry.mark()
    assert main(["pull", "-C", str(repo_dir), "--from", f"docker://{pushed.reference}"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert tip(repo_dir) == commit
    assert registry.blob_gets(since=mark) == [pushed.image_id]  # the config, no layer


def test_a_corrupted_layer_is_exit_2_and_the_branch_is_untouched(
        images: ImageFactory, registry: Registry, repo_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    v1 = images.push("corrupt", [BASE], tag="v1")
    write_manifest(repo_dir, v1)
    assert main(["pull", "-C", str(repo_dir), "--from", "docker://"]) == 0
    v1_layer = json.loads(registry.blob_path(v1.digest).read_bytes())["layers"][0]["digest"]
    progress = capsys.readouterr().err
    assert f"pulling {v1_layer[7:19]}" in progress and "Download complete" in progress
    before = tip(repo_dir)
    # blobs are shared by every repository of the registry: damage only one no other test has
    damaged = {**UPPER, "opt/amazon/unique.txt": uuid.uuid4().hex.encode()}
    v2 = images.push(v1.repository.split("/", 1)[1], [BASE, damaged], tag="v2", unique=False)
    layers = json.loads(registry.blob_path(v2.digest).read_bytes())["layers"]
    blob = registry.blob_path(layers[1]["digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit in the middle of the upper layer
    blob.write_bytes(bytes(data))
    write_manifest(repo_dir, replace(v1, tag="v2"))
    capsys.readouterr()

    assert main(["pull", "-C", str(repo_dir), "--from", "docker://"]) == 2

    error = capsys.readouterr().err
    assert "layer 2/2" in error and "Traceback" not in error
    assert tip(repo_dir) == before


@contextmanager
def stopping_after_first_layer(opened: OpenedImage, registry: Registry) -> Iterator[OpenedImage]:
    """The image, with the registry stopped once the first layer was read."""
    first, *rest = opened.layers

    @contextmanager
    def open_then_stop() -> Iterator[object]:
        with first.open() as stream:
            yield stream
        registry.stop()

    yield replace(opened, layers=(Layer(first.description, open_then_stop, first.size),  # type: ignore[arg-type]
                                  *rest))


def test_the_registry_going_down_mid_pull_leaves_the_branch_untouched(
        docker_client: object, docker_engine: object, repo_dir: Path, tmp_path: Path) -> None:
    own = start_registry()
    try:
        factory = ImageFactory(docker_client, own, tmp_path / "images",  # type: ignore[arg-type]
                               docker_engine.platform)  # type: ignore[attr-defined]
        v1 = factory.push("down", [BASE], tag="v1")
        v2 = factory.push(v1.repository.split("/", 1)[1], [BASE, UPPER], tag="v2", unique=False)
        write_manifest(repo_dir, v2)
        path = repo_dir / "upstream-manifest.yaml"
        manifest = load_manifest(path)
        repo = pygit2.Repository(str(repo_dir))
        fast = RetryPolicy(attempts=2, backoff=0.01, timeout=10)
        v1_manifest = replace(manifest, tag="v1")
        pull(Workspace(repo, path, v1_manifest),
             lambda _progress: open_registry_image(v1_manifest, retry=fast), UI.create())
        before = tip(repo_dir)
        assert before is not None

        @contextmanager
        def opener(_downloads: object) -> Iterator[OpenedImage]:
            # one layer at a time: with prefetching the small second layer could be in
            # memory before the registry stops (tests/image/test_prefetch.py covers errors)
            with open_registry_image(manifest, retry=fast, workers=1) as opened, \
                    stopping_after_first_layer(opened, own) as image:
                yield image

        with pytest.raises(ImageError, match="cannot reach the registry") as error:
            pull(Workspace(repo, path, manifest), opener, UI.create())

        assert error.value.exit_code == 2
        assert tip(repo_dir) == before
    finally:
        own.stop()


# --- the per-layer cache ---------------------------------------------------------------------

TOP: dict[str, Entry] = {"opt/amazon/markov/agent.py": File(b"print('agent v2')\n", mode=0o755),
                         "opt/amazon/new.txt": b"new in v2\n"}


def layer_digests(registry: Registry, image: PushedImage) -> list[str]:
    return [layer["digest"] for layer in
            json.loads(registry.blob_path(image.digest).read_bytes())["layers"]]


def cache_refs(repo_dir: Path) -> list[str]:
    return [name for name in pygit2.Repository(str(repo_dir)).references
            if name.startswith("refs/simapp-sync/layers/")]


def test_a_tag_sharing_layers_downloads_only_its_new_layers(
        images: ImageFactory, registry: Registry, repo_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    v1 = images.push("cached", [BASE, UPPER], tag="v1")
    v2 = images.push(v1.repository.split("/", 1)[1], [BASE, UPPER, TOP], tag="v2", unique=False)
    v1_layers, v2_layers = layer_digests(registry, v1), layer_digests(registry, v2)
    assert v2_layers[:2] == v1_layers  # the premise: the engine pushed the shared layers once
    write_manifest(repo_dir, v1)
    assert main(["pull", "-C", str(repo_dir), "--from", "docker://"]) == 0
    assert len(cache_refs(repo_dir)) == 2  # the state after each of v1's layers
    shown = capsys.readouterr().err
    # the last word of each reading bar (a log has a line when it starts and when it ends)
    bars = {index: (done, total) for index, done, total in
            re.findall(r"reading (\d)/2\b.*? ([\d,]+)/([\d,]+) bytes", shown)}
    assert len(bars) == 2 and all(done == total for done, total in bars.values())
    sizes = [layer["size"] for layer in
             json.loads(registry.blob_path(v1.digest).read_bytes())["layers"]]
    assert "pulling all layers" in shown and f"{sum(sizes)}/{sum(sizes)} bytes" in shown
    # gc must not take the blobs that only the cached states name
    subprocess.run(["git", "-C", str(repo_dir), "gc", "-q", "--prune=now"], check=True)

    write_manifest(repo_dir, replace(v1, tag="v2"))
    mark = registry.mark()
    assert main(["pull", "-C", str(repo_dir), "--from", "docker://"]) == 0

    assert registry.blob_gets(since=mark) == [v2.image_id, v2_layers[2]]  # config + new layer
    new_size = json.loads(registry.blob_path(v2.digest).read_bytes())["layers"][2]["size"]
    total_bars = re.findall(r"pulling all layers\b.*", capsys.readouterr().err)
    assert total_bars and f"{new_size}/{new_size} bytes" in total_bars[-1]  # its last line
    warm = tip(repo_dir)
    assert warm is not None
    cold_dir = tmp_path / "cold"
    pygit2.init_repository(str(cold_dir), initial_head="main")
    write_manifest(cold_dir, replace(v1, tag="v2"))
    assert main(["pull", "-C", str(cold_dir), "--from", "docker://"]) == 0
    cold = tip(cold_dir)
    assert cold is not None and cold.tree_id == warm.tree_id
    assert warm.message == cold.message
    fsck = subprocess.run(["git", "-C", str(repo_dir), "fsck", "--no-dangling"],
                          capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert len(cache_refs(repo_dir)) == 3  # v2's chain (whose first two states are v1's)


def test_no_cache_reads_every_layer_and_prune_cache_forgets_everything(
        images: ImageFactory, registry: Registry, repo_dir: Path) -> None:
    v1 = images.push("nocache", [BASE, UPPER], tag="v1")
    write_manifest(repo_dir, v1)
    assert main(["pull", "-C", str(repo_dir), "--from", "docker://"]) == 0
    before = cache_refs(repo_dir)

    mark = registry.mark()
    assert main(["pull", "-C", str(repo_dir), "--from", "docker://", "--reread",
                 "--no-cache"]) == 0
    assert len(registry.blob_gets(since=mark)) == 3  # config and both layers
    assert cache_refs(repo_dir) == before  # rewritten with the same states

    mark = registry.mark()
    assert main(["pull", "-C", str(repo_dir), "--from", "docker://", "--reread"]) == 0
    assert registry.blob_gets(since=mark) == [v1.image_id]  # every layer from the cache

    assert main(["pull", "-C", str(repo_dir), "--from", "docker://", "--reread",
                 "--prune-cache"]) == 0
    assert cache_refs(repo_dir) == []


def test_an_interrupted_pull_keeps_the_layers_it_finished(
        images: ImageFactory, registry: Registry, repo_dir: Path, tmp_path: Path) -> None:
    """The third layer cannot be downloaded (its blob is gone from the registry's storage, a
    real failure mid-pull): the pull fails, the branch does not move, and the state after the
    two layers it finished is kept, so the rerun downloads only the config and that layer."""
    pushed = images.push("resume", [BASE, UPPER, TOP], tag="v1")
    layers = layer_digests(registry, pushed)
    write_manifest(repo_dir, pushed)
    blob = registry.blob_path(layers[2])
    hidden = blob.with_name("data.hidden")
    blob.rename(hidden)
    try:
        assert main(["pull", "-q", "-C", str(repo_dir), "--from", "docker://"]) in (1, 2)
    finally:
        hidden.rename(blob)
    assert tip(repo_dir) is None  # nothing committed, the branch never created
    assert len(cache_refs(repo_dir)) == 2  # the states after layers 1 and 2
    fsck = subprocess.run(["git", "-C", str(repo_dir), "fsck", "--no-dangling"],
                          capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr

    mark = registry.mark()
    assert main(["pull", "-q", "-C", str(repo_dir), "--from", "docker://"]) == 0
    assert registry.blob_gets(since=mark) == [pushed.image_id, layers[2]]
    resumed = tip(repo_dir)
    cold_dir = tmp_path / "cold"
    pygit2.init_repository(str(cold_dir), initial_head="main")
    write_manifest(cold_dir, pushed)
    assert main(["pull", "-q", "-C", str(cold_dir), "--from", "docker://", "--no-cache"]) == 0
    cold = tip(cold_dir)
    assert resumed is not None and cold is not None and resumed.tree_id == cold.tree_id
