"""Daemonless image sources: docker-archive:, oci-archive:, oci: (skopeo's names)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sync.errors import ImageError
from sync.image.archive import open_archive, parse_source
from tests.builders.images import (
    BuiltImage,
    write_docker_archive,
    write_oci_archive,
    write_oci_layout,
)
from tests.image.archives import EXPECTED, IMAGE, open_error, read, sha256

# -- the three transports ------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["legacy", "oci"])
def test_a_docker_save_archive(tmp_path: Path, layout: str) -> None:
    archive = tmp_path / "image.tar"
    built = write_docker_archive(archive, IMAGE, layout=layout)  # type: ignore[arg-type]
    with open_archive(f"docker-archive:{archive}", "linux/amd64") as opened:
        assert read(opened) == EXPECTED
        assert opened.info.reference == "deepracer-sim:5.2"
        assert opened.info.image_id == built[0].config_digest
        assert opened.info.created == "2024-05-06T07:08:09Z"
        # the legacy layout carries no manifest; Docker 25+ archives do
        assert opened.info.digest == (built[0].manifest_digest if layout == "oci" else None)
        assert [layer.description[:9] for layer in opened.layers] == [
            "layer 1/3", "layer 2/3", "layer 3/3"]


def test_an_oci_layout_directory(tmp_path: Path) -> None:
    built = write_oci_layout(tmp_path / "layout", IMAGE)
    with open_archive(f"oci:{tmp_path / 'layout'}", "linux/amd64") as opened:
        assert read(opened) == EXPECTED
        assert opened.info.digest == built[0].manifest_digest
        assert opened.info.image_id == built[0].config_digest
        assert opened.info.reference == "deepracer-sim:5.2"
        assert [layer.size for layer in opened.layers] == [layer.size
                                                            for layer in built[0].layers]


def test_an_oci_archive(tmp_path: Path) -> None:
    built = write_oci_archive(tmp_path / "image.oci.tar", IMAGE)
    with open_archive(f"oci-archive:{tmp_path / 'image.oci.tar'}", "linux/amd64") as opened:
        assert read(opened) == EXPECTED
        assert opened.info.digest == built[0].manifest_digest


def test_layers_can_be_opened_again_while_the_archive_is_open(tmp_path: Path) -> None:
    write_docker_archive(tmp_path / "image.tar", IMAGE)
    with open_archive(f"docker-archive:{tmp_path / 'image.tar'}", "linux/amd64") as opened:
        assert read(opened) == read(opened)


def test_missing_paths_are_errors(tmp_path: Path) -> None:
    for spec in (f"docker-archive:{tmp_path / 'nope.tar'}", f"oci:{tmp_path / 'nope'}",
                 f"oci-archive:{tmp_path / 'nope.tar'}"):
        assert "no such" in open_error(spec).message


# -- sources -------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, transport, path, reference", [
    ("docker-archive:/tmp/x.tar", "docker-archive", "/tmp/x.tar", None),
    ("docker-archive:/tmp/x.tar:sim:5.2", "docker-archive", "/tmp/x.tar", "sim:5.2"),
    ("oci:/srv/layout:v1", "oci", "/srv/layout", "v1"),
    ("oci-archive:img.tar", "oci-archive", "img.tar", None),
])
def test_sources_are_parsed_like_skopeo(spec: str, transport: str, path: str,
                                        reference: str | None) -> None:
    source = parse_source(spec)
    assert (source.transport, str(source.path), source.reference) == (transport, path,
                                                                      reference)


def test_an_existing_path_with_a_colon_is_taken_whole(tmp_path: Path) -> None:
    odd = tmp_path / "image:v1.tar"
    odd.write_bytes(b"")
    assert parse_source(f"docker-archive:{odd}").path == odd


@pytest.mark.parametrize("spec", ["docker-daemon:", "docker://x", "tarball:/x", "oci:", "x"])
def test_other_transports_are_not_archives(spec: str) -> None:
    with pytest.raises(ImageError, match="not an image archive source") as raised:
        parse_source(spec)
    assert "docker-archive:PATH" in (raised.value.hint or "")


def test_built_images_describe_what_was_written(tmp_path: Path) -> None:
    built: list[BuiltImage] = write_oci_layout(tmp_path / "layout", IMAGE)
    blobs = tmp_path / "layout" / "blobs" / "sha256"
    for layer in built[0].layers:
        assert sha256(blobs / layer.digest[7:]) == layer.digest
    assert sha256(blobs / built[0].manifest_digest[7:]) == built[0].manifest_digest
    shutil.rmtree(tmp_path / "layout")
    assert write_oci_layout(tmp_path / "layout", IMAGE) == built  # deterministic
