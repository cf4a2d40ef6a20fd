"""Writing many files at once (``sync.git.files``, through ``worktree.write_changes``): byte
for byte what one-by-one writing gives, in the same order, from loose objects, alternates and
packs; a failure names its file and leaves nothing half-written."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from sync.errors import GitError
from sync.git import files as gitfiles
from sync.git.trees import TreeSource
from sync.git.worktree import changes_between, write_changes
from tests.series.builders import git, make_tree, read_worktree

ROOTS = ("bundle",)


def top(repo: pygit2.Repository) -> Path:
    return Path(repo.workdir)


def temporary_files(repo: pygit2.Repository) -> list[Path]:
    return [p for p in top(repo).rglob("*") if p.name.endswith(gitfiles.TEMP_SUFFIX)]


def many_files() -> dict:
    """More files than the writers queue at once: small and large (several blocks, some far
    more compressible than a block), executables, symlinks, deep folders."""
    files: dict = {}
    for number in range(6 * gitfiles.WINDOW):
        path = f"bundle/d{number % 7}/e{number % 3}/f{number}.dat"
        files[path] = b"file %d\n" % number * (1 + number % 50)
    files["bundle/big/text.obj"] = b"".join(b"v %d 0 0\n" % k for k in range(1_500_000))
    files["bundle/big/noise.png"] = os.urandom(5 << 20)
    files["bundle/bin/run.sh"] = (0o100755, b"#!/bin/sh\necho run\n")
    files["bundle/link"] = (0o120000, b"d0/e0/f0.dat")
    files["bundle/bin/empty"] = b""
    return files


def expected_worktree(files: dict) -> dict[str, bytes]:
    shown = {}
    for path, value in files.items():
        mode, data = value if isinstance(value, tuple) else (0o100644, value)
        shown[path] = {0o100755: b"x:", 0o120000: b"->"}.get(mode, b"") + data
    return shown


@pytest.mark.parametrize("ordered", [True, False])
def test_many_files_written_at_once_are_byte_identical_and_stage_clean(repo, ordered: bool):
    from sync.git import index

    files = many_files()
    tree = make_tree(repo, files)
    changes = changes_between(repo, None, tree, ROOTS)
    third = next(change.entry for change in changes if change.path == "bundle/d3/e0/f3.dat")
    held = {third.oid: [b"file 3\n", memoryview(b"file 3\n" * 3)]}  # the caller's, in parts
    counted: list[int] = []
    report = write_changes(repo, changes, ROOTS, counted.append, held.get, ordered=ordered)
    assert report.written == [change.path for change in changes]  # in order, each once
    assert sum(counted) == len(changes)
    assert read_worktree(top(repo), ROOTS) == expected_worktree(files)
    assert temporary_files(repo) == []
    index.stage_known(repo, [(c.path, c.entry) for c in changes], [])
    assert git(top(repo), "status", "--porcelain", "--untracked-files=all", "bundle") == \
        "".join(f"A  {path}\n" for path in sorted(files))  # staged as written, nothing else
    assert git(top(repo), "diff", "--stat") == ""


def test_a_large_file_tells_how_far_it_is_written(repo):
    """Every 8 MiB of a large file inflated from the database (one 100 MB file would otherwise
    be a long silent stretch); small files and held contents say nothing."""
    big = os.urandom(1 << 20) * 20
    files = {"bundle/big.bin": big, "bundle/small.txt": b"small\n"}
    changes = changes_between(repo, None, make_tree(repo, files), ROOTS)
    told: list[tuple[str, int]] = []
    write_changes(repo, changes, ROOTS, wrote=lambda path, done: told.append((path, done)))
    # once past each 8 MiB (blocks end where the inflater stops, a few KiB either way)
    assert [(path, done >> 23) for path, done in told] == [("bundle/big.bin", 1),
                                                           ("bundle/big.bin", 2)]
    assert (top(repo) / "bundle/big.bin").read_bytes() == big


def test_blobs_are_written_from_alternates_and_from_packs(repo, tmp_path: Path):
    files = many_files()
    tree = make_tree(repo, files)
    for packed in (False, True):
        if packed:
            git(top(repo), "gc", "-q")
        clone = tmp_path / f"clone-{packed}"
        git(tmp_path, "clone", "-q", "--shared", "--no-checkout", str(top(repo)), str(clone))
        shared = pygit2.Repository(str(clone))
        assert (clone / ".git/objects/info/alternates").exists()
        write_changes(shared, changes_between(shared, None, tree, ROOTS), ROOTS)
        assert read_worktree(clone, ROOTS) == expected_worktree(files)


@pytest.mark.parametrize("ordered", [True, False])
def test_a_damaged_loose_object_stops_the_write_naming_the_file(repo, ordered: bool):
    import zlib

    files = many_files()
    tree = make_tree(repo, files)
    oid = TreeSource(repo, tree).entry("bundle/big/text.obj").oid  # type: ignore[union-attr]
    loose = Path(repo.path) / "objects" / oid[:2] / oid[2:]
    loose.chmod(0o644)
    loose.write_bytes(zlib.compress(b"blob 30\0cut short"))  # libgit2 pads it with zeros
    with pytest.raises(GitError, match="bundle/big/text.obj: its content in the object database "
                                       "is damaged .*shorter than its header says"):
        write_changes(repo, changes_between(repo, None, tree, ROOTS), ROOTS, ordered=ordered)
    assert temporary_files(repo) == []
    assert not (top(repo) / "bundle/big/text.obj").exists()


def test_a_write_failing_among_many_names_its_file_and_writes_nothing_after_it(repo):
    """Files are written at once but appear in order, as when written one by one: callers
    that write the series last rely on it."""
    files = many_files()
    changes = changes_between(repo, None, make_tree(repo, files), ROOTS)
    blocked = top(repo) / "bundle/d3/e0/f45.dat"
    (blocked / "kept").mkdir(parents=True)  # a folder with other files where a file goes
    with pytest.raises(GitError, match="bundle/d3/e0/f45.dat: a folder with other files"):
        write_changes(repo, changes, ROOTS)
    assert temporary_files(repo) == []
    assert (blocked / "kept").is_dir()
    at = [change.path for change in changes].index("bundle/d3/e0/f45.dat")
    assert 0 < at < len(changes) - 10
    written = read_worktree(top(repo), ROOTS)
    assert sorted(written) == sorted(change.path for change in changes[:at])
    assert all(written[path] == expected_worktree(files)[path] for path in written)


def test_unordered_a_write_failing_among_many_still_names_its_file(repo):
    files = many_files()
    changes = changes_between(repo, None, make_tree(repo, files), ROOTS)
    (top(repo) / "bundle/d3/e0/f45.dat/kept").mkdir(parents=True)
    with pytest.raises(GitError, match="bundle/d3/e0/f45.dat: a folder with other files"):
        write_changes(repo, changes, ROOTS, ordered=False)
    assert temporary_files(repo) == []
    written = read_worktree(top(repo), ROOTS)
    assert "bundle/d3/e0/f45.dat" not in written
    assert all(written[path] == expected_worktree(files)[path] for path in written)
