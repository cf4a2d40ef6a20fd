"""Class 11 of issue 11, for `rebase-patches`: a disk that is full, read-only or under a
file-size limit while the rebase writes the work tree or patches/ exits 1 naming the file, with
no traceback, and puts back what it wrote (a start leaves the repository exactly as it was; a
stopped rebase stays one that `--abort` restores byte for byte).

The faults are real (tests.hostile.disk): RLIMIT_FSIZE, a tmpfs with little room, a read-only
bind mount, each in the child process only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands.projects import (
    AGENT,
    SERIES,
    UPSTREAM_FILES,
    PatchSpec,
    Project,
    make_project,
)
from tests.hostile import disk
from tests.hostile.state import snapshot

# compressible: a small object in the database, a big file in the work tree
BIG = b"".join(b"texture %07d\n" % n for n in range(200_000))  # 3.2 MB
LIMIT = 1 << 20


def upstream_moved(tmp_path: Path) -> Project:
    """A checkout whose upstream moved: files before and after the big new one change too, so
    that a rebase writing them in order has written some before it meets the big one."""
    project = make_project(tmp_path, UPSTREAM_FILES, SERIES, template="FROM scratch\n")
    project.move_upstream({
        "bundle/README.md": b"upstream readme, second edition\n",
        "bundle/configs/environment.yml": b"tensorflow==2.12\nredis==4.6\n",
        "bundle/meshes/track.txt": BIG,
        "bundle/src/markov/agent.py": b"# header\n" + AGENT,
    })
    return project


def test_a_file_size_limit_while_writing_the_work_tree_puts_back_what_was_written(
        tmp_path: Path):
    project = upstream_moved(tmp_path)
    before = snapshot(project.root)
    run = disk.run_with_file_size_limit(project.root, ["rebase-patches"], LIMIT)
    disk.assert_refused_cleanly(run, "bundle/meshes/track.txt: File too large")
    assert "nothing was changed" in run.err
    disk.assert_untouched(project.root, before)
    assert project.run("rebase-patches").code == 0  # with the limit gone, it just works
    assert (project.root / "bundle/meshes/track.txt").read_bytes() == BIG


def test_a_full_disk_while_writing_the_work_tree_puts_back_what_was_written(tmp_path: Path):
    project = upstream_moved(tmp_path)
    before = snapshot(project.root)
    run = disk.run_on_full_disk(project.root, ["rebase-patches"], free=LIMIT)
    disk.assert_refused_cleanly(run, "bundle/meshes/track.txt: No space left on device")
    disk.assert_untouched(project.root, before)


@pytest.mark.parametrize("fault", ["file size", "full disk"])
def test_a_fault_among_many_files_written_at_once_names_the_file_that_does_not_fit(
        tmp_path: Path, fault: str):
    """Files are written several at once: small ones written alongside the big one may fail
    too on a full disk, but the file named is the one that cannot be written on its own."""
    project = make_project(tmp_path, UPSTREAM_FILES, SERIES, template="FROM scratch\n")
    project.move_upstream({**{f"bundle/meshes/part{n:03d}.txt": b"part %d\n" % n * 2000
                              for n in range(120)}, "bundle/meshes/part050.txt": BIG})
    before = snapshot(project.root)
    if fault == "file size":
        run = disk.run_with_file_size_limit(project.root, ["rebase-patches"], LIMIT)
        disk.assert_refused_cleanly(run, "bundle/meshes/part050.txt: File too large")
    else:
        run = disk.run_on_full_disk(project.root, ["rebase-patches"], free=LIMIT)
        disk.assert_refused_cleanly(run, "bundle/meshes/part050.txt: No space left on device")
    disk.assert_untouched(project.root, before)


def test_a_read_only_target_refuses_the_first_write_and_leaves_no_rebase_state(
        tmp_path: Path):
    project = upstream_moved(tmp_path)
    before = snapshot(project.root)
    run = disk.run_read_only(project.root, ["rebase-patches"], ["bundle"])
    assert run.code == 1 and "Traceback" not in run.err, run.err
    assert "Read-only file system" in run.err and "bundle/" in run.err
    disk.assert_untouched(project.root, before)


def test_a_read_only_patches_folder_puts_the_targets_back(tmp_path: Path):
    """The targets are written before patches/ is refreshed: they are put back."""
    project = make_project(tmp_path, UPSTREAM_FILES, SERIES, template="FROM scratch\n")
    project.move_upstream({"bundle/src/markov/agent.py": AGENT.replace(b"line 21\n",
                                                                       b"line 21 new\n")})
    before = snapshot(project.root)
    run = disk.run_read_only(project.root, ["rebase-patches"], ["patches"])
    assert run.code == 1 and "Traceback" not in run.err, run.err
    assert "patches/" in run.err and "Read-only file system" in run.err
    disk.assert_untouched(project.root, before)


def conflict_stopped(tmp_path: Path) -> tuple[Project, dict[str, str]]:
    """A rebase stopped on a conflict in 0002 (upstream changed the pinned line too) and
    resolved, with 0003 (a big new file) still to apply; and the snapshot from before it."""
    series = [*SERIES, PatchSpec("0003-track.patch", "Add the track", {"bundle/track.txt": BIG})]
    project = make_project(tmp_path, UPSTREAM_FILES, series, template="FROM scratch\n")
    project.move_upstream({"bundle/configs/environment.yml": b"tensorflow==2.14\nredis==4.5\n"})
    before = snapshot(project.root)
    assert project.run("rebase-patches").code == 1
    project.write("bundle/configs/environment.yml", "tensorflow==2.14\nredis==4.5\n")
    project.git("add", "bundle/configs/environment.yml")
    return project, before


@pytest.mark.parametrize("fault", ["file size", "full disk"])
def test_continue_meeting_a_disk_fault_stays_a_rebase_that_abort_restores_byte_for_byte(
        tmp_path: Path, fault: str):
    project, before = conflict_stopped(tmp_path)
    stopped = snapshot(project.root)
    args = ["rebase-patches", "--continue"]
    if fault == "file size":
        run = disk.run_with_file_size_limit(project.root, args, LIMIT)
        disk.assert_refused_cleanly(run, "bundle/track.txt: File too large")
    else:
        run = disk.run_on_full_disk(project.root, args, free=LIMIT)
        disk.assert_refused_cleanly(run, "bundle/track.txt: No space left on device")
    assert "--abort" in run.err and "--continue" in run.err
    assert snapshot(project.root)["refs"] == stopped["refs"]
    assert disk.temporary_files(project.root) == []
    assert project.run("rebase-patches", "--abort").code == 0
    disk.assert_untouched(project.root, before)


def test_continue_after_the_fault_finishes_the_rebase(tmp_path: Path):
    project, _before = conflict_stopped(tmp_path)
    run = disk.run_with_file_size_limit(project.root, ["rebase-patches", "--continue"], LIMIT)
    assert run.code == 1
    assert project.run("rebase-patches", "--continue").code == 0
    assert (project.root / "bundle/track.txt").read_bytes() == BIG
    assert project.run("check").code == 0
