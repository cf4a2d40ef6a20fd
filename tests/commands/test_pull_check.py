"""`sync pull --check`: is there a new upstream? Real registry, real engine, real archives.

The check reads manifests (and the small config blob) only: the registry's access log proves
that no layer is downloaded, and the branch never moves.
"""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pygit2
import pytest

from sync.cli import main
from sync.git import repo as gitrepo
from tests.commands.test_pull_registry import BASE, UPPER, write_manifest
from tests.fixtures.docker_services import Entry, ImageFactory, PushedImage, Registry

pytestmark = pytest.mark.docker

TOP: dict[str, Entry] = {"opt/amazon/config.yaml": b"track: reinvent2022\n"}


def retag(images: ImageFactory, pushed: PushedImage, layers: list[dict[str, Entry]]
          ) -> PushedImage:
    """Push another image under ``pushed``'s repository and tag: the tag moves."""
    return images.push_local(images.load(layers), pushed.repository, pushed.tag)


def upstream_tip(repo_dir: Path) -> str | None:
    tip = gitrepo.branch_tip(pygit2.Repository(str(repo_dir)), "upstream")
    return str(tip.id) if tip else None


def check(repo_dir: Path, *extra: str) -> int:
    return main(["pull", "-C", str(repo_dir), "--check", *extra])


def test_a_moved_tag_is_exit_1_with_old_and_new_digests_and_no_layer_downloaded(
        images: ImageFactory, registry: Registry, repo_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    v1 = images.push("watched", [BASE, UPPER], tag="latest")
    write_manifest(repo_dir, v1)
    assert main(["pull", "-C", str(repo_dir), "--from", "docker://"]) == 0
    pulled = upstream_tip(repo_dir)
    capsys.readouterr()

    mark = registry.mark()
    assert check(repo_dir, "--from", "docker://") == 0
    out = capsys.readouterr().out
    assert "up to date" in out and v1.digest in out
    assert registry.blob_gets(mark) == [v1.image_id]  # the config only, no layer

    v2 = retag(images, v1, [BASE, UPPER, TOP])
    mark = registry.mark()
    assert check(repo_dir, "--from", "docker://") == 1
    out, err = capsys.readouterr()
    assert f"upstream tag latest moved: {v1.digest} → {v2.digest} (created " in out
    assert "pull" in err and "rebase-patches" in err  # the next step, on stderr
    assert registry.blob_gets(mark) == [v2.image_id]
    assert not [r for r in registry.requests(mark) if r.method not in ("GET", "HEAD")]
    assert upstream_tip(repo_dir) == pulled  # nothing moved


def test_json_names_both_sides(images: ImageFactory, repo_dir: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    v1 = images.push("watchjson", [BASE], tag="v5")
    write_manifest(repo_dir, v1)
    assert main(["pull", "-C", str(repo_dir), "--from", "docker://"]) == 0
    v2 = retag(images, v1, [BASE, TOP])
    capsys.readouterr()

    assert check(repo_dir, "--from", "docker://", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["outdated"] is True and report["compared_by"] == "digest"
    assert (report["tag"], report["old"], report["new"]) == ("v5", v1.digest, v2.digest)
    assert report["recorded"]["commit"] == upstream_tip(repo_dir)
    assert report["recorded"]["image_id"] == v1.image_id
    assert report["current"]["image_id"] == v2.image_id


def test_nothing_pulled_yet_is_exit_1(images: ImageFactory, repo_dir: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    v1 = images.push("watchnew", [BASE], tag="v1")
    write_manifest(repo_dir, v1)
    assert check(repo_dir, "--from", "docker://", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["recorded"] is None and report["new"] == v1.digest
    assert upstream_tip(repo_dir) is None


def test_the_engine_is_asked_for_the_digest_without_pulling(
        images: ImageFactory, registry: Registry, repo_dir: Path, docker_host: str,
        docker_client: docker.DockerClient, capsys: pytest.CaptureFixture[str]) -> None:
    v1 = images.push("watchengine", [BASE, UPPER], tag="v1")
    write_manifest(repo_dir, v1)
    assert main(["pull", "-C", str(repo_dir), "--from", "docker://"]) == 0
    capsys.readouterr()

    mark = registry.mark()
    assert check(repo_dir) == 0  # the default source: the engine at DOCKER_HOST
    assert "up to date" in capsys.readouterr().out
    assert set(registry.blob_gets(mark)) <= {v1.image_id}  # manifests and the config only
    v2 = retag(images, v1, [BASE, TOP])
    mark = registry.mark()
    assert check(repo_dir, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["old"], report["new"]) == (v1.digest, v2.digest)
    assert report["current"]["source"] == "docker-daemon:"
    assert set(registry.blob_gets(mark)) <= {v2.image_id}
    assert not docker_client.images.list(name=v1.repository)  # and stored nothing


def test_an_archive_is_compared_by_its_digest_or_image_id(
        images: ImageFactory, repo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = images.archive([BASE], tags=["example.org/simapp:v1"])
    second = images.archive([BASE, TOP], tags=["example.org/simapp:v1"])
    (repo_dir / "upstream-manifest.yaml").write_text(
        f"image: example.org/simapp\ntag: v1\nplatform: {images.platform}\n"
        "branch: upstream\npaths:\n  - source: /opt/amazon\n    target: bundle\n")
    assert main(["pull", "-C", str(repo_dir), "--from", f"docker-archive:{first}"]) == 0
    capsys.readouterr()

    assert check(repo_dir, "--from", f"docker-archive:{first}") == 0
    assert "up to date" in capsys.readouterr().out
    assert check(repo_dir, "--from", f"docker-archive:{second}", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["outdated"] is True and report["old"] != report["new"]


def test_an_unknown_transport_is_exit_2(repo_dir: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    (repo_dir / "upstream-manifest.yaml").write_text(
        "image: example.org/simapp\ntag: v1\nplatform: linux/amd64\nbranch: upstream\n"
        "paths:\n  - source: /opt/amazon\n    target: bundle\n")
    assert check(repo_dir, "--from", "ftp://x") == 2
    assert "unknown transport" in capsys.readouterr().err
