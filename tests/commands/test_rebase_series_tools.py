"""After every successful rebase, the refreshed series is what git and quilt apply as it is.

On a checkout of the new upstream, ``git am`` of each patch in series order reproduces the
rebased targets byte for byte, and ``QUILT_PATCHES=patches quilt push -a --fuzz=0`` does the same
for every text file. Patches left with nothing to apply (absorbed by upstream, or empty) are
removed from the series by default, and said so; a partly absorbed patch keeps what is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from tests.commands.test_rebase import edit, numbered, prepare, run, text
from tests.series.builders import Checkout, git, read_worktree

APP = text(numbered("app", 60))
NOTES = text(numbered("note", 30))
BASE = {"bundle/app.py": APP, "bundle/other.py": text(numbered("other", 20)),
        "bundle/doc.txt": b"documentation\n", "bundle/notes.txt": NOTES,
        "bundle/mv.py": text(numbered("mv", 20)), "bundle/win.ini": b"[a]\r\nk=1\r\n"}
STEPS = [
    ("Clean", {"bundle/other.py": edit(BASE["bundle/other.py"], {3: b"ours 3\n"})}),
    ("Offset", {"bundle/app.py": edit(APP, {40: b"ours 40\n"})}),
    ("Merged", {"bundle/app.py": edit(APP, {40: b"ours 40\n", 10: b"ours 10\n"})}),
    ("Absorbed", {"bundle/doc.txt": b"better documentation\n"}),
    ("Partly", {"bundle/notes.txt": edit(NOTES, {5: b"ours 5\n", 25: b"ours 25\n"})}),
    ("Followed", {"bundle/mv.py": edit(BASE["bundle/mv.py"], {8: b"ours 8\n"})}),
    ("Crlf", {"bundle/win.ini": b"[a]\r\nk=2\r\n"}),
]
UPSTREAM = {
    **{path: data for path, data in BASE.items() if path != "bundle/mv.py"},
    "bundle/app.py": b"new header\n" * 3 + edit(APP, {12: b"upstream 12\n"}),
    "bundle/doc.txt": b"better documentation\n",
    "bundle/notes.txt": edit(NOTES, {5: b"ours 5\n"}),
    "bundle/lib/mv.py": BASE["bundle/mv.py"],
    "bundle/added.txt": b"upstream adds a file\n",
}


EMPTY = b"""From: Test Maintainer <maintainer@example.com>
Subject: [PATCH] Nothing left

Its change was reverted by hand long ago.
---
"""


def prepare_series(checkout: Checkout, tmp_path: Path) -> None:
    """The steps as real format-patch mails, and an empty patch at the end."""
    prepare(checkout, tmp_path, BASE, STEPS)
    (checkout.path / "patches/0008-empty.patch").write_bytes(EMPTY)
    with open(checkout.path / "patches/series", "a") as series:
        series.write("0008-empty.patch\n")
    checkout.commit("an empty patch")


@pytest.fixture
def rebased(repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
            ) -> tuple[Checkout, str, dict]:
    checkout = Checkout(repo_dir)
    prepare_series(checkout, tmp_path)
    onto = checkout.upstream(UPSTREAM)
    capsys.readouterr()
    assert run(checkout, json_mode=True) == 0
    return checkout, onto, json.loads(capsys.readouterr().out)


def series_names(checkout: Checkout) -> list[str]:
    lines = checkout.read("patches/series").decode().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def test_absorbed_and_empty_patches_leave_the_series_and_are_listed(rebased):
    checkout, _onto, document = rebased
    statuses = {row["name"]: (row["status"], row["dropped"]) for row in document["patches"]}
    assert statuses["0004-absorbed.patch"] == ("absorbed", True)
    assert statuses["0008-empty.patch"] == ("empty", True)
    assert statuses["0005-partly.patch"] == ("partly upstream", False)
    assert statuses["0003-merged.patch"] == ("merged", False)
    assert sorted(document["dropped"]) == ["0004-absorbed.patch", "0008-empty.patch"]
    names = series_names(checkout)
    assert "0004-absorbed.patch" not in names and "0008-empty.patch" not in names
    assert not (checkout.path / "patches/0004-absorbed.patch").exists()
    partly = checkout.read("patches/0005-partly.patch")  # only what upstream lacks is left
    assert b"+ours 25\n" in partly and b"+ours 5\n" not in partly


def test_git_am_of_the_refreshed_series_reproduces_the_targets_byte_for_byte(
        rebased, tmp_path: Path):
    checkout, onto, _document = rebased
    clone = tmp_path / "am"
    git(tmp_path, "clone", "-q", str(checkout.path), str(clone))
    git(clone, "checkout", "-q", "-b", "try", onto)
    patches = [str(checkout.path / "patches" / name) for name in series_names(checkout)]
    git(clone, "am", "-q", "--keep-cr", *patches)
    assert read_worktree(clone, ("bundle",)) == read_worktree(checkout.path, ("bundle",))
    fresh = tmp_path / "apply"  # and plain git apply, one patch at a time
    git(tmp_path, "clone", "-q", str(checkout.path), str(fresh))
    git(fresh, "checkout", "-q", onto)
    for patch in patches:
        git(fresh, "apply", "--check", patch)
        git(fresh, "apply", patch)
    assert read_worktree(fresh, ("bundle",)) == read_worktree(checkout.path, ("bundle",))


def test_quilt_push_at_fuzz_0_reproduces_every_text_file(rebased, tmp_path: Path):
    checkout, onto, _document = rebased
    work = tmp_path / "quilt"
    work.mkdir()
    archive = subprocess.run(["git", "-C", str(checkout.path), "archive", onto],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(work, filter="data")
    (work / "patches").mkdir()
    for name in ["series", *series_names(checkout)]:
        (work / "patches" / name).write_bytes(checkout.read(f"patches/{name}"))
    result = subprocess.run(["quilt", "push", "-a", "--fuzz=0"], cwd=work, capture_output=True,
                            env={**os.environ, "QUILT_PATCHES": "patches"})
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert b"fuzz" not in result.stdout.lower()
    assert read_worktree(work, ("bundle",)) == read_worktree(checkout.path, ("bundle",))


def test_keep_absorbed_keeps_them_in_the_series(repo_dir: Path, tmp_path: Path):
    checkout = Checkout(repo_dir)
    prepare_series(checkout, tmp_path)
    checkout.upstream(UPSTREAM)
    assert run(checkout, drop_merged=False) == 0
    names = series_names(checkout)
    assert "0004-absorbed.patch" in names and "0008-empty.patch" in names
