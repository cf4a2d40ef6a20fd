"""Binary literals are decoded only when needed: the lazy path gives what decoding everything gives.

A literal whose post-image (the full id on its ``index`` line) is in the repository is taken
from there; one that is not (a miss) is decoded. Either way the trees and the refreshed patch
bytes are the same as when every literal is decoded, and a corrupt literal is still refused
(exit 2, naming its line) when it has to be decoded.
"""

from __future__ import annotations

import hashlib
import mmap
import zlib
from pathlib import Path

import pygit2
import pytest

from sync.git.diff import diff_text
from sync.git.objects import blob_id
from sync.git.trees import has_blob
from sync.series.binary import decode_lines
from sync.series.engine import apply_series
from sync.series.load import SeriesPatch
from sync.series.parse import parse_patch
from sync.series.refresh import refreshed
from sync.series.seriesfile import SeriesEntry
from tests.series.builders import (
    commit_one_patch,
    entry_of,
    git,
    make_tree,
    mapped,
    new_checkout,
    upstream_commit,
)

BASE = {"bundle/old.png": hashlib.shake_128(b"old").digest(70_000),
        "bundle/doc.py": b"".join(b"line %d\n" % k for k in range(40))}
NEW = hashlib.shake_128(b"new").digest(300_000)  # several numpy blocks, a partial last line
CHANGED = hashlib.shake_128(b"changed").digest(5_000)


def grouped_mail(maker: pygit2.Repository) -> bytes:
    """One mail adding a binary, replacing another and editing a text file (made in
    ``maker``, which therefore holds every post-image)."""
    after = {**BASE, "bundle/new.png": NEW, "bundle/old.png": CHANGED,
             "bundle/doc.py": BASE["bundle/doc.py"].replace(b"line 20\n", b"patched\n")}
    diff = diff_text(maker, {p: entry_of(maker, BASE[p]) if p in BASE else None for p in after},
                     {p: entry_of(maker, data) for p, data in after.items()})
    return b"From: A <a@b.c>\nSubject: [PATCH] grouped\n\n---\n" + diff


def series(text: bytes | mmap.mmap) -> list[SeriesPatch]:
    return [SeriesPatch(SeriesEntry("0001.patch"), parse_patch(text, "0001.patch",
                                                               targets=["bundle"]))]


def eager_tree(repo: pygit2.Repository, text: bytes) -> str:
    """The result built by decoding every literal by hand (what the parser did before)."""
    patch = parse_patch(text, "0001.patch", targets=["bundle"])
    files = dict(BASE)
    for file in patch.files:
        if file.binary is not None:
            files[file.path] = file.binary.forward.data
    files["bundle/doc.py"] = BASE["bundle/doc.py"].replace(b"line 20\n", b"patched\n")
    return make_tree(repo, files)


@pytest.mark.parametrize("read", ["bytes", "mapped"])
@pytest.mark.parametrize("stored", [True, False], ids=["post-images stored", "miss"])
def test_the_lazy_path_gives_the_trees_and_refreshes_decoding_everything_gives(
        tmp_path: Path, stored: bool, read: str):
    maker = pygit2.init_repository(str(tmp_path / "maker"))
    text = grouped_mail(maker)
    repo = maker if stored else pygit2.init_repository(str(tmp_path / "fresh"))
    assert has_blob(repo, blob_id(NEW)) is stored
    # upstream already has the new binary: the patch is partly upstream and is refreshed
    base = make_tree(repo, BASE)
    onto = make_tree(repo, {**BASE, "bundle/new.png": NEW})
    given = mapped(tmp_path / "0001.patch", text) if read == "mapped" else text
    result = apply_series(repo, series(given), onto, base=base)
    assert result.stop is None
    assert result.tree == eager_tree(repo, text)
    report = result.reports[0]
    assert report.new_text is not None and b"bundle/new.png" not in report.new_text
    # the refreshed bytes are those of a patch made from scratch for the remaining change
    expected = diff_text(repo, {p: entry_of(repo, BASE[p]) for p in ("bundle/doc.py",
                                                                      "bundle/old.png")},
                         {"bundle/doc.py": entry_of(repo, BASE["bundle/doc.py"].replace(
                             b"line 20\n", b"patched\n")),
                          "bundle/old.png": entry_of(repo, CHANGED)})
    assert report.new_text.endswith(expected)
    assert (report.files, report.added, report.removed) == (2, 1, 1)


def test_block_decoding_matches_line_by_line_decoding():
    deflated = zlib.compress(NEW)
    chunks = [deflated[at:at + 52] for at in range(0, len(deflated), 52)]
    lines = [_line(chunk) for chunk in chunks]
    assert decode_lines(lines, 1, len(NEW)) == NEW
    short = [_line(chunk) for at in range(0, len(deflated), 20)
             for chunk in [deflated[at:at + 20]]]  # padding inside every line
    assert decode_lines(short, 1, len(NEW)) == NEW


