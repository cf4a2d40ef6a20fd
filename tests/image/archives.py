"""Helpers for the archive tests: a sample image, and how to open and read it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sync.errors import ImageError
from sync.image.archive import open_archive
from sync.image.flatten import flatten
from sync.image.model import Limits, OpenedImage
from tests.builders.images import Dir, File, ImageSpec, LayerSpec, Symlink, Whiteout
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


def two_images() -> list[ImageSpec]:
    return [ImageSpec(layers=(LayerSpec((File("opt/amazon/v", b"1"),)),), tags=("sim:1",)),
            ImageSpec(layers=(LayerSpec((File("opt/amazon/v", b"2"),)),),
                      tags=("registry.example/sim:2", "sim:latest"))]
