"""The real repository's shape: /opt/amazon -> bundle/ and /opt/ml/code -> docker/files/ml-code/
(with excludes), both on one upstream commit; one patch touching both; a rebase; check."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sync.cli import main
from tests.builders.images import Dir, File, ImageSpec, LayerSpec, write_docker_archive

MANIFEST = """\
image: sample.local/deepracer-sim-public
tag: v1
platform: linux/amd64
branch: upstream
paths:
  - source: /opt/amazon
    target: bundle
    exclude: [/build/, "__pycache__/"]
  - source: /opt/ml/code
    target: docker/files/ml-code
    exclude: ["*.pyc", /checkpoints/]
"""
AGENT = b"".join(b"agent line %d\n" % n for n in range(1, 31))
TRAIN = b"".join(b"train line %d\n" % n for n in range(1, 31))


def image(version: int) -> ImageSpec:
    files = [Dir("opt"), Dir("opt/amazon"), Dir("opt/amazon/markov"), Dir("opt/amazon/build"),
             File("opt/amazon/markov/agent.py", AGENT.replace(b"line 1\n", b"line 1 v%d\n"
                                                              % version)),
             File("opt/amazon/build/out.o", b"\x7fELF"),
             Dir("opt/ml"), Dir("opt/ml/code"), Dir("opt/ml/code/checkpoints"),
             File("opt/ml/code/train.py", TRAIN.replace(b"line 30\n", b"line 30 v%d\n"
                                                        % version)),
             File("opt/ml/code/train.pyc", b"\x00compiled"),
             File("opt/ml/code/checkpoints/model.ckpt", b"weights"),
             File("usr/bin/python3", b"\x7fELF python", mode=0o755)]
    return ImageSpec(layers=(LayerSpec(files),), tags=(f"sample.local/deepracer-sim-public:v"
                                                       f"{version}",))


def run(root: Path, *args: str) -> int:
    return main([*args, "-C", str(root)])


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                                          "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
                                          "PATH": "/usr/bin:/bin"}).stdout


def test_both_targets_one_upstream_commit_one_patch_rebase_and_check(repo_dir: Path,
                                                                     tmp_path: Path):
    (repo_dir / "upstream-manifest.yaml").write_text(MANIFEST)
    for version in (1, 2):
        write_docker_archive(tmp_path / f"v{version}.tar", image(version))
    assert run(repo_dir, "pull", "--from", f"docker-archive:{tmp_path / 'v1.tar'}") == 0
    # one upstream commit holds both targets, without the excluded files
    assert sorted(git(repo_dir, "ls-tree", "-r", "--name-only", "upstream").split()) == [
        "bundle/markov/agent.py", "docker/files/ml-code/train.py"]
    assert run(repo_dir, "rebase-patches") == 0  # the targets appear in the work tree
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-qm", "upstream v1")

    # one community patch touching both targets
    agent = repo_dir / "bundle/markov/agent.py"
    train = repo_dir / "docker/files/ml-code/train.py"
    agent.write_bytes(agent.read_bytes().replace(b"agent line 15\n", b"agent line 15 mine\n"))
    train.write_bytes(train.read_bytes().replace(b"train line 2\n", b"train line 2 mine\n"))
    assert run(repo_dir, "patches", "new", "0001-both.patch") == 0
    patch = (repo_dir / "patches/0001-both.patch").read_text()
    assert "a/bundle/markov/agent.py" in patch and "a/docker/files/ml-code/train.py" in patch
    assert run(repo_dir, "check") == 0
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-qm", "the patch")

    # upstream moves in both targets; the patch is carried across
    assert run(repo_dir, "pull", "--from", f"docker-archive:{tmp_path / 'v2.tar'}") == 0
    assert run(repo_dir, "rebase-patches") == 0
    assert agent.read_bytes().startswith(b"agent line 1 v2\n")
    assert b"agent line 15 mine\n" in agent.read_bytes()
    assert b"train line 2 mine\n" in train.read_bytes()
    assert train.read_bytes().endswith(b"train line 30 v2\n")
    assert not (repo_dir / "docker/files/ml-code/train.pyc").exists()
    assert run(repo_dir, "check") == 0
