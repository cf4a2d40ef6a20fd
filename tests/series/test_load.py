"""Reading a series out of a tree, and applying it there in memory (what `check` needs)."""

from __future__ import annotations

import pygit2
import pytest

from sync.errors import PatchError
from sync.git.trees import TreeSource
from sync.series.engine import apply_series
from sync.series.load import load_series
from sync.series.outcome import Status
from tests.series.builders import make_tree

PATCH = (b"Subject: [PATCH] fix\n\n---\ndiff --git a/bundle/a b/bundle/a\n--- a/bundle/a\n"
         b"+++ b/bundle/a\n@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n")


@pytest.fixture
def repo(tmp_path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "repo"))


def test_a_series_is_loaded_and_applied_to_a_tree_in_memory(repo):
    source = TreeSource(repo, make_tree(repo, {
        "patches/series": b"# upstream: " + b"a" * 40 + b"\n0001-fix.patch\n",
        "patches/0001-fix.patch": PATCH}))
    loaded = load_series(source, ["bundle"])
    assert loaded.found and loaded.series.base == "a" * 40
    assert [item.entry.name for item in loaded.patches] == ["0001-fix.patch"]
    upstream = make_tree(repo, {"bundle/a": b"zero\none\ntwo\n", "bundle/b": b"b\n"})
    result = apply_series(repo, loaded.patches, upstream)
    assert result.stop is None
    assert [report.status for report in result.reports] == [Status.OFFSET]
    assert result.tree == make_tree(repo, {"bundle/a": b"zero\none\nTWO\n", "bundle/b": b"b\n"})


def test_no_series_file_is_an_empty_series_and_a_missing_patch_an_error(repo):
    assert not load_series(TreeSource(repo, make_tree(repo, {"x": b"x"})), ["bundle"]).found
    source = TreeSource(repo, make_tree(repo, {"patches/series": b"\n\n0009-gone.patch\n"}))
    with pytest.raises(PatchError, match=r"patches/series:3: 0009-gone.patch: no such patch"):
        load_series(source, ["bundle"])
