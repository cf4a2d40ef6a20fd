"""An archive's files: a tar on disk is indexed once and refused when truncated or compressed."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

from tests.builders.images import write_docker_archive
from tests.image.archives import IMAGE, open_error


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


def test_a_compressed_docker_archive_asks_to_decompress_it(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    write_docker_archive(archive, IMAGE)
    (tmp_path / "image.tar.gz").write_bytes(gzip.compress(archive.read_bytes()))
    error = open_error(f"docker-archive:{tmp_path / 'image.tar.gz'}")
    assert "compressed" in error.message and "gunzip" in (error.hint or "")
