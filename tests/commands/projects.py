"""Builders for real simapp checkouts in tmp_path: an upstream branch, a series, a work tree.

``make_project`` writes what a maintainer's repository holds after `pull` and `rebase-patches`:
the upstream commit (with the trailers `pull` writes), ``patches/series`` recording that commit
as its base, each patch as a git format-patch mail generated from real trees, the targets in the
work tree equal to upstream + series, and the manifest, VERSION and template, all committed.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pygit2

from sync.cli import main

ROOT = Path(__file__).resolve().parents[2]
SIGNATURE = pygit2.Signature("Test Maintainer", "maintainer@example.com", 1700000000, 0)
UPSTREAM_IMAGE = "public.ecr.aws/k1d3r4z1/deepracer-sim-public:latest"
UPSTREAM_DIGEST = "sha256:" + "5e0f" * 16

MANIFEST = """\
image: public.ecr.aws/k1d3r4z1/deepracer-sim-public
tag: latest
platform: linux/amd64
branch: upstream
paths:
  - source: /opt/amazon
    target: bundle
variants:
{variants}"""

REAL_VARIANTS = """\
  cpu:
    base: ubuntu:20.04
    tensorflow: tensorflow-cpu==2.13.1
  gpu:
    base: nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu20.04
    tensorflow: tensorflow==2.13.1
    packages: [cuda-nvcc-11-8]
    nvidia: true
