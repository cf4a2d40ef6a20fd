"""`sync pull` never moves the upstream branch under a work tree, and records what it read."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sync.sample import sample_image
from tests.builders.images import write_docker_archive
from tests.commands.projects import make_project
from tests.commands.test_pull import git, project, pull, tip

__all__ = ["project"]  # the fixture, shared with test_pull


@pytest.mark.parametrize("linked", [False, True])
def test_pull_refuses_to_move_the_upstream_branch_while_it_is_checked_out(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], linked: bool):
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    write_docker_archive(tmp_path / "v2.tar", sample_image(2))
    assert pull(project, f"docker-archive:{tmp_path / 'v1.tar'}") == 0
    first = str(tip(project).id)  # type: ignore[union-attr]
    where = tmp_path / "linked" if linked else project
    if linked:
        git(project, "worktree", "add", "-q", str(where), "upstream")
    else:
        git(project, "switch", "-q", "upstream")
    status = git(where, "status", "--porcelain")
    capsys.readouterr()
    assert pull(project, f"docker-archive:{tmp_path / 'v2.tar'}") == 2
    err = capsys.readouterr().err
    assert "branch 'upstream' is checked out in" in err and str(where.name) in err
    assert "git switch" in err and "Traceback" not in err
    assert str(tip(project).id) == first  # type: ignore[union-attr]
    assert git(where, "status", "--porcelain") == status
    git(where, "switch", "-q", "--detach")  # as the hint says: leave the branch, then pull
    assert pull(project, f"docker-archive:{tmp_path / 'v2.tar'}") == 0
    assert str(tip(project).id) != first  # type: ignore[union-attr]


def test_an_archive_tagged_otherwise_is_recorded_under_its_own_tag(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_docker_archive(tmp_path / "v2.tar", sample_image(2))  # the manifest says tag v1
    assert pull(project, f"docker-archive:{tmp_path / 'v2.tar'}") == 0
    err = capsys.readouterr().err
    assert "read sample.local/deepracer-sim-public:v2, not sample.local/deepracer-sim-public:v1" \
        in " ".join(err.split())
    message = tip(project).message  # type: ignore[union-attr]
    assert message.startswith("Upstream sample.local/deepracer-sim-public:v2\n")
    assert "Upstream-Image: sample.local/deepracer-sim-public:v2\n" in message
    assert ":v1" not in message


def test_an_untagged_archive_never_gets_the_manifests_tag(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_docker_archive(tmp_path / "untagged.tar", replace(sample_image(1), tags=()))
    assert pull(project, f"docker-archive:{tmp_path / 'untagged.tar'}") == 0
    assert "names no image" in capsys.readouterr().err
    message = tip(project).message  # type: ignore[union-attr]
    assert "Upstream-Image: sample.local/deepracer-sim-public\n" in message
    assert ":v1" not in message and "Upstream-Image-Id: sha256:" in message


def test_the_rendered_labels_name_the_image_actually_read(tmp_path: Path):
    simapp = make_project(tmp_path, {"placeholder.txt": b"before the pull\n"})
    write_docker_archive(tmp_path / "v2.tar", sample_image(2))  # the manifest says :latest
    assert simapp.run("pull", "--from", f"docker-archive:{tmp_path / 'v2.tar'}").code == 0
    assert simapp.run("rebase-patches").code == 0
    simapp.commit_all("the new upstream")
    result = simapp.run("render")
    assert result.code == 0, result.err
    dockerfile = simapp.read("docker/Dockerfile.cpu")
    assert 'upstream.image="sample.local/deepracer-sim-public:v2"' in dockerfile
    assert "deepracer-sim-public:latest" not in dockerfile
