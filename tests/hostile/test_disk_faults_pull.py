"""Class 11 of issue 11, for `pull`: a disk that is full, read-only or under a file-size limit
while the image is imported exits 1 naming what failed and where, with no traceback, no
temporary object left behind, and every ref as it was (the branch and the layer cache under
refs/simapp-sync/layers/: when the cache cannot be written after the branch moved, the branch
goes back).

The faults are real (tests.hostile.disk), in the child process only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from sync.cli import main
from sync.sample import SAMPLE_MANIFEST, sample_image
from tests.builders.images import Dir, File, ImageSpec, LayerSpec, write_docker_archive
from tests.hostile import disk
from tests.hostile.state import snapshot

FILES = 10
FILE_SIZE = 300_000  # random: every object is as big as its file


@pytest.fixture
def pulled(repo_dir: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A checkout that pulled the sample's v1 (branch and layer cache written), and the
    arguments of a pull of a bigger image: ten files of random bytes in a layer of their own."""
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    assert main(["pull", "-q", "-C", str(repo_dir), "--from",
                 f"docker-archive:{tmp_path / 'v1.tar'}"]) == 0
    assert any(name.startswith("refs/simapp-sync/layers/")
               for name in pygit2.Repository(str(repo_dir)).references)
    base = sample_image(1)
    data = LayerSpec([Dir("opt/amazon/meshes"), *(
        File(f"opt/amazon/meshes/mesh{n}.bin", os.urandom(FILE_SIZE)) for n in range(FILES))])
    image = ImageSpec(layers=(*base.layers, data), tags=base.tags, created=base.created)
    write_docker_archive(tmp_path / "v2.tar", image)
    return repo_dir, ["pull", "--from", f"docker-archive:{tmp_path / 'v2.tar'}"]


def test_a_file_size_limit_stops_the_import_at_the_first_object_too_large(pulled):
    project, args = pulled
    before = snapshot(project)
    run = disk.run_with_file_size_limit(project, args, FILE_SIZE // 2)
    disk.assert_refused_cleanly(run, f"writing git objects to {project}/.git/objects",
                           "File too large")
    assert "nothing was changed" in run.err
    disk.assert_untouched(project, before)
    assert main(["pull", "-q", "-C", str(project), *args[1:]]) == 0  # no limit: it works


def test_a_disk_that_fills_up_in_the_middle_of_the_import_moves_no_ref(pulled):
    project, args = pulled
    before = snapshot(project)
    run = disk.run_on_full_disk(project, args, free=FILES * FILE_SIZE // 3)
    disk.assert_refused_cleanly(run, f"{project}/.git/objects", "No space left on device")
    disk.assert_untouched(project, before)


def test_a_read_only_object_database_is_named(pulled):
    project, args = pulled
    before = snapshot(project)
    run = disk.run_read_only(project, args, [".git/objects"])
    disk.assert_refused_cleanly(run, f"{project}/.git/objects", "Read-only file system")
    disk.assert_untouched(project, before)


def test_a_branch_that_cannot_be_written_is_named_and_the_cache_is_untouched(pulled):
    project, args = pulled
    before = snapshot(project)
    run = disk.run_read_only(project, args, [".git/refs/heads"])
    disk.assert_refused_cleanly(run, "refs/heads/upstream", "Read-only file system")
    disk.assert_untouched(project, before)


def test_a_layer_cache_that_cannot_be_written_after_the_branch_moved_puts_the_branch_back(
        pulled):
    project, args = pulled
    before = snapshot(project)
    run = disk.run_read_only(project, args, [".git/refs/simapp-sync"])
    disk.assert_refused_cleanly(run, f"updating {project}/.git/refs/simapp-sync/layers",
                           "Read-only file system")
    disk.assert_untouched(project, before)
