"""Class 11 of issue 11, for `patches new` (and `adopt`, `ci init`): a disk fault while the new
patch is written exits 1 naming the file, with no traceback; no patch file is left and
patches/series is unchanged (the series is written last, so a new patch file written before the
fault is removed).

The faults are real (tests.hostile.disk), in the child process only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.sample import SAMPLE_MANIFEST
from tests.commands.projects import SERIES, UPSTREAM_FILES, Project, make_project
from tests.commands.test_adopt import UPSTREAM, commit, git
from tests.hostile import disk
from tests.hostile.state import snapshot

BIG = b"".join(b"texture %07d\n" % n for n in range(200_000))  # 3.2 MB, compressible
NEW = ["patches", "new", "0003-track.patch", "-m", "Add the track"]


@pytest.fixture
def edited(tmp_path: Path) -> Project:
    """A checkout with an edit no patch explains: a big new file and a changed README."""
    project = make_project(tmp_path, UPSTREAM_FILES, SERIES, template="FROM scratch\n")
    project.write("bundle/track.txt", BIG)
    project.write("bundle/README.md", "the community's readme\n")
    return project


def assert_refused_cleanly(run: disk.Run, path: str, reason: str, project: Path,
                           before: dict[str, str]) -> None:
    disk.assert_refused_cleanly(run, f"writing {path}: {reason}")
    disk.assert_untouched(project, before, check_objects=False)
    assert not (project / "patches/0003-track.patch").exists()


def test_a_file_size_limit_leaves_no_patch_file_and_the_series_as_it_was(edited: Project):
    before = snapshot(edited.root)
    run = disk.run_with_file_size_limit(edited.root, NEW, 1 << 20)
    assert_refused_cleanly(run, "patches/0003-track.patch", "File too large", edited.root,
                           before)
    assert edited.run(*NEW).code == 0  # without the limit it is captured


def test_a_full_disk_leaves_no_patch_file(edited: Project):
    before = snapshot(edited.root)
    run = disk.run_on_full_disk(edited.root, NEW, free=1 << 20)
    assert_refused_cleanly(run, "patches/0003-track.patch", "No space left on device",
                           edited.root, before)


def test_a_read_only_patches_folder_is_named(edited: Project):
    before = snapshot(edited.root)
    run = disk.run_read_only(edited.root, NEW, ["patches"])
    assert_refused_cleanly(run, "patches/0003-track.patch", "Read-only file system",
                           edited.root, before)


def test_ci_init_into_a_read_only_folder_names_the_workflow_file(edited: Project):
    """Every other writer says the same: here `ci init` (written like render's outputs)."""
    (edited.root / ".github/workflows").mkdir(parents=True)
    run = disk.run_read_only(edited.root, ["ci", "init"], [".github/workflows"])
    assert run.code == 1 and "Traceback" not in run.err, run.err
    assert "writing .github/workflows/simapp-sync.yml: Read-only file system" in run.err
    assert list((edited.root / ".github/workflows").iterdir()) == []


def test_adopt_under_a_file_size_limit_writes_no_patches_folder_and_no_branch(tmp_path: Path):
    """`adopt` writes patches/ (which did not exist) and then the upstream branch: a fault in
    between takes patches/ away again."""
    root = tmp_path / "community"
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    (root / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    imported = commit(root, dict(UPSTREAM), "Import the bundle")
    commit(root, {"bundle/src/rewards.py": b"def reward(params):\n    return 2.0\n"},
           "Better reward")
    commit(root, {"bundle/track.txt": BIG}, "Add the track")
    before = snapshot(root)
    run = disk.run_with_file_size_limit(root, ["adopt", "--upstream-rev", imported], 1 << 20)
    assert run.code == 1 and "Traceback" not in run.err, run.err
    assert "writing patches/0002-Add-the-track.patch: File too large" in run.err
    assert snapshot(root) == before and not (root / "patches").exists()
    disk.fsck(root)
