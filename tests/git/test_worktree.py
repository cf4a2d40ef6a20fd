"""Writing trees into the work tree: confined to the targets, never through a symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygit2.enums import FileStatus

from sync.errors import GitError
from sync.git import worktree
from sync.git.files import TEMP_SUFFIX
from sync.git.trees import Entry
from sync.git.worktree import Change, changes_between, snapshot, write_changes
from tests.series.builders import entry_of, git, make_tree, read_worktree, unmerge

ROOTS = ("bundle",)


def top(repo: pygit2.Repository) -> Path:
    return Path(repo.workdir)


def write_tree(repo, old: dict | None, new: dict) -> worktree.WriteReport:
    changes = changes_between(repo, make_tree(repo, old) if old is not None else None,
                              make_tree(repo, new), ROOTS)
    return write_changes(repo, changes, ROOTS)


def test_files_modes_and_symlinks_are_written_and_stale_files_removed(repo):
    first = {"bundle/a.txt": b"a\n", "bundle/deep/er/b.txt": b"b\n", "bundle/gone/x": b"x\n",
             "outside.txt": b"not a target\n"}
    write_tree(repo, None, first)
    assert read_worktree(top(repo), ROOTS) == {"bundle/a.txt": b"a\n",
                                               "bundle/deep/er/b.txt": b"b\n",
                                               "bundle/gone/x": b"x\n"}
    assert not (top(repo) / "outside.txt").exists()
    second = {"bundle/a.txt": (0o100755, b"#!/bin/sh\n"), "bundle/deep/er/b.txt": b"b\n",
              "bundle/link": (0o120000, b"a.txt")}
    report = write_tree(repo, first, second)
    assert sorted(report.removed) == ["bundle/gone/x"]
    assert read_worktree(top(repo), ROOTS) == {"bundle/a.txt": b"x:#!/bin/sh\n",
                                               "bundle/deep/er/b.txt": b"b\n",
                                               "bundle/link": b"->a.txt"}
    assert not (top(repo) / "bundle/gone").exists()  # empty folders are pruned
    assert not [p for p in top(repo).rglob("*") if p.name.endswith(TEMP_SUFFIX)]


def test_a_file_can_replace_a_folder_and_a_folder_a_file(repo):
    write_tree(repo, None, {"bundle/x/inner": b"1\n", "bundle/y": b"2\n"})
    write_tree(repo, {"bundle/x/inner": b"1\n", "bundle/y": b"2\n"},
               {"bundle/x": b"file now\n", "bundle/y/inner": b"folder now\n"})
    assert read_worktree(top(repo), ROOTS) == {"bundle/x": b"file now\n",
                                               "bundle/y/inner": b"folder now\n"}


def test_a_symlinked_folder_is_never_written_through(repo, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (top(repo) / "bundle").mkdir()
    os.symlink(outside, top(repo) / "bundle" / "sub")
    with pytest.raises(GitError, match="bundle/sub: is a symlink or a file where a folder"):
        write_tree(repo, None, {"bundle/sub/evil": b"owned\n"})
    assert list(outside.iterdir()) == []


def test_a_symlinked_target_root_is_never_written_through(repo, tmp_path: Path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, top(repo) / "bundle")
    with pytest.raises(GitError, match="refusing to write through it"):
        write_tree(repo, None, {"bundle/file": b"x\n"})
    assert list(outside.iterdir()) == []


def test_removing_under_a_symlinked_folder_touches_nothing_outside(repo, tmp_path: Path):
    outside = tmp_path / "keep"
    outside.mkdir()
    (outside / "precious").write_bytes(b"mine\n")
    (top(repo) / "bundle").mkdir()
    os.symlink(outside, top(repo) / "bundle" / "link")
    write_changes(repo, [Change("bundle/link/precious", None)], ROOTS)
    assert (outside / "precious").read_bytes() == b"mine\n"


def test_a_symlink_in_place_of_a_file_is_replaced_not_followed(repo, tmp_path: Path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched\n")
    (top(repo) / "bundle").mkdir()
    os.symlink(victim, top(repo) / "bundle" / "file")
    write_changes(repo, [Change("bundle/file", entry_of(repo, b"new\n"))], ROOTS)
    assert victim.read_bytes() == b"untouched\n"
    assert (top(repo) / "bundle/file").read_bytes() == b"new\n"
    assert not (top(repo) / "bundle/file").is_symlink()


@pytest.mark.parametrize("path", ["elsewhere/file", "bundle/../escape", "bundles/file"])
def test_paths_outside_the_roots_are_refused(repo, path: str):
    with pytest.raises(GitError, match="outside the targets"):
        write_changes(repo, [Change(path, entry_of(repo, b"x"))], ROOTS)
    assert not (top(repo) / "escape").exists() and not (top(repo) / "elsewhere").exists()


def test_a_folder_holding_other_files_is_not_replaced_by_a_file(repo):
    (top(repo) / "bundle/dir").mkdir(parents=True)
    (top(repo) / "bundle/dir/untracked").write_bytes(b"keep\n")
    with pytest.raises(GitError, match="bundle/dir: a folder with other files is in the way"):
        write_changes(repo, [Change("bundle/dir", entry_of(repo, b"file\n"))], ROOTS)
    assert (top(repo) / "bundle/dir/untracked").read_bytes() == b"keep\n"


def test_a_snapshot_is_the_work_tree_as_it_is_and_names_what_is_uncommitted(repo):
    write_tree(repo, None, {"bundle/clean": b"c\n", "bundle/edited": b"e\n",
                            "bundle/deleted": b"d\n"})
    git(top(repo), "add", "-A")
    git(top(repo), "commit", "-qm", "base")
    (top(repo) / "bundle/edited").write_bytes(b"edited\n")
    (top(repo) / "bundle/deleted").unlink()
    (top(repo) / "bundle/new").write_bytes(b"untracked\n")
    (top(repo) / "other.txt").write_bytes(b"not under a root\n")
    snap = snapshot(repo, ROOTS)
    from sync.git.trees import TreeSource
    files = {path: repo[entry.oid].data for path, entry in TreeSource(repo, snap.tree).files()}
    assert files == {"bundle/clean": b"c\n", "bundle/edited": b"edited\n",
                     "bundle/new": b"untracked\n"}
    assert snap.uncommitted == ("bundle/deleted", "bundle/edited")
    assert snap.untracked == ("bundle/new",)


def _snapshot_files(repo, tree: str) -> dict[str, tuple[int, bytes]]:
    from sync.git.trees import TreeSource
    return {path: (entry.mode, repo[entry.oid].data)
            for path, entry in TreeSource(repo, tree).files()}


def test_a_snapshot_is_the_same_whether_the_index_is_written_whole_or_read_entry_by_entry(repo):
    # the index's own tree (written by libgit2) is the quick way; with a conflict in the index
    # libgit2 writes no tree and the entries are read one by one: both give the work tree
    write_tree(repo, None, {"bundle/a/clean": b"c\n", "bundle/a/b/deep": b"d\n",
                            "bundle/edited": b"e\n", "bundle/staged": b"s\n",
                            "bundle/deleted": b"x\n", "bundle/tool": (0o100755, b"#!/bin/sh\n"),
                            "bundle/link": (0o120000, b"a/clean")})
    (top(repo) / "outside.txt").write_bytes(b"not under a root\n")
    git(top(repo), "add", "-A")
    git(top(repo), "commit", "-qm", "base")
    (top(repo) / "bundle/edited").write_bytes(b"edited, not staged\n")
    (top(repo) / "bundle/staged").write_bytes(b"staged\n")
    git(top(repo), "add", "bundle/staged")
    (top(repo) / "bundle/deleted").unlink()
    (top(repo) / "bundle/a/b/new").write_bytes(b"untracked\n")
    expected = {"bundle/a/clean": (0o100644, b"c\n"), "bundle/a/b/deep": (0o100644, b"d\n"),
                "bundle/a/b/new": (0o100644, b"untracked\n"),
                "bundle/edited": (0o100644, b"edited, not staged\n"),
                "bundle/staged": (0o100644, b"staged\n"),
                "bundle/tool": (0o100755, b"#!/bin/sh\n"), "bundle/link": (0o120000, b"a/clean")}
    whole = snapshot(repo, ROOTS)
    assert _snapshot_files(repo, whole.tree) == expected
    assert whole.unstaged == ("bundle/deleted", "bundle/edited")  # not staged, not new

    unmerge(repo, "bundle/a/clean")
    (top(repo) / "bundle/a/clean").write_bytes(b"c\n")  # resolved in the work tree, not staged
    one_by_one = snapshot(repo, ROOTS)
    assert one_by_one.tree == whole.tree
    assert "bundle/a/clean" in one_by_one.uncommitted


def test_temporary_files_left_by_a_killed_write_are_removed_before_reading_the_work_tree(repo):
    write_tree(repo, None, {"bundle/a.txt": b"a\n"})
    leftovers = [top(repo) / "bundle" / f".a.txt.123.4{TEMP_SUFFIX}",
                 top(repo) / "bundle/deep" / f".b.txt.9.0{TEMP_SUFFIX}"]
    leftovers[1].parent.mkdir()
    for path in leftovers:
        path.write_bytes(b"half written")
    mine = top(repo) / "bundle" / f"notes{TEMP_SUFFIX}"  # not a name we give
    mine.write_bytes(b"the maintainer's\n")
    snap = worktree.without_leftovers(worktree.Snapshotting(repo, ROOTS))
    assert not any(path.exists() for path in leftovers)
    assert snap.untracked == ("bundle/a.txt", f"bundle/notes{TEMP_SUFFIX}")
    assert snap == snapshot(repo, ROOTS)


def _every_kind_of_change(repo) -> None:
    """A work tree and index holding each thing ``git status`` tells apart, under the root
    and outside it."""
    write_tree(repo, None, {"bundle/clean": b"c\n", "bundle/edited": b"e\n",
                            "bundle/staged": b"s\n", "bundle/staged_then_edited": b"t\n",
                            "bundle/deleted": b"d\n", "bundle/removed": b"r\n",
                            "bundle/dropped_from_index": b"i\n", "bundle/to_link": b"l\n",
                            "bundle/tool": b"#!/bin/sh\n", "bundle/conflicted": b"base\n",
                            "bundle/link": (0o120000, b"clean")})
    (top(repo) / ".gitignore").write_bytes(b"*.log\n")
    (top(repo) / "outside.txt").write_bytes(b"outside\n")
    git(top(repo), "add", "-A")
    git(top(repo), "commit", "-qm", "base")
    bundle = top(repo) / "bundle"
    (bundle / "edited").write_bytes(b"edited\n")
    (bundle / "staged").write_bytes(b"staged\n")
    (bundle / "staged_then_edited").write_bytes(b"staged\n")
    git(top(repo), "add", "bundle/staged", "bundle/staged_then_edited")
    (bundle / "staged_then_edited").write_bytes(b"then edited\n")
    (bundle / "deleted").unlink()
    git(top(repo), "rm", "-q", "bundle/removed")
    git(top(repo), "rm", "-q", "--cached", "bundle/dropped_from_index")  # still on disk
    (bundle / "to_link").unlink()
    os.symlink("clean", bundle / "to_link")
    (bundle / "tool").chmod(0o755)
    (bundle / "new_staged").write_bytes(b"n\n")
    git(top(repo), "add", "bundle/new_staged")
    (bundle / "new").write_bytes(b"untracked\n")
    (bundle / "folder/deeper").mkdir(parents=True)
    (bundle / "folder/deeper/file").write_bytes(b"untracked, deep\n")
    (bundle / "noise.log").write_bytes(b"ignored\n")
    (top(repo) / "outside.txt").write_bytes(b"edited outside\n")
    unmerge(repo, "bundle/conflicted")
    (bundle / "conflicted").write_bytes(b"resolved, not staged\n")


def _git_status(repo, roots=ROOTS) -> dict[str, int]:
    return {path: int(flags) for path, flags in repo.status(untracked_files="all").items()
            if worktree.under(path, roots)}


_WORK_TREE_SIDE = (FileStatus.WT_NEW | FileStatus.WT_MODIFIED | FileStatus.WT_DELETED
                   | FileStatus.WT_TYPECHANGE | FileStatus.WT_RENAMED | FileStatus.CONFLICTED)


def test_the_scan_finds_what_git_status_finds(repo):
    _every_kind_of_change(repo)
    expected = _git_status(repo)
    assert expected == {
        "bundle/conflicted": FileStatus.CONFLICTED, "bundle/deleted": FileStatus.WT_DELETED,
        "bundle/dropped_from_index": FileStatus.INDEX_DELETED | FileStatus.WT_NEW,
        "bundle/edited": FileStatus.WT_MODIFIED, "bundle/folder/deeper/file": FileStatus.WT_NEW,
        "bundle/new": FileStatus.WT_NEW, "bundle/new_staged": FileStatus.INDEX_NEW,
        "bundle/removed": FileStatus.INDEX_DELETED, "bundle/staged": FileStatus.INDEX_MODIFIED,
        "bundle/staged_then_edited": FileStatus.INDEX_MODIFIED | FileStatus.WT_MODIFIED,
        "bundle/to_link": FileStatus.WT_TYPECHANGE, "bundle/tool": FileStatus.WT_MODIFIED}
    assert worktree.scan(repo, repo.index, ROOTS) == expected
    assert worktree.status(repo, ROOTS) == expected


def test_the_caller_may_use_the_repository_while_the_work_tree_is_scanned(repo):
    """The work tree is compared in a thread, on a repository handle of its own (a libgit2
    object is for one thread at a time): the caller's handle stays the caller's meanwhile."""
    _every_kind_of_change(repo)
    expected = snapshot(repo, ROOTS)
    taking = worktree.Snapshotting(repo, ROOTS)
    for n in range(300):  # the caller's own work, on its handle, while the scan runs
        repo.create_blob(b"blob %d\n" % n)
    assert taking.result() == expected
    assert worktree.Snapshotting(repo, ROOTS, staged=False).result() == snapshot(
        repo, ROOTS, staged=False)


def test_a_linked_work_tree_is_scanned_as_itself(repo, tmp_path: Path):
    write_tree(repo, None, {"bundle/a": b"a\n"})
    git(top(repo), "add", "-A")
    git(top(repo), "commit", "-qm", "base")
    git(top(repo), "worktree", "add", "-q", str(tmp_path / "linked"))
    linked = pygit2.Repository(str(tmp_path / "linked"))
    (tmp_path / "linked/bundle/new").write_bytes(b"n\n")
    (tmp_path / "linked/bundle/a").write_bytes(b"edited\n")
    snap = snapshot(linked, ROOTS)
    assert (snap.untracked, snap.uncommitted) == (("bundle/new",), ("bundle/a",))
    main = snapshot(repo, ROOTS)
    assert (main.untracked, main.uncommitted) == ((), ())


def test_the_scan_without_head_keeps_the_work_tree_side_and_files_dropped_from_the_index(repo):
    # the index-with-HEAD half of git status is left out; of it only what tells a file the
    # index dropped (still in HEAD) from an untracked one is kept
    _every_kind_of_change(repo)
    expected = {}
    for path, flags in _git_status(repo).items():
        kept = flags & _WORK_TREE_SIDE
        if flags & FileStatus.WT_NEW:
            kept |= flags & FileStatus.INDEX_DELETED
        if kept:
            expected[path] = kept
    assert worktree.scan(repo, repo.index, ROOTS, staged=False) == expected


def test_a_snapshot_without_head_is_the_same_work_tree_untracked_and_unstaged_files(repo):
    _every_kind_of_change(repo)
    whole = snapshot(repo, ROOTS)
    quick = snapshot(repo, ROOTS, staged=False)
    assert (quick.tree, quick.untracked, quick.unstaged) == \
        (whole.tree, whole.untracked, whole.unstaged)
    assert quick.untracked == ("bundle/folder/deeper/file", "bundle/new")
    files = _snapshot_files(repo, quick.tree)
    assert files["bundle/dropped_from_index"] == (0o100644, b"i\n")  # HEAD has it: not new
    assert files["bundle/conflicted"] == (0o100644, b"resolved, not staged\n")
    assert files["bundle/to_link"] == (0o120000, b"clean")
    assert "bundle/deleted" not in files and "bundle/removed" not in files
    assert "bundle/noise.log" not in files
    assert set(quick.uncommitted) <= set(whole.uncommitted)


def test_the_scan_before_the_first_commit_finds_what_git_status_finds(tmp_path: Path):
    repo = pygit2.init_repository(str(tmp_path / "fresh"))
    write_tree(repo, None, {"bundle/staged": b"s\n", "bundle/edited": b"e\n"})
    git(top(repo), "add", "-A")
    (top(repo) / "bundle/edited").write_bytes(b"edited\n")
    (top(repo) / "bundle/new").write_bytes(b"n\n")
    assert repo.head_is_unborn
    assert worktree.scan(repo, repo.index, ROOTS) == _git_status(repo)
    whole, quick = snapshot(repo, ROOTS), snapshot(repo, ROOTS, staged=False)
    assert (quick.tree, quick.untracked, quick.unstaged) == \
        (whole.tree, whole.untracked, whole.unstaged)


def _libgit2_changes(repo, old: str, new: str, root: str) -> list[Change]:
    """libgit2's own diff of two trees, as changes (reads every folder of both)."""
    changes = []
    for delta in repo.get(old).diff_to_tree(repo.get(new)).deltas:
        if delta.status == pygit2.enums.DeltaStatus.DELETED:
            changes.append(Change(f"{root}/{delta.old_file.path}", None))
        else:
            changes.append(Change(f"{root}/{delta.new_file.path}",
                                  Entry(int(delta.new_file.mode), str(delta.new_file.id))))
    return changes


