"""Every kind of change git expresses survives `patches new` -> `git apply` -> rebase, exactly.

The scenario: a real checkout (upstream with an executable, a binary, a symlink, CRLF text), one
edit of each kind in the work tree, `patches new`; the patch must pass ``git apply --check``
and, applied by git to the tree before it, give the same files; then upstream moves and
`rebase-patches` must carry it to the same files again. File names that are not UTF-8 have
their own module, test_patches_byte_names.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.cli import main
from tests.commands.test_rebase import prepare, run
from tests.series.builders import (
    MODE_EXECUTABLE,
    MODE_SYMLINK,
    Checkout,
    git,
    read_worktree,
)

BINARY = bytes(range(256)) * 8
UPSTREAM = {
    "bundle/app.py": b"".join(b"line %d\n" % n for n in range(30)),
    "bundle/bin/blob.bin": BINARY,
    "bundle/bin/run.sh": (MODE_EXECUTABLE, b"#!/bin/sh\necho run\n"),
    "bundle/docs/guide.txt": b"".join(b"guide %d\n" % n for n in range(20)),
    "bundle/docs/latest": (MODE_SYMLINK, b"guide.txt"),
    "bundle/win.ini": b"[a]\r\nkey=1\r\n",
}
FIRST = {"bundle/app.py": UPSTREAM["bundle/app.py"].replace(b"line 5\n", b"line five\n")}


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    path.unlink()
    write(path)


KINDS: dict[str, Callable[[Path], None]] = {
    "binary mode only": lambda b: (b / "bin/blob.bin").chmod(0o755),
    "rename": lambda b: (b / "docs/guide.txt").rename(b / "docs/manual.txt"),
    "copy": lambda b: shutil.copyfile(b / "docs/guide.txt", b / "docs/guide-copy.txt"),
    "binary delete": lambda b: (b / "bin/blob.bin").unlink(),
    "symlink to file": lambda b: _replace(b / "docs/latest", lambda p: p.write_bytes(b"now\n")),
    "file to symlink": lambda b: _replace(b / "win.ini", lambda p: p.symlink_to("docs")),
    "empty file": lambda b: (b / "empty.txt").write_bytes(b""),
    "no trailing newline": lambda b: (b / "app.py").write_bytes(b"line 0\nlast line"),
    "crlf text": lambda b: (b / "win.ini").write_bytes(b"[a]\r\nkey=2\r\nnew=3\r\n"),
    "executable bit": lambda b: (b / "bin/run.sh").chmod(0o644),
    "binary edit": lambda b: (b / "bin/blob.bin").write_bytes(BINARY[::-1]),
}


@pytest.fixture
def checkout(repo_dir: Path) -> Checkout:
    return Checkout(repo_dir)


def sync(checkout: Checkout, *args: str) -> int:
    return main([*args, "-C", str(checkout.path)])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_change_round_trips_through_patches_new_git_apply_and_rebase(
        checkout: Checkout, tmp_path: Path, kind: str):
    prepare(checkout, tmp_path, UPSTREAM, [("First", FIRST)])
    KINDS[kind](checkout.path / "bundle")
    expected = read_worktree(checkout.path, ("bundle",))
    assert sync(checkout, "patches", "new", "0002-change.patch") == 0
    assert sync(checkout, "check") == 0
    checkout.commit("capture")

    clone = tmp_path / "clone"  # git applies the patch to the tree before it, to the same files
    git(tmp_path, "clone", "-q", str(checkout.path), str(clone))
    git(clone, "checkout", "-q", "HEAD~1")
    patch = str(checkout.path / "patches/0002-change.patch")
    git(clone, "apply", "--check", patch)
    git(clone, "apply", patch)
    assert read_worktree(clone, ("bundle",)) == expected

    checkout.upstream({**UPSTREAM, "bundle/upstream-new.txt": b"from upstream\n"})
    assert run(checkout) == 0
    assert read_worktree(checkout.path, ("bundle",)) == {
        **expected, "bundle/upstream-new.txt": b"from upstream\n"}
    assert sync(checkout, "check") == 0
