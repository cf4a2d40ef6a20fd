"""A file name that is not UTF-8 is a name like any other: git's bytes, kept exactly.

`patches new` writes such a name C-quoted, as git does (``"b/bundle/caf\\351.txt"``); git apply,
git am and quilt take the patch; `rebase-patches` carries it onto a new upstream to the same tree,
compared as ``git ls-tree -r -z`` bytes. One such name anywhere under a target, tracked or not,
leaves `check`, `patches` and `rebase-patches` working, and they print it quoted.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest

from sync.cli import main
from tests.commands.test_rebase import prepare, run
from tests.series.builders import Checkout, git, read_worktree
from tests.test_json_schemas import validate

LATIN1 = os.fsdecode(b"bundle/caf\xe9.txt")  # Latin-1, as an old tar or a Windows share writes
INVALID = os.fsdecode(b"bundle/odd-\xc3\x28.txt")  # a UTF-8 lead byte without its continuation
IN_FOLDER = os.fsdecode(b"bundle/d\xff/inner.txt")  # a folder whose name is not UTF-8
RENAMED = os.fsdecode(b"bundle/docs/gu\xefde.txt")
GUIDE = b"".join(b"guide %d\n" % n for n in range(20))
UPSTREAM = {
    "bundle/app.py": b"".join(b"line %d\n" % n for n in range(30)),
    "bundle/docs/guide.txt": GUIDE,
    LATIN1: b"".join(b"caf\xe9 %d\n" % n for n in range(12)),
    INVALID: b"odd\n",
}
FIRST = {"bundle/app.py": UPSTREAM["bundle/app.py"].replace(b"line 5\n", b"line five\n")}
QUOTED = {LATIN1: b'"b/bundle/caf\\351.txt"', INVALID: b'"a/bundle/odd-\\303(.txt"',
          IN_FOLDER: b'"b/bundle/d\\377/inner.txt"', RENAMED: b'"bundle/docs/gu\\357de.txt"'}


def _edit(top: Path) -> None:
    path = top / LATIN1
    path.write_bytes(path.read_bytes().replace(b"caf\xe9 6\n", b"caf\xe9 six\n"))


KINDS: dict[str, tuple[Callable[[Path], object], str]] = {
    "new file": (lambda top: (top / IN_FOLDER).parent.mkdir() or (top / IN_FOLDER).write_bytes(
        b"in a folder named in Latin-1\n"), IN_FOLDER),
    "edit": (_edit, LATIN1),
    "rename to": (lambda top: (top / "bundle/docs/guide.txt").rename(top / RENAMED), RENAMED),
    "rename from": (lambda top: (top / INVALID).rename(top / "bundle/odd.txt"), INVALID),
    "delete": (lambda top: (top / INVALID).unlink(), INVALID),
}


@pytest.fixture
def checkout(repo_dir: Path) -> Checkout:
    return Checkout(repo_dir)


def sync(checkout: Checkout, *args: str) -> int:
    return main([*args, "-C", str(checkout.path)])


def series_names(top: Path) -> list[str]:
    lines = (top / "patches/series").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def ls_tree(top: Path, rev: str = "HEAD") -> bytes:
    """``git ls-tree -r -z`` of the targets: names, modes and blob ids, as raw bytes."""
    return subprocess.run(["git", "-C", str(top), "ls-tree", "-r", "-z", rev, "bundle"],
                          capture_output=True, check=True).stdout


def quilt_push(checkout: Checkout, rev: str, work: Path) -> dict[str, bytes]:
    """``quilt push -a --fuzz=0`` of the series on ``rev``'s files: the files it leaves."""
    archive = subprocess.run(["git", "-C", str(checkout.path), "archive", rev],
                             capture_output=True, check=True).stdout
    work.mkdir()
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(work, filter="data")
    (work / "patches").mkdir()
    for name in ["series", *series_names(checkout.path)]:
        (work / "patches" / name).write_bytes(checkout.read(f"patches/{name}"))
    result = subprocess.run(["quilt", "push", "-a", "--fuzz=0"], cwd=work, capture_output=True,
                            env={**os.environ, "QUILT_PATCHES": "patches"})
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    return read_worktree(work, ("bundle",))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_non_utf8_name_round_trips_through_patches_new_git_quilt_and_rebase(
        checkout: Checkout, tmp_path: Path, kind: str):
    base, _ = prepare(checkout, tmp_path, UPSTREAM, [("First", FIRST)])
    change, name = KINDS[kind]
    change(checkout.path)
    expected = read_worktree(checkout.path, ("bundle",))
    assert sync(checkout, "patches", "new", "0002-change.patch") == 0
    patch = checkout.read("patches/0002-change.patch")
    quoted = QUOTED[name]
    assert quoted in patch or quoted.replace(b'"b/', b'"a/') in patch
    assert sync(checkout, "check") == 0
    checkout.commit("capture")

    clone = tmp_path / "clone"  # git applies the patch to the tree before it, to the same files
    git(tmp_path, "clone", "-q", str(checkout.path), str(clone))
    git(clone, "checkout", "-q", "HEAD~1")
    git(clone, "apply", "--check", str(checkout.path / "patches/0002-change.patch"))
    git(clone, "apply", str(checkout.path / "patches/0002-change.patch"))
    assert read_worktree(clone, ("bundle",)) == expected
    assert quilt_push(checkout, base, tmp_path / "quilt") == expected

    onto = checkout.upstream({**UPSTREAM, "bundle/upstream-new.txt": b"from upstream\n"})
    assert run(checkout) == 0
    assert read_worktree(checkout.path, ("bundle",)) == {
        **expected, "bundle/upstream-new.txt": b"from upstream\n"}
    assert sync(checkout, "check") == 0
    checkout.commit("rebased")

    am = tmp_path / "am"  # git am of the refreshed series on the new upstream: the same tree
    git(tmp_path, "clone", "-q", str(checkout.path), str(am))
    git(am, "checkout", "-q", "-b", "try", onto)
    git(am, "am", "-q", "--keep-cr",
        *[str(checkout.path / "patches" / name) for name in series_names(checkout.path)])
    assert ls_tree(am) == ls_tree(checkout.path)
    assert os.fsencode(name).split(b"/")[-1] in ls_tree(checkout.path) or kind in (
        "delete", "rename from")


