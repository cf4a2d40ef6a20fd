"""Class 11 of issue 11, for `render`: a disk that is full, read-only or under a file-size limit
while the Dockerfiles and docker-bake.json are written exits 1 naming the file, with no
traceback, and the outputs stay all old: the files already written are put back (or removed,
when they were new), and no temporary file is left.

The faults are real (tests.hostile.disk), in the child process only. Rendered sizes with the
real template: Dockerfile.cpu about 12.5 kB, Dockerfile.gpu about 12.9 kB (the gpu variant has
more to install), docker-bake.json under 1 kB; written in that order.
"""

from __future__ import annotations

from pathlib import Path

from tests.commands.projects import SERIES, UPSTREAM_FILES, Project, make_project
from tests.hostile import disk
from tests.hostile.state import snapshot

OUTPUTS = ("docker/Dockerfile.cpu", "docker/Dockerfile.gpu", "docker-bake.json")


def rendered_once(tmp_path: Path) -> Project:
    """A checkout whose outputs were rendered and committed, then VERSION moved on: a render
    now rewrites all three."""
    project = make_project(tmp_path, UPSTREAM_FILES, SERIES)
    assert project.run("render").code == 0
    project.write("VERSION", "5.3.4\n")
    project.commit_all("render 5.3.3, then bump VERSION")
    return project


def sizes(project: Project) -> list[int]:
    return [(project.root / path).stat().st_size for path in OUTPUTS]


def test_a_file_size_limit_on_the_second_dockerfile_puts_the_first_back(tmp_path: Path):
    project = rendered_once(tmp_path)
    cpu, gpu, _bake = sizes(project)
    assert cpu < gpu
    before = snapshot(project.root)
    run = disk.run_with_file_size_limit(project.root, ["render"], (cpu + gpu) // 2)
    disk.assert_refused_cleanly(run, "writing docker/Dockerfile.gpu: File too large")
    # Dockerfile.cpu says 5.3.3 again
    disk.assert_untouched(project.root, before, check_objects=False)
    assert project.run("render").code == 0  # without the limit it renders 5.3.4


def test_a_disk_full_at_the_second_dockerfile_removes_the_first_it_had_created(
        tmp_path: Path):
    project = make_project(tmp_path, UPSTREAM_FILES, SERIES)
    before = snapshot(project.root)
    # room for Dockerfile.cpu (4 pages of 4 kB) and a little more, not for Dockerfile.gpu too
    run = disk.run_on_full_disk(project.root, ["render"], free=6 * 4096)
    disk.assert_refused_cleanly(run, "writing docker/Dockerfile.gpu: No space left on device")
    disk.assert_untouched(project.root, before, check_objects=False)
    assert not (project.root / "docker/Dockerfile.cpu").exists()


def test_a_read_only_docker_folder_is_named_and_nothing_changes(tmp_path: Path):
    project = rendered_once(tmp_path)
    before = snapshot(project.root)
    run = disk.run_read_only(project.root, ["render"], ["docker"])
    disk.assert_refused_cleanly(run, "writing docker/Dockerfile.cpu: Read-only file system")
    disk.assert_untouched(project.root, before, check_objects=False)


def test_json_mode_prints_the_error_document_with_exit_code_1(tmp_path: Path):
    project = rendered_once(tmp_path)
    run = disk.run_read_only(project.root, ["render", "--json"], ["docker"])
    assert run.code == 1
    assert '"exit_code": 1' in run.out and "Read-only file system" in run.out
