"""What the upstream image is now, from the smallest documents its source has (pull --check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config.manifest import Manifest, PathMapping
from sync.errors import ConfigError
from sync.image.current import CurrentImage, current_image
from tests.builders.images import File, ImageSpec, LayerSpec, write_docker_archive, write_oci_layout

MANIFEST = Manifest(image="example.org/simapp", tag="5.2", digest=None, platform="linux/amd64",
                    branch="upstream", paths=(PathMapping("/opt/amazon", "bundle"),))
IMAGE = ImageSpec(layers=(LayerSpec((File("opt/amazon/a", b"a"),)),), tags=("simapp:5.2",),
                  created="2024-05-06T07:08:09Z")


def test_an_archive_answers_from_its_manifest_and_config(tmp_path: Path) -> None:
    built = write_docker_archive(tmp_path / "image.tar", IMAGE, layout="oci")
    found = current_image(f"docker-archive:{tmp_path / 'image.tar'}", MANIFEST)
    assert found == CurrentImage("simapp:5.2", "docker-archive:", built[0].manifest_digest,
                                 built[0].config_digest, "2024-05-06T07:08:09Z")
    assert found.as_json()["image_id"] == built[0].config_digest


def test_an_oci_layout_answers_with_its_manifest_digest(tmp_path: Path) -> None:
    built = write_oci_layout(tmp_path / "layout", IMAGE)
    found = current_image(f"oci:{tmp_path / 'layout'}", MANIFEST)
    assert (found.source, found.digest, found.image_id) == (
        "oci:", built[0].manifest_digest, built[0].config_digest)


def test_no_layer_is_read(tmp_path: Path) -> None:
    built = write_oci_layout(tmp_path / "layout", IMAGE)
    for layer in built[0].layers:  # a check must not need them
        (tmp_path / "layout" / "blobs" / "sha256" / layer.digest[7:]).write_bytes(b"gone")
    assert current_image(f"oci:{tmp_path / 'layout'}", MANIFEST).digest == \
        built[0].manifest_digest


def test_an_unknown_transport_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--from tarball:/x: unknown transport") as raised:
        current_image("tarball:/x", MANIFEST)
    assert "docker-daemon:" in (raised.value.hint or "")