def test_an_untracked_non_utf8_file_under_a_target_breaks_nothing_and_is_shown_quoted(
        checkout: Checkout, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    prepare(checkout, tmp_path, UPSTREAM, [("First", FIRST)])
    notes = checkout.path / os.fsdecode(b"bundle/notes-\xe9\xff.txt")
    notes.write_bytes(b"my notes, not tracked\n")
    shown = '"bundle/notes-\\351\\377.txt"'
    capsys.readouterr()
    assert sync(checkout, "patches", "list") == 0
    assert sync(checkout, "status") == 0
    assert shown in capsys.readouterr().out
    assert sync(checkout, "check") == 1  # as for any untracked file: an unexplained change
    assert f"unexplained  {shown}" in capsys.readouterr().out
    assert sync(checkout, "status", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["untracked"] == [shown]
    validate("status", document)
    checkout.upstream({**UPSTREAM, "bundle/upstream-new.txt": b"from upstream\n"})
    assert sync(checkout, "rebase-patches") == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert notes.read_bytes() == b"my notes, not tracked\n"
    assert (checkout.path / "bundle/upstream-new.txt").exists()
    porcelain = subprocess.run(["git", "-C", str(checkout.path), "status", "--porcelain", "-z",
                                "--untracked-files=all"], capture_output=True, check=True).stdout
    assert b"?? bundle/notes-\xe9\xff.txt\0" in porcelain  # still untracked, by its raw name


def test_a_conflict_in_a_non_utf8_file_stops_continues_and_is_reported_quoted(
        checkout: Checkout, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    prepare(checkout, tmp_path, UPSTREAM, [("First", FIRST)])
    _edit(checkout.path)
    assert sync(checkout, "patches", "new", "0002-change.patch") == 0
    checkout.commit("capture")
    theirs = UPSTREAM[LATIN1].replace(b"caf\xe9 6\n", b"caf\xe9 SIX\n")
    checkout.upstream({**UPSTREAM, LATIN1: theirs})
    capsys.readouterr()
    assert sync(checkout, "rebase-patches", "--json") == 1
    document = validate("rebase-patches", json.loads(capsys.readouterr().out))
    assert document["conflicts"] == ['"bundle/caf\\351.txt"']
    unmerged = subprocess.run(["git", "-C", str(checkout.path), "ls-files", "-u", "-z"],
                              capture_output=True, check=True).stdout
    assert unmerged.count(b"\tbundle/caf\xe9.txt\0") == 3  # stages 1, 2 and 3, by raw name
    assert sync(checkout, "status") == 0
    assert '"bundle/caf\\351.txt" (unresolved)' in capsys.readouterr().out
    assert sync(checkout, "report", "--format", "html", "-o", str(tmp_path / "review.html")) == 0
    assert "bundle/caf\\351.txt" in (tmp_path / "review.html").read_text("utf-8")

    resolved = UPSTREAM[LATIN1].replace(b"caf\xe9 6\n", b"caf\xe9 six and SIX\n")
    (checkout.path / LATIN1).write_bytes(resolved)
    subprocess.run(["git", "-C", str(checkout.path), "add", "--", os.fsencode(LATIN1)],
                   check=True)
    capsys.readouterr()
    assert sync(checkout, "rebase-patches", "--continue") == 0
    assert b'+caf\xe9 six and SIX\n' in checkout.read("patches/0002-change.patch")
    assert sync(checkout, "check") == 0
    assert "Traceback" not in "".join(capsys.readouterr())
