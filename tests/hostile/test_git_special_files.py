"""Class 4 of issue 11: the upstream branch always passes ``git fsck --strict`` and checks out.

A ``.gitmodules`` git refuses (a bad submodule name, url, path or update command; a symlink; a
folder), every ``.gitattributes`` and a symlinked ``.gitignore`` or ``.mailmap``, at any depth
and in any spelling git takes for them, are dropped with a warning, a ``dropped`` entry in
``--json`` and an ``Upstream-Dropped`` trailer; everything else is kept and the pull exits 0.
Names git takes for ``.git`` stop the pull (exit 2, nothing written). Each case runs the real
``git fsck --strict`` on the result, and checks the branch out with git.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pygit2
import pytest

from sync.cli import main
from sync.git import repo as gitrepo
from sync.sample import SAMPLE_MANIFEST, sample_image
from sync.upstream import Upstream
from tests.builders.images import (
    Dir,
    Entry,
    File,
    ImageSpec,
    LayerSpec,
    Raw,
    Symlink,
    write_oci_archive,
)
from tests.hostile.state import snapshot

VALID_GITMODULES = b'[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = https://example.com/lib.git\n'
BASE = (Dir("opt/amazon"), File("opt/amazon/run.sh", b"#!/bin/sh\necho run\n", mode=0o755),
        File("opt/amazon/lib/agent.py", b"print('agent')\n"),
        File("opt/amazon/vendor/.gitmodules", VALID_GITMODULES),  # valid: kept
        File("opt/amazon/lib/.gitignore", b"*.pyc\n"))  # a regular .gitignore: kept
KEPT = {"bundle/run.sh", "bundle/lib/agent.py", "bundle/vendor/.gitmodules",
        "bundle/lib/.gitignore"}


def submodule(**settings: str) -> bytes:
    name = settings.pop("name", "lib")
    body = "".join(f"\t{key} = {value}\n" for key, value in settings.items())
    return f'[submodule "{name}"]\n{body}'.encode()


CASES: dict[str, tuple[tuple[Entry, ...], str, str]] = {
    "url like an option, at the target's root": (
        (File("opt/amazon/.gitmodules", submodule(path="x", url="-oProxyCommand=touch%20pwn")),),
        "bundle/.gitmodules", "gitmodulesUrl"),
    "url like an option, three levels deep": (
        (File("opt/amazon/a/b/c/.gitmodules", submodule(path="x", url="--upload-pack=evil")),),
        "bundle/a/b/c/.gitmodules", "gitmodulesUrl"),
    "relative url escaping its root with ../": (
        (File("opt/amazon/a/.gitmodules", submodule(path="x", url="../../:example.com/x")),),
        "bundle/a/.gitmodules", "gitmodulesUrl"),
    "url with an encoded newline": (
        (File("opt/amazon/.gitmodules", submodule(path="x", url="https://h%0a/x")),),
        "bundle/.gitmodules", "gitmodulesUrl"),
    "path like an option": (
        (File("opt/amazon/.gitmodules", submodule(path="-p", url="https://h/x")),),
        "bundle/.gitmodules", "gitmodulesPath"),
    "submodule name climbing with ..": (
        (File("opt/amazon/a/b/.gitmodules", submodule(name="../../hooks", url="https://h/x")),),
        "bundle/a/b/.gitmodules", "gitmodulesName"),
    "update command": (
        (File("opt/amazon/.gitmodules", submodule(path="x", update="!rm -rf ~")),),
        "bundle/.gitmodules", "gitmodulesUpdate"),
    "quoted value (unreadable in the plain subset)": (
        (File("opt/amazon/.gitmodules", b'[submodule "x"]\n\turl = "-x"\n'),),
        "bundle/.gitmodules", "gitmodulesParse"),
    "symlinked .gitmodules": (
        (Symlink("opt/amazon/lib/.gitmodules", "../run.sh"),),
        "bundle/lib/.gitmodules", "gitmodulesSymlink"),
    "symlinked .gitmodules in an NTFS short name": (
        (Symlink("opt/amazon/lib/GITMOD~1", "../run.sh"),),
        "bundle/lib/GITMOD~1", "gitmodulesSymlink"),
    "symlinked .gitmodules in HFS+ spelling": (
        (Symlink("opt/amazon/lib/.Git\u200cModules", "../run.sh"),),
        "bundle/lib/.Git\u200cModules", "gitmodulesSymlink"),
    "a folder named .gitmodules": (
        (File("opt/amazon/a/.gitmodules/inner.txt", b"x\n"),),
        "bundle/a/.gitmodules", "gitmodulesBlob"),
    ".gitattributes with filter, diff and merge drivers": (
        (File("opt/amazon/.gitattributes", b"* filter=lfs diff=lfs merge=lfs -text\n"),),
        "bundle/.gitattributes", "gitattributes"),
    ".gitattributes with ident and eol": (
        (File("opt/amazon/lib/.gitattributes", b"*.py ident text eol=crlf\n"),),
        "bundle/lib/.gitattributes", "gitattributes"),
    ".gitattributes with a re-encoding": (
        (File("opt/amazon/a/b/c/.gitattributes", b"* working-tree-encoding=UTF-16\n"),),
        "bundle/a/b/c/.gitattributes", "gitattributes"),
    ".gitattributes with a line fsck refuses": (
        (File("opt/amazon/.GITATTRIBUTES", b"*" + b" a" * 2000 + b"\n"),),
        "bundle/.GITATTRIBUTES", "gitattributes"),
    "symlinked .gitattributes": (
        (Symlink("opt/amazon/.gitattributes", "lib/agent.py"),),
        "bundle/.gitattributes", "gitattributesSymlink"),
    "symlinked .gitignore": (
        (Symlink("opt/amazon/a/.gitignore", "/etc/passwd"),),
        "bundle/a/.gitignore", "gitignoreSymlink"),
    "symlinked .mailmap": (
        (Symlink("opt/amazon/.mailmap", "run.sh"),),
        "bundle/.mailmap", "mailmapSymlink"),
}


# git itself accepts these; they are dropped because attributes change what git checks out
BY_CHOICE = {".gitattributes with filter, diff and merge drivers",
             ".gitattributes with ident and eol", ".gitattributes with a re-encoding"}


def git(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True,
                          timeout=60)


def assert_fsck_strict_passes(project: Path) -> None:
    """`git fsck --strict` finds nothing: no error, and no warning either."""
    done = git(project, "fsck", "--strict", "--no-dangling")
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr and "warning" not in done.stderr, done.stderr


def pull(project: Path, tmp_path: Path, entries: tuple[Entry, ...], *extra: str) -> int:
    (project / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    archive = tmp_path / "image.tar"
    write_oci_archive(archive, ImageSpec(layers=(LayerSpec(BASE), LayerSpec(entries))))
    return main(["pull", "-C", str(project), "--from", f"oci-archive:{archive}", *extra])


def tree_paths(project: Path) -> set[str]:
    return set(git(project, "ls-tree", "-r", "-z", "--name-only", "upstream").stdout
               .split("\0")) - {""}


@pytest.mark.parametrize("case", CASES)
def test_a_git_special_file_is_dropped_loudly_and_the_branch_passes_fsck(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str):
    entries, dropped, reason = CASES[case]
    assert pull(repo_dir, tmp_path, entries) == 0
    err = capsys.readouterr().err
    shown = dropped if dropped.isprintable() else repr(dropped)
    assert f"warning: {shown}: dropped, " in err and f"[{reason}]" in err
    assert "Traceback" not in err
    assert main(["pull", "-C", str(repo_dir), "--json", "--reread",
                 "--from", f"oci-archive:{tmp_path / 'image.tar'}"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(item["path"], item["reason"]) for item in document["dropped"]] == [(dropped, reason)]
    assert not document["changed"] and any(f"[{reason}]" in line for line in document["warnings"])
    tip = gitrepo.branch_tip(gitrepo.open_repository(repo_dir), "upstream")
    assert tip is not None
    assert f"\nUpstream-Dropped: {shown} ({reason})\n" in tip.message
    paths = tree_paths(repo_dir)
    assert paths >= KEPT and not any(path == dropped or path.startswith(f"{dropped}/")
                                     for path in paths)
    assert_fsck_strict_passes(repo_dir)
    checkout = tmp_path / "checkout"
    assert git(repo_dir, "worktree", "add", "--detach", str(checkout), "upstream").returncode == 0
    assert git(checkout, "status", "--porcelain").stdout == ""  # nothing re-encoded or drifting


def test_the_same_files_committed_as_they_are_fail_fsck_or_checkout(tmp_path: Path):
    """The cases are real: the hostile files committed verbatim fail `git fsck --strict`, are
    flagged by it (a symlinked .gitignore, .gitattributes or .mailmap) or cannot be checked out
    (a symlinked .gitmodules); only the attributes dropped by choice pass."""
    for case, (entries, _dropped, _reason) in CASES.items():
        project = tmp_path / f"verbatim-{len(list(tmp_path.iterdir()))}"
        repo = pygit2.init_repository(str(project))
        root = repo.TreeBuilder()
        entry = entries[0]
        path = entry.path.removeprefix("opt/amazon/")
        if isinstance(entry, Symlink):
            leaf = (repo.create_blob(entry.target.encode()), pygit2.GIT_FILEMODE_LINK)
        else:
            assert isinstance(entry, File) and isinstance(entry.content, bytes)
            leaf = (repo.create_blob(entry.content), pygit2.GIT_FILEMODE_BLOB)
        *folders, name = path.split("/")
        node = repo.TreeBuilder()
        node.insert(name, *leaf)
        for folder in reversed(folders):
            parent = repo.TreeBuilder()
            parent.insert(folder, node.write(), pygit2.GIT_FILEMODE_TREE)
            node = parent
        root.insert("bundle", node.write(), pygit2.GIT_FILEMODE_TREE)
        signature = pygit2.Signature("t", "t@example.com", 0, 0)
        repo.create_commit("refs/heads/upstream", signature, signature, "x", root.write(), [])
        fsck = git(project, "fsck", "--strict", "--no-dangling")
        checkout = git(project, "checkout", "-q", "upstream")
        flagged = fsck.returncode != 0 or "warning" in fsck.stderr or checkout.returncode != 0
        assert flagged == (case not in BY_CHOICE), (case, fsck.stderr, checkout.stderr)


def test_a_clean_image_drops_nothing_and_records_no_trailer(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    write_oci_archive(tmp_path / "v1.tar", sample_image(1))
    assert main(["pull", "-C", str(repo_dir), "--json",
                 "--from", f"oci-archive:{tmp_path / 'v1.tar'}"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["dropped"] == [] and "dropped" not in captured.err
    tip = gitrepo.branch_tip(gitrepo.open_repository(repo_dir), "upstream")
    assert tip is not None and "Upstream-Dropped" not in tip.message
    assert_fsck_strict_passes(repo_dir)


def test_a_valid_gitmodules_and_odd_but_legal_names_are_kept_and_pass_fsck(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    odd = ("opt/amazon/odd/new\nline.txt", "opt/amazon/odd/tab\tname", "opt/amazon/odd/-rf",
           "opt/amazon/odd/...", "opt/amazon/odd/ space ", "opt/amazon/odd/\u00e9t\u00e9",
           "opt/amazon/odd/.gitmodules.bak", "opt/amazon/odd/gitattributes",
           "opt/amazon/odd/.git-blame-ignore-revs", "opt/amazon/odd/.gitkeep")
    assert pull(repo_dir, tmp_path, tuple(File(name, b"x\n") for name in odd)) == 0
    assert "dropped" not in capsys.readouterr().err
    paths = tree_paths(repo_dir)
    assert paths >= KEPT and {f"bundle/{name[11:]}" for name in odd} <= paths
    assert_fsck_strict_passes(repo_dir)


@pytest.mark.parametrize("name", [".GIT", "git~1", ".git.", ".git ", ".g\u200cit", ".Git::$DATA"])
def test_a_name_git_takes_for_dot_git_stops_the_pull_and_writes_nothing(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str):
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    before = snapshot(repo_dir)
    entries = (Raw(f"opt/amazon/lib/{name}/config", tarfile.REGTYPE, b"[core]\n"),)
    assert pull(repo_dir, tmp_path, entries) == 2
    err = capsys.readouterr().err
    assert "is a .git directory to git" in err and "Traceback" not in err
    assert snapshot(repo_dir) == before


def test_a_path_cannot_forge_trailers_and_many_drops_are_bounded(
        repo_dir: Path, tmp_path: Path):
    forged = "opt/amazon/a\nUpstream-Digest: sha256:0/.gitattributes"
    many = tuple(File(f"opt/amazon/many/{index:03}/.gitattributes", b"* text\n")
                 for index in range(120))
    assert pull(repo_dir, tmp_path, (File(forged, b"* ident\n"), *many)) == 0
    tip = gitrepo.branch_tip(gitrepo.open_repository(repo_dir), "upstream")
    assert tip is not None
    digest = Upstream.of(tip).digest
    assert digest is not None and len(digest) == 71  # the manifest's, not the forged one
    assert "'bundle/a\\nUpstream-Digest: sha256:0/.gitattributes' (gitattributes)" in tip.message
    assert tip.message.count("\nUpstream-Dropped: ") == 101
    assert tip.message.endswith("Upstream-Dropped: 21 more\n")
    assert_fsck_strict_passes(repo_dir)
