"""The image writers behind tests, the benchmark and the sample: deterministic, loadable tars."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.builders.images import (
    CharDevice,
    Dir,
    Fifo,
    File,
    Hardlink,
    ImageSpec,
    LayerSpec,
    Opaque,
    Raw,
    Stream,
    Symlink,
    Whiteout,
    layer_blob,
    layer_tar,
    write_docker_archive,
)

IMAGE = ImageSpec(layers=(
    LayerSpec((Dir("opt/amazon"), File("opt/amazon/a", b"a", mtime=5, uid=7)), "none"),
    LayerSpec((Whiteout("opt/amazon/a"), File("opt/amazon/big", Stream.pattern(3 << 20))),
              "gzip"),
))


def members(blob: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(blob), encoding="utf-8",
                      errors="surrogateescape") as tar:
        return {info.name: info for info in tar}


def test_entry_specs_become_the_expected_members() -> None:
    found = members(layer_tar([
        Dir("d"), File("d/x", b"xyz", mode=0o750), Symlink("d/l", "x"), Hardlink("d/h", "d/x"),
        Fifo("d/p"), CharDevice("d/null", 1, 3), Whiteout("d/gone"), Opaque("d"),
        Raw(b"caf\xe9", content=b"raw"), Raw("../escape", type=tarfile.SYMTYPE, linkname="/"),
    ]))
    assert found["d"].isdir() and found["d/x"].size == 3 and found["d/x"].mode == 0o750
    assert found["d/l"].issym() and found["d/l"].linkname == "x"
    assert found["d/h"].islnk() and found["d/h"].linkname == "d/x"
    assert found["d/p"].isfifo() and found["d/null"].ischr()
    assert found["d/.wh.gone"].isfile() and found["d/.wh..wh..opq"].isfile()
    assert found["caf\udce9"].size == 3  # the raw bytes survive
    assert found["../escape"].issym()
    assert {info.mtime for info in found.values()} == {0}


def test_output_is_deterministic(tmp_path: Path) -> None:
    write_docker_archive(tmp_path / "one.tar", IMAGE)
    write_docker_archive(tmp_path / "two.tar", IMAGE)
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()


def test_the_legacy_docker_layout(tmp_path: Path) -> None:
    built = write_docker_archive(tmp_path / "image.tar", IMAGE)[0]
    with tarfile.open(tmp_path / "image.tar") as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["sample:latest"]
    assert manifest[0]["Config"] == f"{built.config_digest[7:]}.json"
    assert all(layer in names and layer.endswith("/layer.tar") for layer in manifest[0]["Layers"])
    assert "repositories" in names and "index.json" not in names
    assert config["rootfs"]["diff_ids"] == [layer.diff_id for layer in built.layers]
    assert (config["os"], config["architecture"]) == ("linux", "amd64")


def test_the_docker_25_layout(tmp_path: Path) -> None:
    built = write_docker_archive(tmp_path / "image.tar", IMAGE, layout="oci")[0]
    with tarfile.open(tmp_path / "image.tar") as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert {"oci-layout", "index.json", "manifest.json"} <= names
    assert manifest[0]["Layers"] == [f"blobs/sha256/{layer.digest[7:]}"
                                     for layer in built.layers]
    assert index["manifests"][0]["digest"] == built.manifest_digest
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == (
        "docker.io/library/sample:latest")


@pytest.mark.parametrize("compression, magic", [
    ("none", b"opt/"), ("gzip", b"\x1f\x8b"), ("gzip-multi", b"\x1f\x8b"),
    ("zstd", b"\x28\xb5\x2f\xfd"), ("zstd-multi", b"\x28\xb5\x2f\xfd")])
def test_layers_are_compressed_as_asked(compression: str, magic: bytes) -> None:
    blob, built = layer_blob([File("opt/amazon/a", b"a")], compression)  # type: ignore[arg-type]
    assert blob.startswith(magic)
    assert built.size == len(blob) and built.compression == compression


def test_streamed_content_must_have_its_declared_size() -> None:
    short = Stream(10, lambda: iter([b"12345"]))
    with pytest.raises(ValueError, match="produced 5 bytes, not 10"):
        layer_tar([File("x", short)])


def test_stream_patterns_differ_by_seed_and_repeat_by_seed() -> None:
    def content(stream: Stream) -> bytes:
        return b"".join(stream.chunks())

    assert content(Stream.pattern(1000, b"a")) == content(Stream.pattern(1000, b"a"))
    assert content(Stream.pattern(1000, b"a")) != content(Stream.pattern(1000, b"b"))
    assert len(content(Stream.pattern(3 * 1024 * 1024 + 5))) == 3 * 1024 * 1024 + 5
