"""Which image paths are kept: sources, targets and gitignore-style excludes."""

from __future__ import annotations

import pytest

from sync.config.manifest import PathMapping
from sync.image.selection import EXCLUDED, Kept, Selection

SIMAPP = PathMapping("/opt/amazon", "bundle",
                     ("/build/", "/install/", "/log/", "*.psd", "__pycache__/", "*.pyc"))


@pytest.fixture
def selection() -> Selection:
    return Selection([SIMAPP])


def test_a_path_below_the_source_is_kept_at_the_target(selection: Selection) -> None:
    assert selection.select("opt/amazon/markov/env.py", False) == Kept(
        mapping=0, relative="markov/env.py", target="bundle/markov/env.py")


def test_the_source_itself_is_kept_as_the_target(selection: Selection) -> None:
    assert selection.select("opt/amazon", True) == Kept(0, "", "bundle")


@pytest.mark.parametrize("path", ["opt", "opt/amazonx/file", "usr/lib/python3", "", "optx"])
def test_paths_outside_every_source_are_not_selected(selection: Selection, path: str) -> None:
    assert selection.select(path, False) is None


@pytest.mark.parametrize("path, is_dir", [
    ("opt/amazon/build", True),
    ("opt/amazon/build/lib/x.so", False),  # below an excluded directory
    ("opt/amazon/install/setup.bash", False),
    ("opt/amazon/log", True),
    ("opt/amazon/markov/__pycache__", True),
    ("opt/amazon/markov/__pycache__/env.cpython-38.pyc", False),
    ("opt/amazon/a/b/__pycache__/c/d.txt", False),  # anything below, not only .pyc
    ("opt/amazon/env.pyc", False),
    ("opt/amazon/deep/down/env.pyc", False),
    ("opt/amazon/tracks/texture.psd", False),
])
def test_excluded_paths(selection: Selection, path: str, is_dir: bool) -> None:
    assert selection.select(path, is_dir) == EXCLUDED


@pytest.mark.parametrize("path, is_dir", [
    ("opt/amazon/rl_coach/build", True),  # "/build/" is anchored at the source root
    ("opt/amazon/rl_coach/build/lib/rl_coach/agents/agent.py", False),
    ("opt/amazon/a/install/x", False),
    ("opt/amazon/build", False),  # a file named build: "/build/" matches directories only
    ("opt/amazon/buildings/x", False),
    ("opt/amazon/markov/pycache/x.py", False),
    ("opt/amazon/x.pyc.txt", False),
])
def test_kept_paths_that_look_like_excluded_ones(selection: Selection, path: str,
                                                  is_dir: bool) -> None:
    assert isinstance(selection.select(path, is_dir), Kept)


def test_nothing_below_an_excluded_directory_can_be_included_again() -> None:
    # git: "It is not possible to re-include a file if a parent directory of that file is
    # excluded." (pathspec alone would re-include it)
    selection = Selection([PathMapping("/opt/amazon", "bundle", ("/build/", "!/build/keep"))])
    assert selection.select("opt/amazon/build/keep", False) == EXCLUDED


def test_a_negated_pattern_re_includes_a_file() -> None:
    selection = Selection([PathMapping("/src", "src", ("*.log", "!keep.log"))])
    assert selection.select("src/a.log", False) == EXCLUDED
    assert selection.select("src/keep.log", False) == Kept(0, "keep.log", "src/keep.log")


def test_a_pattern_without_slash_excludes_a_directory_of_that_name_anywhere() -> None:
    selection = Selection([PathMapping("/src", "src", ("node_modules",))])
    assert selection.select("src/web/node_modules/x/index.js", False) == EXCLUDED


def test_several_mappings_each_keep_their_source_at_their_target() -> None:
    selection = Selection([PathMapping("/opt/amazon", "bundle"),
                           PathMapping("/etc/ros", "config/ros", ("*.bak",))])
    assert selection.select("opt/amazon/x", False) == Kept(0, "x", "bundle/x")
    assert selection.select("etc/ros/a.yaml", False) == Kept(1, "a.yaml", "config/ros/a.yaml")
    assert selection.select("etc/ros/a.bak", False) == EXCLUDED
    assert selection.select("etc/hosts", False) is None


def test_the_deepest_source_answers_for_overlapping_sources() -> None:
    selection = Selection([PathMapping("/opt", "opt", ("amazon/",)),
                           PathMapping("/opt/amazon", "bundle")])
    assert selection.select("opt/amazon/x", False) == Kept(1, "x", "bundle/x")
    assert not selection.keeps(0, "amazon/x", False)
    assert selection.keeps(1, "x", False)
    assert selection.overlaps(0) and not selection.overlaps(1)


def test_the_root_as_source_keeps_everything() -> None:
    selection = Selection([PathMapping("/", "rootfs", ("/proc/",))])
    assert selection.select("etc/hosts", False) == Kept(0, "etc/hosts", "rootfs/etc/hosts")
    assert selection.select("proc/1", False) == EXCLUDED
    assert not selection.is_ancestor("")


def test_ancestors_of_sources(selection: Selection) -> None:
    assert selection.is_ancestor("") and selection.is_ancestor("opt")
    assert not selection.is_ancestor("opt/amazon") and not selection.is_ancestor("usr")
    assert selection.is_source_or_ancestor("opt/amazon")
    assert selection.is_source_or_ancestor("opt")
    assert not selection.is_source_or_ancestor("opt/amazon/x")
    assert selection.is_relevant("opt/amazon/x") and selection.is_relevant("opt")
    assert not selection.is_relevant("usr/lib")
