"""The overlay between patches: it keeps each file's bytes once, and the same files either way."""

from __future__ import annotations

import pygit2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.git.trees import TreeSource
from sync.series.overlay import Content, File, Overlay
from tests.series.builders import make_tree
from tests.series.test_engine import (
    PATHS,
    SETTINGS,
    contents,
    histories,
    rebase,
    series_from_states,
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path_factory.mktemp("overlay") / "repo"))


def test_released_files_keep_their_bytes_and_stored_ones_are_read_again(repo):
    tree = Overlay(TreeSource(repo, make_tree(repo, {"bundle/a": b"a\nb\n", "bundle/b": b"b\n"})))
    read = tree.get("bundle/b")
    assert read is not None and read.content.lines == [b"b\n"]
    tree.set("bundle/a", File(0o100644, Content(lines=[b"a\n", b"B\n"])))
    tree.release()
    assert not read.content.loaded  # in the database: read again when asked for
    changed = tree.get("bundle/a")
    assert changed is not None and changed.content.loaded  # only in memory: kept, joined
    assert changed.content.data == b"a\nB\n" and changed.content.lines == [b"a\n", b"B\n"]
    assert read.content.data == b"b\n"


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_a_stored_file_compares_with_one_in_memory_without_being_read_back(repo, kept, held):
    reads = []
    stored = File(0o100644, Content(loader=lambda: reads.append(1) or kept),
                  str(repo.create_blob(kept)))
    assert (stored == File.of(0o100644, held)) is (kept == held)
    assert (File(0o100644, Content(lines=[held])) == stored) is (kept == held)
    assert File.of(0o100755, kept) != stored  # the mode counts too
    assert reads == []


@SETTINGS
@given(histories(), st.data())
def test_a_rebase_releasing_between_patches_gives_what_holding_everything_gives(repo, states,
                                                                             data):
    upstream = dict(states[0])
    path = data.draw(st.sampled_from(PATHS))
    upstream[path] = b"upstream first line\n" + upstream[path]
    released = rebase(repo, series_from_states(repo, states), upstream, states[0])
    holding = rebase(repo, series_from_states(repo, states), upstream, states[0])
    for overlay in (holding.new, holding.old):
        overlay.release = lambda: None  # type: ignore[method-assign]
    assert (released.run() is None) == (holding.run() is None)
    assert contents(released, PATHS) == contents(holding, PATHS)
    assert [(r.status, r.new_text) for r in released.reports] == \
        [(r.status, r.new_text) for r in holding.reports]


NAMES = ["a", "a/b", "a/b/c", "a/c", "d", "d/e/f"]


@given(st.lists(st.tuples(st.sampled_from(NAMES), st.booleans()), max_size=12),
       st.sampled_from(NAMES))
def test_a_path_is_blocked_by_a_changed_file_below_it_exactly_as_a_walk_of_the_changes_says(
        repo, steps, probe):
    tree = Overlay(TreeSource(repo, make_tree(repo, {"base/x": b"x\n"})))
    for name, keep in steps:  # files set and removed, in any order, several times over
        tree.set(name, File.of(0o100644, b"y\n") if keep else None)
    parts = probe.split("/")
    above = next((f"{folder} is a file" for folder in ("/".join(parts[:n])
                                                       for n in range(1, len(parts)))
                  if tree.get(folder) is not None), None)
    below = any(path.startswith(probe + "/") and file is not None
                for path, file in tree.changes.items())
    assert tree.blocked(probe) == above or (f"{probe} is a folder" if below else None)