"""


# What the real Dockerfile.j2 copies from the upstream bundle (the other files it copies are
# the repository's own, under docker/): a project with the real template gets these upstream.
TEMPLATE_UPSTREAM_FILES = {
    "rl_coach.patch": b"--- a/rl_coach/logger.py\n+++ b/rl_coach/logger.py\n",
    "script/start_deepracer_node_monitor.py": b"print('node monitor')\n",
    **{f"src/deepracer_node_monitor/config/deepracer_{kind}node_monitor_list.txt": b"/racecar\n"
       for kind in ("", "evaluation_", "virtual_event_")},
}


@dataclass(frozen=True)
class PatchSpec:
    """One community patch: its name, subject and the files it leaves changed."""

    name: str
    subject: str
    files: Mapping[str, bytes | None]  # target path -> new content (None deletes)


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Project:
    root: Path
    repo: pygit2.Repository
    upstream: str  # the upstream tip's commit id

    def run(self, *args: str) -> Result:
        """``python -m sync ARGS -C root`` in-process, with stdout and stderr captured."""
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main([*args, "-C", str(self.root)])
        return Result(code, out.getvalue(), err.getvalue())

    def write(self, path: str, data: bytes | str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def git(self, *args: str) -> str:
        """Real git in the checkout (``git add`` after resolving a conflict, ``git status``)."""
        result = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True,
                                check=True)
        return result.stdout.decode("utf-8", "replace")

    def move_upstream(self, files: Mapping[str, bytes | None]) -> str:
        """A new upstream commit changing ``files`` (bundle paths); the series is not touched."""
        tip = self.repo.revparse_single("refs/heads/upstream")
        assert isinstance(tip, pygit2.Commit)
        contents = tree_files(self.repo, tip.tree)
        for path, data in files.items():
            if data is None:
                contents.pop(path, None)
            else:
                contents[path] = data
        tree = build_tree(self.repo, contents)
        self.upstream = str(self.repo.create_commit(
            "refs/heads/upstream", SIGNATURE, SIGNATURE, upstream_message(), tree, [tip.id]))
        return self.upstream

    def commit_all(self, message: str = "work") -> None:
        index = self.repo.index
        index.add_all()
        index.write()
        tree = index.write_tree()
        parents = [] if self.repo.head_is_unborn else [self.repo.head.target]
        self.repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents)


def upstream_message() -> str:
    return (f"Upstream {UPSTREAM_IMAGE}\n\nUpstream-Image: {UPSTREAM_IMAGE}\n"
            f"Upstream-Digest: {UPSTREAM_DIGEST}\n")


def build_tree(repo: pygit2.Repository, files: Mapping[str, bytes]) -> pygit2.Oid:
    """A git tree holding ``files`` (path -> content), written to the object database."""
    index = pygit2.Index()
    for path, data in sorted(files.items()):
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.GIT_FILEMODE_BLOB))
    return index.write_tree(repo)


def tree_files(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for entry in tree:
        path = f"{prefix}{entry.name}"
        obj = repo[entry.id]
        if isinstance(obj, pygit2.Tree):
            found.update(tree_files(repo, obj, path + "/"))
        else:
            assert isinstance(obj, pygit2.Blob)
            found[path] = obj.data
    return found


def patch_text(repo: pygit2.Repository, before: pygit2.Oid, after: pygit2.Oid,
               subject: str) -> bytes:
    """A git format-patch mail of the change between two trees."""
    diff = repo.diff(repo[before], repo[after], context_lines=3)
    header = (
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        "From: Test Maintainer <maintainer@example.com>\n"
        "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
        f"Subject: [PATCH] {subject}\n\n{subject}.\n---\n"
    )
    return header.encode() + (diff.patch or "").encode()


def make_project(parent: Path, upstream: Mapping[str, bytes],
                 patches: Sequence[PatchSpec] = (), *, variants: str = REAL_VARIANTS,
                 template: str | None = None, version: str = "5.3.3") -> Project:
    """A committed checkout whose targets are exactly upstream + series (see module doc).

    With the real template (``template`` None) the project also gets what that template
    copies: ``TEMPLATE_UPSTREAM_FILES`` upstream, and the repository's docker/ files.
    """
    if template is None:
        upstream = {**TEMPLATE_UPSTREAM_FILES, **upstream}
    root = parent / "simapp"
    repo = pygit2.init_repository(str(root), initial_head="main")
    contents = {f"bundle/{path}": data for path, data in upstream.items()}
    tree = build_tree(repo, contents)
    commit = str(repo.create_commit("refs/heads/upstream", SIGNATURE, SIGNATURE,
                                    upstream_message(), tree, []))
    project = Project(root, repo, commit)
    series = [f"# upstream: {commit}"]
    for spec in patches:
        for path, data in spec.files.items():
            if data is None:
                contents.pop(path, None)
            else:
                contents[path] = data
        after = build_tree(repo, contents)
        project.write(f"patches/{spec.name}", patch_text(repo, tree, after, spec.subject))
        series.append(spec.name)
        tree = after
    project.write("patches/series", "\n".join(series) + "\n")
    for path, data in contents.items():
        project.write(path, data)
    project.write("upstream-manifest.yaml", MANIFEST.format(variants=variants))
    project.write("VERSION", f"{version}\n")
    shutil.copyfile(ROOT / ".dockerignore", root / ".dockerignore")
    if template is None:
        shutil.copyfile(ROOT / "Dockerfile.j2", root / "Dockerfile.j2")
        shutil.copytree(ROOT / "docker" / "files", root / "docker" / "files", symlinks=True)
        shutil.copyfile(ROOT / "docker" / "requirements.txt", root / "docker" / "requirements.txt")
    else:
        project.write("Dockerfile.j2", template)
    project.commit_all("simapp: upstream + series")
    return project


# a small simapp-like upstream and a two-patch series, shared by the check and patches tests
AGENT = b"".join(b"line %d\n" % n for n in range(1, 41))
UPSTREAM_FILES = {
    "src/markov/agent.py": AGENT,
    "configs/environment.yml": b"tensorflow==2.12\nredis==4.5\n",
    "README.md": b"upstream readme\n",
}
SERIES = [
    PatchSpec("0001-agent-logging.patch", "Log every tenth step",
              {"bundle/src/markov/agent.py": AGENT.replace(b"line 20\n", b"line 20 logged\n")}),
    PatchSpec("0002-environment-pins.patch", "Pin TensorFlow 2.13",
              {"bundle/configs/environment.yml": b"tensorflow==2.13\nredis==4.5\n"}),
]