def _line(chunk: bytes) -> bytes:
    import base64
    length = len(chunk)
    char = ord("A") + length - 1 if length <= 26 else ord("a") + length - 27
    return bytes([char]) + base64.b85encode(chunk + b"\0" * (-length % 4))


def corrupt(text: bytes) -> tuple[bytes, int]:
    """``text`` with a base85 character of the new binary's literal broken; its line."""
    lines = text.split(b"\n")
    at = lines.index(b"literal %d" % len(NEW)) + 3
    lines[at] = lines[at][:10] + b"\x7f" + lines[at][11:]
    return b"\n".join(lines), at + 1


def checkout(tmp_path: Path, text: bytes, name: str) -> Path:
    top = tmp_path / name
    repo = new_checkout(top)
    commit_one_patch(repo, BASE, "0001.patch", text)
    upstream_commit(repo, {**BASE, "bundle/other.py": b"upstream\n"})
    return top


def test_a_corrupt_literal_is_refused_with_exit_2_when_it_must_be_decoded(tmp_path: Path, capsys):
    from sync.cli import main

    maker = pygit2.init_repository(str(tmp_path / "maker"))
    text, line = corrupt(grouped_mail(maker))
    top = checkout(tmp_path, text, "miss")
    before = {path: (top / path).read_bytes() for path in BASE}
    assert main(["rebase-patches", "-C", str(top)]) == 2
    assert f"patches/0001.patch:{line}: corrupt binary patch" in capsys.readouterr().err
    assert {path: (top / path).read_bytes() for path in BASE} == before  # nothing written
    assert not (top / "bundle" / "new.png").exists()


def test_a_corrupt_literal_whose_content_is_already_stored_is_not_decoded(tmp_path: Path):
    from sync.cli import main

    maker = pygit2.init_repository(str(tmp_path / "maker"))
    text, _line_number = corrupt(grouped_mail(maker))
    top = checkout(tmp_path, text, "hit")
    repo = pygit2.Repository(str(top))
    repo.create_blob(NEW)  # e.g. from the previous rebase: the id is all that is needed
    assert main(["rebase-patches", "-C", str(top), "-q"]) == 0
    assert (top / "bundle" / "new.png").read_bytes() == NEW
    assert git(top, "diff", "--name-only", "--", "bundle") == ""  # staged from known ids
    assert "bundle/new.png" in git(top, "diff", "--cached", "--name-only")


@pytest.mark.parametrize("stored", [True, False], ids=["post-images stored", "miss"])
def test_the_refreshed_grouped_patch_is_written_as_the_eager_refresh_writes_it(
        tmp_path: Path, stored: bool):
    """Stored part by part, the old binary section reused as a view, written to its file a
    block at a time: the bytes are those of the whole-text refresh, and ``git am`` applies
    them to the new upstream."""
    from sync.cli import main

    maker = pygit2.init_repository(str(tmp_path / "maker"))
    text = grouped_mail(maker)
    top = checkout(tmp_path, text, "top")
    repo = pygit2.Repository(str(top))
    if stored:
        repo.create_blob(CHANGED)
    assert has_blob(repo, blob_id(CHANGED)) is stored
    onto = upstream_commit(repo, {**BASE, "bundle/other.py": b"upstream\n", "bundle/new.png": NEW})
    assert main(["rebase-patches", "-C", str(top), "-q"]) == 0
    patch = parse_patch(text, "patches/0001.patch", targets=["bundle"])
    before = {p: entry_of(repo, BASE[p]) for p in ("bundle/doc.py", "bundle/old.png")}
    after = {"bundle/doc.py": entry_of(repo, BASE["bundle/doc.py"].replace(b"line 20\n",
                                                                           b"patched\n")),
             "bundle/old.png": entry_of(repo, CHANGED)}
    eager = refreshed(patch, diff_text(repo, before, after))
    written = (top / "patches" / "0001.patch").read_bytes()
    assert eager is not None and written == eager
    old = next(file for file in patch.files if file.path == "bundle/old.png")
    assert patch.text[old.span[0]:old.span[1]] in written  # its binary section, reused
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(top), str(clone))
    git(clone, "checkout", "-q", "-b", "try", onto)
    git(clone, "-c", "user.name=A", "-c", "user.email=a@b.c", "am", "-q",
        str(top / "patches" / "0001.patch"))
    assert (clone / "bundle" / "old.png").read_bytes() == CHANGED
    assert (clone / "bundle" / "doc.py").read_bytes() == (top / "bundle" / "doc.py").read_bytes()
