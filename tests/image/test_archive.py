"""Daemonless image sources: docker-archive:, oci-archive:, oci: (skopeo's names)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from sync.errors import ImageError
from sync.image.archive import open_archive, parse_source
from sync.image.flatten import flatten
from sync.image.model import Limits, OpenedImage
from tests.builders.images import (
    BuiltImage,
    Dir,
    File,
    ImageSpec,
    LayerSpec,
    Symlink,
    Whiteout,
    write_docker_archive,
    write_oci_archive,
    write_oci_layout,
)
from tests.image.conftest import AMAZON, GitHashingStore, contents

IMAGE = ImageSpec(
    layers=(
        LayerSpec((Dir("opt"), Dir("opt/amazon"), File("opt/amazon/a.py", b"a"),
                   File("opt/amazon/old", b"old"), File("usr/bin/x", b"x")), "none"),
        LayerSpec((Whiteout("opt/amazon/old"), File("opt/amazon/run.sh", b"run", mode=0o755),
                   Symlink("opt/amazon/link", "a.py")), "gzip"),
        LayerSpec((File("opt/amazon/z.txt", b"zstd"),), "zstd"),
    ),
    tags=("deepracer-sim:5.2",),
    created="2024-05-06T07:08:09Z",
)
EXPECTED = {"bundle/a.py": b"a", "bundle/link": b"a.py", "bundle/run.sh": b"run",
            "bundle/z.txt": b"zstd"}


def read(opened: OpenedImage) -> dict[str, bytes]:
    store = GitHashingStore()
    return contents(flatten(opened.layers, [AMAZON], store), store)


def open_error(spec: str, platform: str = "linux/amd64", *, read_layers: bool = False,
               limits: Limits | None = None) -> ImageError:
    """The error opening (and, if asked, reading) ``spec`` raises."""
    with pytest.raises(ImageError) as raised, open_archive(spec, platform, limits) as opened:
        if read_layers:
            read(opened)
    return raised.value


def sha256(path: Path) -> str:
    return f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"


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


def test_docker_v2_schema_2_media_types_are_accepted(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "layout", IMAGE, media_types="docker", index=True)
    with open_archive(f"oci:{tmp_path / 'layout'}", "linux/amd64") as opened:
        assert read(opened) == EXPECTED


def test_layers_can_be_opened_again_while_the_archive_is_open(tmp_path: Path) -> None:
    write_docker_archive(tmp_path / "image.tar", IMAGE)
    with open_archive(f"docker-archive:{tmp_path / 'image.tar'}", "linux/amd64") as opened:
        assert read(opened) == read(opened)


# -- choosing the image ----------------------------------------------------------------------------


def two_images() -> list[ImageSpec]:
    return [ImageSpec(layers=(LayerSpec((File("opt/amazon/v", b"1"),)),), tags=("sim:1",)),
            ImageSpec(layers=(LayerSpec((File("opt/amazon/v", b"2"),)),),
                      tags=("registry.example/sim:2", "sim:latest"))]


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
    assert re.search("no manifest for linux/s390x .*linux/amd64, "
                                         "linux/arm64/v8",
                     open_error(f"oci:{tmp_path / 'layout'}", "linux/s390x").message)


def test_an_image_for_another_platform_is_an_error(tmp_path: Path) -> None:
    write_docker_archive(tmp_path / "arm.tar", ImageSpec(
        layers=(LayerSpec((File("opt/amazon/a", b"a"),)),), platform="linux/arm64"))
    assert re.search("the image is for linux/arm64, not linux/amd64",
                     open_error(f"docker-archive:{tmp_path / 'arm.tar'}", "linux/amd64").message)


# -- corrupt and malformed archives ----------------------------------------------------------------


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


def test_a_truncated_archive_is_an_error_naming_it(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    write_docker_archive(archive, IMAGE)
    data = archive.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    assert str(cut) in open_error(f"docker-archive:{cut}", read_layers=True).message


def test_an_archive_cut_between_members_is_an_error_not_a_missing_file(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    write_docker_archive(archive, IMAGE)
    with tarfile.open(archive) as tar:
        last = tar.getmembers()[-1]  # "repositories": cut just before its header
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: last.offset])
    error = open_error(f"docker-archive:{cut}")
    assert f"{cut}: the archive ends early" in error.message


def test_a_layer_blob_cut_short_in_a_layout_is_an_error(tmp_path: Path) -> None:
    built = write_oci_layout(tmp_path / "layout", IMAGE)
    blob = tmp_path / "layout" / "blobs" / "sha256" / built[0].layers[1].digest[7:]
    blob.write_bytes(blob.read_bytes()[:-20])
    assert "layer 2/3" in open_error(f"oci:{tmp_path / 'layout'}", read_layers=True).message


def test_malformed_json_is_an_error_naming_the_member(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "layout", IMAGE)
    (tmp_path / "layout" / "index.json").write_text("{not json")
    assert "index.json: malformed JSON" in open_error(f"oci:{tmp_path / 'layout'}").message


def test_a_compressed_docker_archive_asks_to_decompress_it(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    write_docker_archive(archive, IMAGE)
    (tmp_path / "image.tar.gz").write_bytes(gzip.compress(archive.read_bytes()))
    error = open_error(f"docker-archive:{tmp_path / 'image.tar.gz'}")
    assert "compressed" in error.message and "gunzip" in (error.hint or "")


def test_an_oci_archive_is_not_a_docker_archive(tmp_path: Path) -> None:
    write_oci_archive(tmp_path / "image.tar", IMAGE)
    error = open_error(f"docker-archive:{tmp_path / 'image.tar'}")
    assert "no manifest.json" in error.message and "oci-archive:" in (error.hint or "")


def test_a_directory_without_oci_layout_is_refused(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "layout", IMAGE)
    (tmp_path / "layout" / "oci-layout").unlink()
    assert re.search("not an OCI image layout",
                     open_error(f"oci:{tmp_path / 'layout'}", "linux/amd64").message)


def test_missing_paths_are_errors(tmp_path: Path) -> None:
    for spec in (f"docker-archive:{tmp_path / 'nope.tar'}", f"oci:{tmp_path / 'nope'}",
                 f"oci-archive:{tmp_path / 'nope.tar'}"):
        assert "no such" in open_error(spec).message


def test_the_layer_size_limit_applies_to_archive_layers(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "layout", IMAGE)
    error = open_error(f"oci:{tmp_path / 'layout'}", read_layers=True,
                       limits=Limits(max_layer_size=4096))
    assert "more than 4096 bytes" in error.message


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
