"""oci: and oci-archive: an OCI image layout, its image picked by ref name and platform."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from sync.image.archive import open_archive
from sync.image.model import Limits
from tests.builders.images import File, ImageSpec, LayerSpec, write_oci_layout
from tests.image.archives import EXPECTED, IMAGE, open_error, read


def test_docker_v2_schema_2_media_types_are_accepted(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "layout", IMAGE, media_types="docker", index=True)
    with open_archive(f"oci:{tmp_path / 'layout'}", "linux/amd64") as opened:
        assert read(opened) == EXPECTED


def test_an_oci_ref_name_selects_the_image(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "layout", [
        ImageSpec(layers=(LayerSpec((File("opt/amazon/v", b"1"),)),), tags=("v1",)),
        ImageSpec(layers=(LayerSpec((File("opt/amazon/v", b"2"),)),), tags=("v2", "latest"))])
    with open_archive(f"oci:{tmp_path / 'layout'}:v1", "linux/amd64") as opened:
        assert read(opened) == {"bundle/v": b"1"}
        assert opened.info.reference == "v1"
    with open_archive(f"oci:{tmp_path / 'layout'}:latest", "linux/amd64") as opened:
        assert read(opened) == {"bundle/v": b"2"}
    assert "several images (latest, v1, v2)" in open_error(f"oci:{tmp_path / 'layout'}").message
    assert "no image named 'v3' (the layout has: latest, v1" in open_error(
        f"oci:{tmp_path / 'layout'}:v3").message


def test_an_image_index_is_followed_to_the_requested_platform(tmp_path: Path) -> None:
    built = write_oci_layout(tmp_path / "layout", [
        ImageSpec(layers=(LayerSpec((File("opt/amazon/arch", b"amd64"),)),), tags=("5.2",)),
        ImageSpec(layers=(LayerSpec((File("opt/amazon/arch", b"arm64"),)),),
                  platform="linux/arm64/v8"),
    ], index=True)
    for platform, arch in (("linux/amd64", b"amd64"), ("linux/arm64", b"arm64"),
                           ("linux/arm64/v8", b"arm64")):
        with open_archive(f"oci:{tmp_path / 'layout'}:5.2", platform) as opened:
            assert read(opened) == {"bundle/arch": arch}
            assert opened.info.digest == built[0].index_digest  # the repo digest: the index
    assert re.search("no manifest for platform linux/s390x .*linux/amd64, "
                                         "linux/arm64/v8",
                     open_error(f"oci:{tmp_path / 'layout'}", "linux/s390x").message)


# -- corrupt and malformed layouts ----------------------------------------------------------------


def test_a_missing_blob_is_an_error_naming_it(tmp_path: Path) -> None:
    built = write_oci_layout(tmp_path / "layout", IMAGE)
    missing = built[0].layers[1].digest.partition(":")[2]
    (tmp_path / "layout" / "blobs" / "sha256" / missing).unlink()
    assert re.search(f"blobs/sha256/{missing} is missing",
                     open_error(f"oci:{tmp_path / 'layout'}", "linux/amd64").message)


def test_a_manifest_that_does_not_match_its_digest_is_an_error(tmp_path: Path) -> None:
    built = write_oci_layout(tmp_path / "layout", IMAGE)
    path = tmp_path / "layout" / "blobs" / "sha256" / built[0].manifest_digest[7:]
    path.write_bytes(path.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":2 '))
    assert re.search("the manifest does not match its digest",
                     open_error(f"oci:{tmp_path / 'layout'}", "linux/amd64").message)


def test_a_layer_that_does_not_match_its_diff_id_fails_when_read(tmp_path: Path) -> None:
    built = write_oci_layout(tmp_path / "layout", IMAGE)
    config_path = tmp_path / "layout" / "blobs" / "sha256" / built[0].config_digest[7:]
    config = json.loads(config_path.read_bytes())
    config["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
    # re-home the config under its new digest and point the manifest at it
    data = json.dumps(config).encode()
    new_digest = hashlib.sha256(data).hexdigest()
    (config_path.parent / new_digest).write_bytes(data)
    manifest_path = config_path.parent / built[0].manifest_digest[7:]
    manifest = json.loads(manifest_path.read_bytes())
    manifest["config"] = {**manifest["config"], "digest": f"sha256:{new_digest}",
                          "size": len(data)}
    manifest_data = json.dumps(manifest).encode()
    manifest_digest = hashlib.sha256(manifest_data).hexdigest()
    (config_path.parent / manifest_digest).write_bytes(manifest_data)
    index_path = tmp_path / "layout" / "index.json"
    index = json.loads(index_path.read_bytes())
    index["manifests"][0].update(digest=f"sha256:{manifest_digest}", size=len(manifest_data))
    index_path.write_text(json.dumps(index))
    error = open_error(f"oci:{tmp_path / 'layout'}", read_layers=True)
    assert re.search(r"layer 1/3 .*diff_id mismatch", error.message)


def test_a_layer_blob_cut_short_in_a_layout_is_an_error(tmp_path: Path) -> None:
    built = write_oci_layout(tmp_path / "layout", IMAGE)
    blob = tmp_path / "layout" / "blobs" / "sha256" / built[0].layers[1].digest[7:]
    blob.write_bytes(blob.read_bytes()[:-20])
    assert "layer 2/3" in open_error(f"oci:{tmp_path / 'layout'}", read_layers=True).message


def test_malformed_json_is_an_error_naming_the_member(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "layout", IMAGE)
    (tmp_path / "layout" / "index.json").write_text("{not json")
    assert "index.json: malformed JSON" in open_error(f"oci:{tmp_path / 'layout'}").message


def test_a_directory_without_oci_layout_is_refused(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "layout", IMAGE)
    (tmp_path / "layout" / "oci-layout").unlink()
    assert re.search("not an OCI image layout",
                     open_error(f"oci:{tmp_path / 'layout'}", "linux/amd64").message)


def test_the_layer_size_limit_applies_to_archive_layers(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "layout", IMAGE)
    error = open_error(f"oci:{tmp_path / 'layout'}", read_layers=True,
                       limits=Limits(max_layer_size=4096))
    assert "more than 4096 bytes" in error.message
