"""`sync adopt`: an existing community repository becomes upstream branch + patch series."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from sync.cli import main
from sync.sample import SAMPLE_MANIFEST, sample_image
from tests.builders.images import write_docker_archive

UPSTREAM = {
    "bundle/src/agent.py": b"".join(b"line %d\n" % n for n in range(1, 41)),
    "bundle/src/rewards.py": b"def reward(params):\n    return 1.0\n",
    "bundle/meshes/track.png": bytes(range(256)) * 64,
    "bundle/README.md": b"upstream readme\n",
}


def git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}).stdout


def commit(root: Path, files: dict[str, bytes | None], subject: str, *,
           author: str = "Ada Community <ada@example.com>",
           date: str = "2024-03-05T10:20:30+01:00") -> str:
    for path, data in files.items():
        if data is None:
            git(root, "rm", "-q", path)
            continue
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
        git(root, "add", path)
    name, _, email = author.partition(" <")
    git(root, "commit", "-q", "-m", subject, env={
        "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email.rstrip(">"),
        "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_NAME": "Maintainer",
        "GIT_COMMITTER_EMAIL": "m@example.com"})
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def community(tmp_path: Path) -> tuple[Path, str]:
    """A repository the tool never saw: an upstream import, then three community commits."""
    root = tmp_path / "community"
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    (root / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    (root / "VERSION").write_text("5.3.3\n")
    imported = commit(root, dict(UPSTREAM), "Import DeepRacer simapp 5.3.3 bundle")
    commit(root, {"bundle/src/rewards.py": b"def reward(params):\n    return 2.0\n"},
           "Better reward", author="Bo Racer <bo@example.com>")
    commit(root, {"bundle/src/agent.py": UPSTREAM["bundle/src/agent.py"].replace(
        b"line 20\n", b"line 20 logged\n"), "bundle/meshes/new.bin": bytes(range(255, -1, -1)),
        "bundle/meshes/track.png": bytes(range(256)) * 63 + b"\x00" * 256,
        "docker/Dockerfile.custom": b"FROM scratch\n"}, "Log step twenty; new mesh")
    commit(root, {"bundle/README.md": None}, "Drop the upstream readme")
    return root, imported


def run(root: Path, *args: str) -> int:
    return main([*args, "-C", str(root)])


def targets_at(root: Path, rev: str) -> str:
    return git(root, "ls-tree", "-r", rev, "--", "bundle")


def test_adopt_by_commit_keeps_the_history_and_git_am_reproduces_the_targets(
        community: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    root, imported = community
    assert run(root, "adopt", "--upstream-rev", imported, "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert [item["subject"] for item in document["patches"]] == [
        "Better reward", "Log step twenty; new mesh", "Drop the upstream readme"]
    series = (root / "patches/series").read_text().splitlines()
    assert series[1:] == ["0001-Better-reward.patch", "0002-Log-step-twenty-new-mesh.patch",
                          "0003-Drop-the-upstream-readme.patch"]
    first = (root / "patches" / series[1]).read_text()
    assert "From: Bo Racer <bo@example.com>\n" in first
    assert "Date: Tue, 05 Mar 2024 10:20:30 +0100\n" in first
    assert "Subject: [PATCH] Better reward\n" in first
    # the upstream branch holds the targets of the import, with a commit saying where from
    assert targets_at(root, "upstream") == targets_at(root, imported)
    message = git(root, "log", "-1", "--format=%B", "upstream")
    assert f"Upstream-Adopted-From: {imported}" in message
    assert run(root, "check") == 0

    # git am of the series on the upstream branch reproduces today's targets, binaries included
    clone = tmp_path / "am"
    git(tmp_path, "clone", "-q", "-b", "upstream", str(root), str(clone))
    git(clone, "am", "-q", *[str(root / "patches" / name) for name in series[1:]],
        env={"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})
    assert targets_at(clone, "HEAD") == targets_at(root, "main")
    assert git(clone, "log", "-1", "--skip=2", "--format=%an|%ad|%s", "--date=iso") == \
        "Bo Racer|2024-03-05 10:20:30 +0100|Better reward\n"


def test_a_merge_commit_is_refused_by_name_and_nothing_is_written(
        community: tuple[Path, str], capsys: pytest.CaptureFixture[str]):
    root, imported = community
    git(root, "checkout", "-q", "-b", "side", imported)
    commit(root, {"bundle/src/side.py": b"side\n"}, "Side work")
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--no-edit", "side", env={"GIT_AUTHOR_NAME": "M",
        "GIT_AUTHOR_EMAIL": "m@x", "GIT_COMMITTER_NAME": "M", "GIT_COMMITTER_EMAIL": "m@x"})
    merge = git(root, "rev-parse", "HEAD").strip()
    assert run(root, "adopt", "--upstream-rev", imported) == 2
    assert f"commit {merge[:12]}" in capsys.readouterr().err
    assert not (root / "patches").exists()
    assert "upstream" not in git(root, "branch", "--list")
    # one patch per file always works, and check passes after it
    assert run(root, "adopt", "--upstream-rev", imported, "--group", "file") == 0
    assert run(root, "check") == 0


def test_an_upstream_reimport_in_the_history_is_refused_by_name(
        community: tuple[Path, str], capsys: pytest.CaptureFixture[str]):
    root, imported = community
    again = commit(root, {"bundle/src/agent.py": b"new upstream\n"},
                   "Update upstream bundle to 5.3.4")
    assert run(root, "adopt", "--upstream-rev", imported) == 2
    err = capsys.readouterr().err
    assert f"commit {again[:12]}" in err and "re-imports upstream" in err
    assert not (root / "patches").exists()


def test_group_folder_gives_one_patch_per_top_level_folder(community: tuple[Path, str],
                                                           capsys: pytest.CaptureFixture[str]):
    root, imported = community
    assert run(root, "adopt", "--upstream-rev", imported, "--group", "folder", "--json") == 0
    subjects = [item["subject"] for item in json.loads(capsys.readouterr().out)["patches"]]
    assert subjects == ["Change bundle", "Change bundle/meshes", "Change bundle/src"]
    assert run(root, "check") == 0


def test_adopt_refuses_a_repository_already_managed(community: tuple[Path, str],
                                                    capsys: pytest.CaptureFixture[str]):
    root, imported = community
    assert run(root, "adopt", "--upstream-rev", imported) == 0
    capsys.readouterr()
    assert run(root, "adopt", "--upstream-rev", imported) == 2
    assert "branch 'upstream' already exists" in capsys.readouterr().err


def test_adopt_from_an_image_writes_one_patch_per_changed_file(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    archive = tmp_path / "v1.tar"
    write_docker_archive(archive, sample_image(1))
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    # the community's copy: the image's files as pull reads them, then edited and committed
    assert main(["pull", "-C", str(repo_dir), "--from", f"docker-archive:{archive}"]) == 0
    git(repo_dir, "checkout", "-q", "upstream", "--", "bundle")
    git(repo_dir, "branch", "-q", "-D", "upstream")
    files = sorted(git(repo_dir, "ls-files", "bundle").split())
    regular = [path for path in files if not (repo_dir / path).is_symlink()]
    (repo_dir / regular[0]).write_bytes(b"community edit\n")
    (repo_dir / "bundle/added.bin").write_bytes(bytes(range(256)))
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-q", "-m", "community", env={
        "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "A",
        "GIT_COMMITTER_EMAIL": "a@x"})
    capsys.readouterr()
    assert run(repo_dir, "adopt", "--from", f"docker-archive:{archive}", "--json") == 0
    subjects = [item["subject"] for item in json.loads(capsys.readouterr().out)["patches"]]
    assert subjects == ["Add bundle/added.bin", f"Change {regular[0]}"]
    assert "Upstream-Image: sample.local/deepracer-sim-public:v1" in git(
        repo_dir, "log", "-1", "--format=%B", "upstream")
    assert run(repo_dir, "check") == 0


def test_adopt_splits_a_commit_over_the_patch_size_limit(community: tuple[Path, str],
                                                         capsys: pytest.CaptureFixture[str]):
    root, imported = community
    big = {f"bundle/meshes/big{n}.bin": os.urandom(30_000) for n in range(3)}
    commit(root, big, "Add meshes")
    assert run(root, "adopt", "--upstream-rev", imported, "--max-patch-size", "64K",
               "--json") == 0
    subjects = [item["subject"] for item in json.loads(capsys.readouterr().out)["patches"]]
    assert subjects[-2:] == ["Add meshes (part 1 of 2)", "Add meshes (part 2 of 2)"]
    assert run(root, "check") == 0


def test_the_upstream_branch_is_normalized_as_pull_would_the_excluded_files_become_a_patch(
        community: tuple[Path, str], capsys: pytest.CaptureFixture[str]):
    root, _imported = community
    git(root, "checkout", "-q", "-b", "with-cache", "HEAD~3")  # the import commit
    imported = commit(root, {"bundle/src/__pycache__/agent.pyc": b"\x00compiled"},
                      "Import upstream bytecode too")  # as a careless import would
    commit(root, {"bundle/src/rewards.py": b"def reward(params):\n    return 3.0\n"},
           "Another reward")
    capsys.readouterr()
    assert run(root, "adopt", "--upstream-rev", imported, "--json") == 0
    subjects = [item["subject"] for item in json.loads(capsys.readouterr().out)["patches"]]
    assert subjects == ["Keep the files pull leaves out of upstream", "Another reward"]
    # SAMPLE_MANIFEST excludes __pycache__/: pull would not have it, nor has the upstream branch
    assert "__pycache__" not in targets_at(root, "upstream")
    assert "__pycache__" in targets_at(root, "HEAD")
    assert run(root, "check") == 0


def test_git_special_files_of_the_adopted_commit_leave_upstream_and_come_back_as_a_patch(
        community: tuple[Path, str], capsys: pytest.CaptureFixture[str]):
    """As pull would (README "Untrusted input"): a .gitattributes and a .gitmodules git's fsck
    refuses are left out of the upstream branch, warned and recorded; the series keeps them."""
    root, _imported = community
    git(root, "checkout", "-q", "-b", "with-special", "HEAD~3")  # the import commit
    imported = commit(root, {
        "bundle/.gitattributes": b"* text eol=crlf\n",
        "bundle/src/.gitmodules": b'[submodule "x"]\n\tpath = x\n\turl = -oProxyCommand=x\n',
    }, "Import upstream special files too")
    capsys.readouterr()
    assert run(root, "adopt", "--upstream-rev", imported) == 0
    err = capsys.readouterr().err
    assert "bundle/.gitattributes: dropped" in err and "[gitmodulesUrl]" in err
    assert ".gitattributes" not in targets_at(root, "upstream")
    assert ".gitmodules" not in targets_at(root, "upstream")
    message = git(root, "log", "-1", "--format=%B", "upstream")
    assert "Upstream-Dropped: bundle/.gitattributes (gitattributes)\n" in message
    assert "Upstream-Dropped: bundle/src/.gitmodules (gitmodulesUrl)\n" in message
    # the branch alone (the history keeps the community's commit) passes a strict transfer
    clone = root.parent / "upstream-only"
    done = subprocess.run(["git", "-c", "transfer.fsckObjects=true", "clone", "-q", "--no-local",
                           "--single-branch", "-b", "upstream", str(root), str(clone)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    fsck = subprocess.run(["git", "-C", str(clone), "fsck", "--strict"], capture_output=True,
                          text=True)
    assert fsck.returncode == 0 and "error" not in fsck.stderr, fsck.stderr
    assert run(root, "check") == 0