_NAMES = st.sampled_from(["a", "a-b", "a0", "a.txt", "b", "é"])
_FILES = st.dictionaries(
    st.lists(_NAMES, min_size=1, max_size=3).map(lambda parts: "bundle/" + "/".join(parts)),
    st.tuples(st.sampled_from([0o100644, 0o100755, 0o120000]), st.sampled_from([b"1", b"2"])),
    max_size=8)


def _consistent(files: dict) -> dict:
    """Without a path that is both a file and a folder."""
    return {path: value for path, value in files.items()
            if not any(other.startswith(path + "/") for other in files)}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=_FILES, new=_FILES)
def test_changes_between_two_trees_are_what_libgit2s_diff_finds(repo, old, new):
    old_tree = make_tree(repo, {"bundle/keep": b"k", **_consistent(old)})
    new_tree = make_tree(repo, {"bundle/keep": b"k", **_consistent(new)})
    expected = _libgit2_changes(repo, repo[old_tree]["bundle"].id, repo[new_tree]["bundle"].id,
                                "bundle")
    found = changes_between(repo, old_tree, new_tree, ROOTS)
    assert found == expected
    assert all(type(change.entry.mode) is int for change in found if change.entry is not None)


def test_folders_alike_on_both_sides_are_not_read(repo):
    old = make_tree(repo, {"bundle/same/deep/x": b"x\n", "bundle/f": b"1\n"})
    new = make_tree(repo, {"bundle/same/deep/x": b"x\n", "bundle/f": b"2\n"})
    same = str(repo[old]["bundle/same"].id)
    (Path(repo.path) / "objects" / same[:2] / same[2:]).unlink()  # never read: not needed
    assert changes_between(repo, old, new, ROOTS) == [Change("bundle/f", entry_of(repo, b"2\n"))]
