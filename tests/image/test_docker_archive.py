"""docker-archive: a docker save tarball, legacy or Docker 25+, its image picked by tag."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from sync.image.archive import open_archive
from tests.builders.images import (
    File,
    ImageSpec,
    LayerSpec,
    write_docker_archive,
    write_oci_archive,
)
from tests.image.archives import IMAGE, open_error, read, two_images


@pytest.mark.parametrize("reference, version", [
    ("sim:1", b"1"), ("registry.example/sim:2", b"2"), ("sim", b"2"), ("sim:latest", b"2"),
    ("docker.io/library/sim:1", b"1"), ("@0", b"1"), ("@1", b"2"),
])
def test_a_docker_archive_image_is_picked_by_tag(tmp_path: Path, reference: str,
                                                 version: bytes) -> None:
    write_docker_archive(tmp_path / "two.tar", two_images())
    with open_archive(f"docker-archive:{tmp_path / 'two.tar'}:{reference}",
                      "linux/amd64") as opened:
        assert read(opened) == {"bundle/v": version}


def test_several_images_without_a_reference_is_an_error_listing_them(tmp_path: Path) -> None:
    write_docker_archive(tmp_path / "two.tar", two_images())
    error = open_error(f"docker-archive:{tmp_path / 'two.tar'}")
    assert "holds 2 images (sim:1, registry.example/sim:2,sim:latest)" in error.message


def test_an_unknown_tag_is_an_error_listing_the_tags(tmp_path: Path) -> None:
    write_docker_archive(tmp_path / "two.tar", two_images())
    error = open_error(f"docker-archive:{tmp_path / 'two.tar'}:sim:3")
    assert re.search("no image tagged 'sim:3' .*sim:1, ", error.message)


def test_an_image_for_another_platform_is_an_error(tmp_path: Path) -> None:
    write_docker_archive(tmp_path / "arm.tar", ImageSpec(
        layers=(LayerSpec((File("opt/amazon/a", b"a"),)),), platform="linux/arm64"))
    assert re.search("the image is for linux/arm64, not linux/amd64",
                     open_error(f"docker-archive:{tmp_path / 'arm.tar'}", "linux/amd64").message)


def test_a_config_that_does_not_match_its_name_is_an_error(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    built = write_docker_archive(archive, IMAGE)
    config_name = f"{built[0].config_digest[7:]}.json"
    rewritten = tmp_path / "rewritten.tar"
    with tarfile.open(archive) as source, tarfile.open(rewritten, "w") as target:
        for info in source:
            data = source.extractfile(info) if info.isfile() else None
            if info.name == config_name and data is not None:
                content = data.read().replace(b"2024-05-06", b"2030-01-01")
                info.size = len(content)
                target.addfile(info, io.BytesIO(content))
            else:
                target.addfile(info, data)
    assert re.search(f"{config_name} does not match its name",
                     open_error(f"docker-archive:{rewritten}", "linux/amd64").message)


def test_an_oci_archive_is_not_a_docker_archive(tmp_path: Path) -> None:
    write_oci_archive(tmp_path / "image.tar", IMAGE)
    error = open_error(f"docker-archive:{tmp_path / 'image.tar'}")
    assert "no manifest.json" in error.message and "oci-archive:" in (error.hint or "")
