"""One patch onto an overlay: each way a file section can land, be absorbed, or conflict."""

from __future__ import annotations

import pygit2
import pytest

from sync.errors import PatchError
from sync.git.diff import diff_text
from sync.git.merge import merge_file
from sync.git.trees import TreeSource
from sync.series.apply import ApplyOptions, apply_patch
from sync.series.outcome import Status
from sync.series.overlay import Overlay
from sync.series.parse import parse_patch
from tests.series.builders import entry_of, make_tree

LINES = b"".join(b"line %d\n" % n for n in range(30))


@pytest.fixture
def repo(tmp_path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "repo"))


def patch_for(repo, before: dict, after: dict, name: str = "0001-test.patch"):
    paths = set(before) | set(after)
    text = diff_text(repo, {p: entry_of(repo, before[p]) if p in before else None for p in paths},
                     {p: entry_of(repo, after[p]) if p in after else None for p in paths})
    return parse_patch(b"Subject: test\n\n---\n" + text, name, targets=["bundle"])


def overlay(repo, files: dict) -> Overlay:
    return Overlay(TreeSource(repo, make_tree(repo, files)))


def merging(repo) -> ApplyOptions:
    return ApplyOptions(merge=lambda path, base, ours, theirs, mode: merge_file(
        repo, path, base, ours, theirs, mode=mode))


def data(tree: Overlay, path: str) -> bytes | None:
    file = tree.get(path)
    return None if file is None else file.content.data


def test_a_clean_patch_changes_the_overlay(repo):
    patch = patch_for(repo, {"bundle/a": LINES}, {"bundle/a": LINES.replace(b"line 9", b"9")})
    tree = overlay(repo, {"bundle/a": LINES})
    outcome = apply_patch(patch, tree)
    assert outcome.status is Status.CLEAN and outcome.changed
    assert data(tree, "bundle/a") == LINES.replace(b"line 9", b"9")


def test_an_added_file_already_there_is_already_upstream(repo):
    patch = patch_for(repo, {}, {"bundle/new": b"new\n"})
    tree = overlay(repo, {"bundle/new": b"new\n"})
    assert apply_patch(patch, tree).status is Status.ALREADY_UPSTREAM


def test_a_deleted_file_already_gone_is_already_upstream(repo):
    patch = patch_for(repo, {"bundle/old": b"old\n"}, {})
    assert apply_patch(patch, overlay(repo, {"bundle/x": b"x\n"})).status is \
        Status.ALREADY_UPSTREAM


def test_a_rename_upstream_already_did_leaves_only_the_edit(repo):
    patch = patch_for(repo, {"bundle/old": LINES},
                      {"bundle/new": LINES.replace(b"line 3\n", b"three\n")})
    tree = overlay(repo, {"bundle/new": LINES})
    outcome = apply_patch(patch, tree)
    assert outcome.status is Status.PARTLY_UPSTREAM
    assert "already renamed upstream" in " ".join(outcome.evidence)
    assert data(tree, "bundle/new") == LINES.replace(b"line 3\n", b"three\n")


def test_a_file_already_upstream_makes_a_patch_partly_upstream_even_if_another_landed_offset(
        repo):
    patch = patch_for(repo, {"bundle/a": LINES},
                      {"bundle/a": LINES.replace(b"line 9\n", b"nine\n"), "bundle/new": b"new\n"})
    tree = overlay(repo, {"bundle/a": b"preface\n" * 3 + LINES, "bundle/new": b"new\n"})
    outcome = apply_patch(patch, tree)
    assert outcome.status is Status.PARTLY_UPSTREAM and outcome.status.needs_refresh
    assert data(tree, "bundle/a") == b"preface\n" * 3 + LINES.replace(b"line 9\n", b"nine\n")


def test_a_failed_hunk_without_any_base_conflicts_where_the_patch_says(repo):
    patch = patch_for(repo, {"bundle/a": LINES},
                      {"bundle/a": LINES.replace(b"line 20\n", b"twenty\n")})
    upstream = LINES.replace(b"line 20\n", b"TWENTY\n")
    tree = overlay(repo, {"bundle/a": upstream})
    outcome = apply_patch(patch, tree, merging(repo))
    assert outcome.status is Status.CONFLICT
    merged = outcome.after["bundle/a"].content.data  # type: ignore[union-attr]
    assert b"<<<<<<< ours\nTWENTY\n||||||| base\nline 20\n=======\ntwenty\n>>>>>>> theirs\n" \
        in merged
    assert data(tree, "bundle/a") == upstream  # the overlay is untouched on conflict


def test_the_index_line_gives_a_base_for_a_3way_merge(repo):
    patch = patch_for(repo, {"bundle/a": LINES},
                      {"bundle/a": LINES.replace(b"line 20\n", b"twenty\n")})
    upstream = LINES.replace(b"line 22\n", b"upstream 22\n")
    tree = overlay(repo, {"bundle/a": upstream})
    options = ApplyOptions(merge=merging(repo).merge,
                           find_blob=lambda oid: repo.revparse_single(oid).data)
    outcome = apply_patch(patch, tree, options)
    assert outcome.status is Status.MERGED
    assert "preimage" in " ".join(outcome.evidence)
    assert data(tree, "bundle/a") == upstream.replace(b"line 20\n", b"twenty\n")


def test_a_merge_that_changes_nothing_means_upstream_has_the_change(repo):
    patch = patch_for(repo, {"bundle/a": LINES},
                      {"bundle/a": LINES.replace(b"line 20\n", b"twenty\n")})
    upstream = LINES.replace(b"line 20\n", b"twenty\n").replace(b"line 22\n", b"more\n")
    options = ApplyOptions(merge=merging(repo).merge, recorded=lambda file: (
        LINES, LINES.replace(b"line 20\n", b"twenty\n")))
    outcome = apply_patch(patch, overlay(repo, {"bundle/a": upstream}), options)
    assert outcome.status is Status.ALREADY_UPSTREAM


def test_creating_a_file_where_a_folder_is_is_an_error(repo):
    patch = patch_for(repo, {}, {"bundle/dir": b"file\n"})
    with pytest.raises(PatchError, match="cannot create bundle/dir: bundle/dir is a folder"):
        apply_patch(patch, overlay(repo, {"bundle/dir/inner": b"x\n"}))


def test_a_patch_without_sections_is_empty(repo):
    patch = parse_patch(b"Subject: nothing\n", "p", targets=["bundle"])
    assert apply_patch(patch, overlay(repo, {"bundle/a": b"a\n"})).status is Status.EMPTY
