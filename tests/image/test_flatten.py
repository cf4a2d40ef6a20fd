"""Flattening layers into one tree: OCI whiteout rules (as umoci), normalization, safety."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.config.manifest import PathMapping
from sync.errors import ImageError, UnsafeArchiveError
from sync.image.flatten import flatten
from sync.image.model import (
    MODE_EXECUTABLE,
    MODE_FILE,
    MODE_SYMLINK,
    Layer,
    Limits,
    Tree,
)
from tests.builders.images import (
    CharDevice,
    Dir,
    Entry,
    Fifo,
    File,
    Hardlink,
    Opaque,
    Raw,
    Stream,
    Symlink,
    Whiteout,
    layer_blob,
    layer_tar,
)
from tests.image.conftest import (
    AMAZON,
    SIMAPP,
    GitHashingStore,
    contents,
    git_blob_id,
    layers,
    leaf_at,
    memory_layer,
    read_tree,
    run,
)

BASE: list[Entry] = [Dir("opt"), Dir("opt/amazon")]


# -- what is kept, and how ---------------------------------------------------------------------


def test_files_are_kept_below_the_target_with_git_modes(store: GitHashingStore) -> None:
    result = run(store, [*BASE, Dir("opt/amazon/markov"),
                         File("opt/amazon/markov/env.py", b"env\n"),
                         File("opt/amazon/run.sh", b"#!/bin/sh\n", mode=0o755),
                         File("opt/amazon/group-exec", b"g", mode=0o650),
                         File("opt/amazon/other-exec", b"o", mode=0o601),
                         File("opt/amazon/setuid", b"s", mode=0o4755),
                         File("opt/amazon/readonly", b"r", mode=0o400),
                         Symlink("opt/amazon/env.py", "markov/env.py"),
                         File("usr/bin/python3", b"elf")])
    assert read_tree(result, store) == {
        "bundle/env.py": (MODE_SYMLINK, b"markov/env.py"),
        "bundle/group-exec": (MODE_EXECUTABLE, b"g"),
        "bundle/markov/env.py": (MODE_FILE, b"env\n"),
        "bundle/other-exec": (MODE_EXECUTABLE, b"o"),
        "bundle/readonly": (MODE_FILE, b"r"),
        "bundle/run.sh": (MODE_EXECUTABLE, b"#!/bin/sh\n"),
        "bundle/setuid": (MODE_EXECUTABLE, b"s"),
    }
    assert leaf_at(result.tree, "bundle/run.sh").oid == git_blob_id(b"#!/bin/sh\n")
    assert (result.report.files, result.report.bytes) == (7, 4 + 10 + 1 + 1 + 1 + 1)
    assert result.report.warnings == []


def test_only_kept_files_are_read_into_the_store(store: GitHashingStore) -> None:
    run(store, [File("usr/lib/libbig.so", b"x" * 100000), File("opt/amazon/a", b"a"),
                File("opt/amazon/b.pyc", b"b")], mappings=[SIMAPP])
    assert store.writes == 1


def test_empty_directories_are_dropped(store: GitHashingStore) -> None:
    result = run(store, [*BASE, Dir("opt/amazon/empty"), Dir("opt/amazon/a/b/c"),
                         File("opt/amazon/a/keep", b"k")])
    assert contents(result, store) == {"bundle/a/keep": b"k"}
    bundle = result.tree.children["bundle"]
    assert isinstance(bundle, Tree) and set(bundle.children) == {"a"}


def test_devices_and_fifos_are_skipped_and_counted(store: GitHashingStore) -> None:
    result = run(store, [*BASE, Fifo("opt/amazon/pipe"), CharDevice("opt/amazon/null"),
                         CharDevice("opt/amazon/zero", 1, 5), Fifo("tmp/outside"),
                         Raw("opt/amazon/disk", type=tarfile.BLKTYPE),
                         File("opt/amazon/x", b"x")])
    assert contents(result, store) == {"bundle/x": b"x"}
    assert result.report.skipped == {"fifo": 1, "chardev": 2, "blockdev": 1}


def test_excludes_drop_top_level_build_outputs_but_keep_deep_build_folders(
        store: GitHashingStore) -> None:
    result = run(store, [
        *BASE, Dir("opt/amazon/build"), File("opt/amazon/build/lib.so", b"so"),
        File("opt/amazon/install/setup.sh", b"s"), File("opt/amazon/log/latest", b"l"),
        Dir("opt/amazon/rl_coach/build"), File("opt/amazon/rl_coach/build/agent.py", b"agent"),
        File("opt/amazon/markov/__pycache__/env.cpython-38.pyc", b"c"),
        File("opt/amazon/markov/env.pyc", b"c"), File("opt/amazon/art/track.psd", b"p"),
        File("opt/amazon/build.sh", b"b"),
    ], mappings=[SIMAPP])
    assert contents(result, store) == {"bundle/rl_coach/build/agent.py": b"agent",
                                       "bundle/build.sh": b"b"}
    assert result.report.excluded == 7


def test_each_mapping_is_grafted_at_its_target(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/a", b"a"), File("etc/ros/r.yaml", b"r"),
                         File("etc/hosts", b"h")],
                 mappings=[AMAZON, PathMapping("/etc/ros", "config/ros")])
    assert contents(result, store) == {"bundle/a": b"a", "config/ros/r.yaml": b"r"}
    assert isinstance(result.tree.children["config"], Tree)


def test_overlapping_sources_each_apply_their_own_excludes(store: GitHashingStore) -> None:
    result = run(store, [File("opt/amazon/a.pyc", b"1"), File("opt/x.pyc", b"2"),
                         File("opt/amazon/b", b"3")],
                 mappings=[PathMapping("/opt", "opt", ("*.pyc",)),
                           PathMapping("/opt/amazon", "bundle")])
    assert contents(result, store) == {"opt/amazon/b": b"3", "bundle/a.pyc": b"1",
                                       "bundle/b": b"3"}


def test_a_source_that_is_a_file_becomes_a_file_at_its_target(store: GitHashingStore) -> None:
    result = run(store, [File("etc/os-release", b"ID=ubuntu\n")],
                 mappings=[PathMapping("/etc/os-release", "meta/os-release")])
    assert contents(result, store) == {"meta/os-release": b"ID=ubuntu\n"}


def test_a_missing_source_is_an_error_naming_it(store: GitHashingStore) -> None:
    with pytest.raises(ImageError) as raised:
        run(store, [File("opt/other/x", b"x")])
    assert "the source /opt/amazon does not exist in the image" in raised.value.message
    assert "paths[0].source" in (raised.value.hint or "")


def test_a_source_with_nothing_kept_gives_a_warning(store: GitHashingStore) -> None:
    result = run(store, [*BASE, Dir("opt/amazon/build")], mappings=[SIMAPP])
    assert result.tree == Tree()
    assert result.report.warnings == ["/opt/amazon: nothing to keep (empty or all excluded)"]


def test_leading_dot_slash_names_are_normal(store: GitHashingStore) -> None:
    result = run(store, [Dir("./"), Dir("./opt"), Dir("./opt/amazon"),
                         File("./opt/amazon/a", b"a")],
                 [Whiteout("./opt/amazon/a"), File("./opt/amazon/b", b"b")])
    assert contents(result, store) == {"bundle/b": b"b"}


# -- whiteouts -----------------------------------------------------------------------------------


def test_a_whiteout_removes_a_file_of_a_lower_layer(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/a", b"a"), File("opt/amazon/b", b"b")],
                 [Whiteout("opt/amazon/a")])
    assert contents(result, store) == {"bundle/b": b"b"}


def test_a_whiteout_removes_a_whole_directory_of_lower_layers(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/d/x", b"x"), File("opt/amazon/d/e/y", b"y"),
                         File("opt/amazon/keep", b"k")],
                 [Whiteout("opt/amazon/d")])
    assert contents(result, store) == {"bundle/keep": b"k"}


def test_a_whiteout_spares_what_its_own_layer_writes_before_or_after_it(
        store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/a", b"old a"), File("opt/amazon/d/old", b"o")],
                 [File("opt/amazon/a", b"new a"), Whiteout("opt/amazon/a"),
                  File("opt/amazon/d/new", b"n"), Whiteout("opt/amazon/d")])
    # the lower d/old is gone, this layer's d/new stays; the new a stays
    assert contents(result, store) == {"bundle/a": b"new a", "bundle/d/new": b"n"}


def test_a_whiteout_then_a_new_entry_replaces_the_lower_one(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/d/old", b"o")],
                 [Whiteout("opt/amazon/d"), Dir("opt/amazon/d"), File("opt/amazon/d/new", b"n")])
    assert contents(result, store) == {"bundle/d/new": b"n"}


def test_an_opaque_directory_hides_the_lower_layers_content(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/d/a", b"a"), File("opt/amazon/d/sub/b", b"b"),
                         File("opt/amazon/other", b"o")],
                 [Dir("opt/amazon/d"), Opaque("opt/amazon/d"), File("opt/amazon/d/c", b"c")])
    assert contents(result, store) == {"bundle/d/c": b"c", "bundle/other": b"o"}


def test_an_opaque_marker_after_its_layers_entries_keeps_them(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/d/a", b"lower a"),
                         File("opt/amazon/d/sub/lower", b"l"), File("opt/amazon/d/sub/x", b"x")],
                 [File("opt/amazon/d/a", b"upper a"), File("opt/amazon/d/sub/upper", b"u"),
                  Opaque("opt/amazon/d")])
    # d/sub was written by this layer (d/sub/upper), but its lower children still go
    assert contents(result, store) == {"bundle/d/a": b"upper a", "bundle/d/sub/upper": b"u"}


def test_an_opaque_marker_only_affects_lower_layers(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/d/a", b"a")],
                 [Opaque("opt/amazon/d"), File("opt/amazon/d/b", b"b")],
                 [File("opt/amazon/d/c", b"c")])
    assert contents(result, store) == {"bundle/d/b": b"b", "bundle/d/c": b"c"}


def test_a_whiteout_of_an_ancestor_of_the_source_removes_the_kept_tree(
        store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/old", b"o"), File("opt/amazon/d/old", b"o")],
                 [Whiteout("opt"), Dir("opt"), Dir("opt/amazon"), File("opt/amazon/new", b"n")])
    assert contents(result, store) == {"bundle/new": b"n"}


def test_a_whiteout_of_the_source_ancestor_without_recreation_loses_the_source(
        store: GitHashingStore) -> None:
    with pytest.raises(ImageError, match="/opt/amazon does not exist"):
        run(store, [*BASE, File("opt/amazon/a", b"a")], [Whiteout("opt")])


def test_an_opaque_ancestor_of_the_source_hides_lower_kept_files(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/old", b"o")],
                 [Dir("opt"), File("opt/amazon/new", b"n"), Opaque("opt")])
    assert contents(result, store) == {"bundle/new": b"n"}


def test_an_opaque_root_hides_everything_below(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/old", b"o")],
                 [Raw(".wh..wh..opq"), File("opt/amazon/new", b"n")])
    assert contents(result, store) == {"bundle/new": b"n"}


def test_whiteouts_outside_the_sources_change_nothing(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/a", b"a"), File("usr/x", b"x")],
                 [Whiteout("usr/x"), Opaque("usr"), Whiteout("opt/amazonx")])
    assert contents(result, store) == {"bundle/a": b"a"}


def test_aufs_bookkeeping_at_the_layer_root_is_ignored(store: GitHashingStore) -> None:
    result = run(store, [File("etc/a", b"a"), Raw(".wh..wh.plnk", type=tarfile.DIRTYPE),
                         Raw(".wh..wh.plnk/1234.5", content=b"hardlink store")],
                 mappings=[PathMapping("/", "rootfs")])
    assert contents(result, store) == {"rootfs/etc/a": b"a"}


def test_elsewhere_a_double_prefix_is_a_whiteout_not_a_file(store: GitHashingStore) -> None:
    # as umoci and Docker: it whites out ".wh.x" (which no layer can hold as a file)
    result = run(store, [*BASE, File("opt/amazon/a", b"a")], [Raw("opt/amazon/.wh..wh.x")])
    assert contents(result, store) == {"bundle/a": b"a"}


# -- replacements and duplicates -------------------------------------------------------------------


def test_a_file_replaces_a_lower_directory_and_its_content(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/d/x", b"x"), File("opt/amazon/d/e/y", b"y")],
                 [File("opt/amazon/d", b"now a file")])
    assert contents(result, store) == {"bundle/d": b"now a file"}


def test_a_symlink_replaces_a_lower_directory(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/lib/x", b"x"), File("opt/amazon/lib64/y", b"y")],
                 [Symlink("opt/amazon/lib", "lib64")])
    assert read_tree(result, store) == {"bundle/lib": (MODE_SYMLINK, b"lib64"),
                                        "bundle/lib64/y": (MODE_FILE, b"y")}


def test_a_fifo_replaces_a_lower_file(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/p", b"p"), File("opt/amazon/q", b"q")],
                 [Fifo("opt/amazon/p")])
    assert contents(result, store) == {"bundle/q": b"q"}


def test_a_directory_replaces_a_lower_file(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/d", b"a file")],
                 [Dir("opt/amazon/d"), File("opt/amazon/d/x", b"x")])
    assert contents(result, store) == {"bundle/d/x": b"x"}


def test_a_directory_over_a_directory_merges(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/d/x", b"x")],
                 [Dir("opt/amazon/d", mode=0o700), File("opt/amazon/d/y", b"y")])
    assert contents(result, store) == {"bundle/d/x": b"x", "bundle/d/y": b"y"}


def test_an_excluded_directory_still_replaces_a_lower_kept_file(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/build", b"a file named build")],
                 [Dir("opt/amazon/build"), File("opt/amazon/build/out.o", b"o")],
                 mappings=[SIMAPP])
    assert contents(result, store) == {}


def test_the_last_duplicate_in_a_layer_wins(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/a", b"first"), File("opt/amazon/a", b"second"),
                         Dir("opt/amazon/d"), File("opt/amazon/d/x", b"x"),
                         File("opt/amazon/d", b"file after dir"),
                         File("opt/amazon/e", b"dir after file"), Dir("opt/amazon/e"),
                         Symlink("opt/amazon/l", "a"), File("opt/amazon/l", b"file after link")])
    assert contents(result, store) == {"bundle/a": b"second", "bundle/d": b"file after dir",
                                       "bundle/l": b"file after link"}


def test_entries_below_a_lower_symlink_replace_it_with_a_directory(
        store: GitHashingStore) -> None:
    result = run(store, [*BASE, Symlink("opt/amazon/d", "/etc")],
                 [File("opt/amazon/d/x", b"x")])
    assert contents(result, store) == {"bundle/d/x": b"x"}
    assert "the non-directory was replaced by a directory" in result.report.warnings[0]


# -- hardlinks ---------------------------------------------------------------------------------


def test_a_hardlink_to_a_kept_file_has_its_content_and_mode(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/bin/tool", b"tool", mode=0o755),
                         Hardlink("opt/amazon/bin/tool2", "opt/amazon/bin/tool")])
    assert read_tree(result, store) == {"bundle/bin/tool": (MODE_EXECUTABLE, b"tool"),
                                        "bundle/bin/tool2": (MODE_EXECUTABLE, b"tool")}


def test_a_hardlink_takes_the_content_its_target_has_at_that_point(
        store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/a", b"before"), Hardlink("opt/amazon/b",
                                                                           "opt/amazon/a"),
                         File("opt/amazon/a", b"after")])
    assert contents(result, store) == {"bundle/a": b"after", "bundle/b": b"before"}


def test_a_hardlink_to_a_kept_file_of_a_lower_layer(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/a", b"a")],
                 [Hardlink("opt/amazon/b", "opt/amazon/a")])
    assert contents(result, store) == {"bundle/a": b"a", "bundle/b": b"a"}


def test_a_hardlink_to_an_excluded_file_reads_the_layer_again(store: GitHashingStore) -> None:
    opened: list[int] = []
    layer = memory_layer([*BASE, File("opt/amazon/build/tool", b"built", mode=0o755),
                          File("opt/amazon/build/tool", b"rebuilt", mode=0o755),
                          Hardlink("opt/amazon/bin/tool", "opt/amazon/build/tool"),
                          File("opt/amazon/build/tool", b"too late")], opened=opened)
    result = flatten([layer], [SIMAPP], store)
    assert read_tree(result, store) == {"bundle/bin/tool": (MODE_EXECUTABLE, b"rebuilt")}
    assert len(opened) == 2


def test_a_hardlink_to_a_file_outside_the_sources(store: GitHashingStore) -> None:
    result = run(store, [File("usr/bin/python3.8", b"elf", mode=0o755),
                         Hardlink("opt/amazon/python", "usr/bin/python3.8")])
    assert read_tree(result, store) == {"bundle/python": (MODE_EXECUTABLE, b"elf")}


def test_a_hardlink_to_an_unkept_file_of_a_lower_layer(store: GitHashingStore) -> None:
    result = run(store, [File("usr/bin/python3.8", b"old elf")],
                 [File("usr/bin/python3.8", b"elf")],
                 [File("usr/share/doc", b"d")],
                 [Hardlink("opt/amazon/python", "usr/bin/python3.8")])
    assert contents(result, store) == {"bundle/python": b"elf"}


def test_a_hardlink_to_a_target_removed_by_a_lower_whiteout_is_an_error(
        store: GitHashingStore) -> None:
    with pytest.raises(UnsafeArchiveError, match="'usr/bin/tool': hardlink target does not exist"):
        run(store, [File("usr/bin/tool", b"t")], [Whiteout("usr/bin")],
            [Hardlink("opt/amazon/tool", "usr/bin/tool")])


@pytest.mark.parametrize("removal", [
    [File("usr/bin", b"a file now")],  # a non-directory replaces the directory
    [Dir("usr/bin"), Opaque("usr/bin")],
    [Symlink("usr", "/srv/usr")],
])
def test_a_hardlink_to_a_target_whose_directory_went_away_is_an_error(
        store: GitHashingStore, removal: list[Entry]) -> None:
    with pytest.raises(UnsafeArchiveError, match="hardlink target does not exist"):
        run(store, [File("usr/bin/tool", b"t")], removal,
            [Hardlink("opt/amazon/tool", "usr/bin/tool")])


def test_a_hardlink_target_removed_before_the_link_in_its_layer_is_gone(
        store: GitHashingStore) -> None:
    with pytest.raises(UnsafeArchiveError, match="hardlink target does not exist"):
        run(store, [File("usr/bin/tool", b"t")],
            [Whiteout("usr/bin/tool"), Hardlink("opt/amazon/tool", "usr/bin/tool")])


def test_a_hardlink_chain_through_unkept_links(store: GitHashingStore) -> None:
    result = run(store, [File("usr/a", b"content"), Hardlink("usr/b", "usr/a"),
                         Hardlink("usr/c", "usr/b"), Hardlink("opt/amazon/x", "usr/c")])
    assert contents(result, store) == {"bundle/x": b"content"}


def test_a_hardlink_to_a_symlink_is_a_symlink(store: GitHashingStore) -> None:
    result = run(store, [Symlink("usr/lib/libx.so", "libx.so.1"),
                         Hardlink("opt/amazon/libx.so", "usr/lib/libx.so")])
    assert read_tree(result, store) == {"bundle/libx.so": (MODE_SYMLINK, b"libx.so.1")}


def test_a_hardlink_to_a_fifo_is_skipped_like_its_target(store: GitHashingStore) -> None:
    result = run(store, [Fifo("run/pipe"), Hardlink("opt/amazon/pipe", "run/pipe"),
                         File("opt/amazon/a", b"a")])
    assert contents(result, store) == {"bundle/a": b"a"}
    assert result.report.skipped == {"fifo": 1}


@pytest.mark.parametrize("entries, message", [
    ([Hardlink("opt/amazon/x", "opt/amazon/missing")], "'opt/amazon/missing': hardlink target "
                                                       "does not exist"),
    ([Hardlink("opt/amazon/x", "usr/later"), File("usr/later", b"l")], "'usr/later': hardlink "
                                                                        "target does not exist"),
    ([Hardlink("opt/amazon/x", "../../etc/shadow")], "'../../etc/shadow': '..' climbs out"),
    ([Hardlink("opt/amazon/x", "/etc/shadow")], "'/etc/shadow': absolute path"),
    ([Dir("opt/amazon/d"), Hardlink("opt/amazon/x", "opt/amazon/d")], "hardlink to the directory"),
    ([Dir("usr/d"), Hardlink("opt/amazon/x", "usr/d")], "hardlink to a directory"),
])
def test_bad_hardlinks_are_refused(store: GitHashingStore, entries: list[Entry],
                                   message: str) -> None:
    with pytest.raises(UnsafeArchiveError) as raised:
        run(store, [*BASE, *entries])
    assert message in raised.value.message
    assert raised.value.message.startswith("layer 1: ")


# -- symlinks ----------------------------------------------------------------------------------


def test_symlinks_keep_their_text_and_escaping_ones_are_warned_about(
        store: GitHashingStore) -> None:
    result = run(store, [*BASE, Symlink("opt/amazon/a/inside", "../b/target"),
                         Symlink("opt/amazon/a/up", "../../../etc/passwd"),
                         Symlink("opt/amazon/abs", "/usr/bin/python3")])
    assert read_tree(result, store) == {
        "bundle/a/inside": (MODE_SYMLINK, b"../b/target"),
        "bundle/a/up": (MODE_SYMLINK, b"../../../etc/passwd"),
        "bundle/abs": (MODE_SYMLINK, b"/usr/bin/python3"),
    }
    assert result.report.warnings == [
        "bundle/a/up: symlink to '../../../etc/passwd' points outside bundle/",
        "bundle/abs: symlink to absolute path '/usr/bin/python3' points outside bundle/",
    ]


def test_a_symlinked_source_is_resolved_and_read_again(store: GitHashingStore) -> None:
    opened: list[int] = []
    layer = memory_layer([Dir("opt"), Dir("opt/amazon-1.2"), File("opt/amazon-1.2/a", b"a"),
                          Symlink("opt/amazon", "amazon-1.2"), File("opt/amazon-1.2x/b", b"b")],
                         opened=opened)
    result = flatten([layer], [AMAZON], store)
    assert contents(result, store) == {"bundle/a": b"a"}
    assert len(opened) == 2
    assert result.report.warnings == [
        "/opt/amazon: /opt/amazon is a symlink in the image; read the layers again from "
        "/opt/amazon-1.2"]


def test_a_symlinked_ancestor_of_the_source_is_resolved(store: GitHashingStore) -> None:
    result = run(store, [Symlink("opt", "/srv/opt"), File("srv/opt/amazon/a", b"a"),
                         File("srv/opt/amazon/x.pyc", b"x")], mappings=[SIMAPP])
    assert contents(result, store) == {"bundle/a": b"a"}
    assert "/opt is a symlink in the image; read the layers again from /srv/opt/amazon" in (
        result.report.warnings[0])


def test_chained_symlinks_to_the_source_are_followed(store: GitHashingStore) -> None:
    result = run(store, [Symlink("opt/amazon", "../srv/current"),
                         Symlink("srv/current", "releases/7"), File("srv/releases/7/a", b"a")])
    assert contents(result, store) == {"bundle/a": b"a"}


def test_a_symlinked_source_replaced_by_a_directory_later_is_a_directory(
        store: GitHashingStore) -> None:
    result = run(store, [Symlink("opt/amazon", "amazon-1.2"), File("opt/amazon-1.2/a", b"a")],
                 [Whiteout("opt/amazon"), Dir("opt/amazon"), File("opt/amazon/b", b"b")])
    assert contents(result, store) == {"bundle/b": b"b"}
    assert result.report.warnings == []


def test_a_symlink_loop_at_the_source_is_an_error(store: GitHashingStore) -> None:
    with pytest.raises(ImageError, match="symbolic links"):
        run(store, [Symlink("opt/amazon", "a"), Symlink("opt/a", "amazon")])


# -- untrusted names ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry, named", [
    (Raw("../evil"), "'../evil'"),
    (Raw("opt/amazon/../../../evil"), "'opt/amazon/../../../evil'"),
    (Raw("/etc/passwd"), "'/etc/passwd'"),
    (Raw("usr/../../etc/passwd"), "'usr/../../etc/passwd'"),  # outside the sources too
    (Raw("C:/Windows/system.ini"), "'C:/Windows/system.ini'"),
    (Raw("opt/amazon/a\\b"), "'opt/amazon/a\\\\b'"),
    (Raw("opt/amazon/.git/hooks/post-checkout", content=b"#!/bin/sh"),
     "'opt/amazon/.git/hooks/post-checkout'"),
    (Raw("opt/amazon/sub/.GIT/config"), "'opt/amazon/sub/.GIT/config'"),
    (Raw("opt/amazon/git~1/config"), "'opt/amazon/git~1/config'"),
    (Raw("opt/amazon/.git./config"), "'opt/amazon/.git./config'"),
    (Raw("opt/amazon/.git /config"), "'opt/amazon/.git /config'"),
    (Raw("opt/amazon/.g\u200cit/config"), "'opt/amazon/.g\\u200cit/config'"),
    (Raw("opt/amazon/\ufeff.git", type=tarfile.DIRTYPE), "'opt/amazon/\\ufeff.git'"),
    (Raw("opt/amazon/.git", type=tarfile.SYMTYPE, linkname="/"), "'opt/amazon/.git'"),
    (Raw(b"opt/amazon/caf\xe9"), "b'opt/amazon/caf\\xe9'"),
    (Raw("opt/amazon/.wh."), "'opt/amazon/.wh.': empty whiteout name"),
    (Raw("opt/.wh.."), "'opt/.wh..'"),
])
def test_adversarial_names_are_refused_naming_the_path(store: GitHashingStore, entry: Entry,
                                                       named: str) -> None:
    with pytest.raises(UnsafeArchiveError) as raised:
        run(store, [*BASE, File("opt/amazon/ok", b"ok"), entry])
    assert named in raised.value.message
    assert raised.value.message.startswith("layer 1: unsafe archive member ")


def test_odd_names_outside_the_sources_are_left_alone(store: GitHashingStore) -> None:
    # real images have them: systemd escapes '-' in unit names as \x2d, vendored repos
    result = run(store, [*BASE, File("opt/amazon/ok", b"ok"),
                         File("etc/systemd/system/dev-disk-by\\x2dlabel.device", b"u"),
                         File("usr/src/project/.git/HEAD", b"ref"),
                         Raw(b"usr/share/caf\xe9")])
    assert contents(result, store) == {"bundle/ok": b"ok"}


def test_excluded_paths_may_have_odd_names(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/ok", b"ok"),
                         File("opt/amazon/build/.git/HEAD", b"ref")], mappings=[SIMAPP])
    assert contents(result, store) == {"bundle/ok": b"ok"}


# -- limits, corruption, streaming -------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused(store: GitHashingStore) -> None:
    with pytest.raises(UnsafeArchiveError) as raised:
        run(store, [*BASE, File("opt/amazon/huge", Stream.zeros(2048))],
            limits=Limits(max_file_size=1024))
    assert "'opt/amazon/huge' is 2048 bytes, over the file size limit of 1024" in (
        raised.value.message)


def test_files_outside_the_sources_are_not_held_to_the_file_limit(
        store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/a", b"a"), File("usr/huge", Stream.zeros(4096))],
                 limits=Limits(max_file_size=1024))
    assert contents(result, store) == {"bundle/a": b"a"}


def test_a_layer_over_the_size_limit_is_refused(store: GitHashingStore) -> None:
    limits = Limits(max_layer_size=1 << 20)
    layer = memory_layer([*BASE, File("usr/big", Stream.zeros(4 << 20))], "gzip",
                         description="layer 1/1", limits=limits)
    with pytest.raises(UnsafeArchiveError, match="layer 1/1: more than 1048576 bytes"):
        flatten([layer], [AMAZON], store, limits)


def test_the_layer_limit_holds_for_any_layer_source(store: GitHashingStore) -> None:
    # a layer opened without limits of its own (the engine's stream, say) is still capped
    blob = layer_tar([*BASE, File("opt/amazon/a", b"a"), File("usr/big", Stream.zeros(4 << 20))])
    layer = memory_layer([], description="docker cp /opt/amazon", verify=False, blob=blob)
    with pytest.raises(UnsafeArchiveError, match="docker cp /opt/amazon: more than 1048576"):
        flatten([layer], [AMAZON], store, Limits(max_layer_size=1 << 20))


@pytest.mark.parametrize("compression", ["none", "gzip", "gzip-multi", "zstd", "zstd-multi"])
def test_every_compression_gives_the_same_tree(compression: Any) -> None:
    entries: list[Entry] = [*BASE, File("opt/amazon/a", b"a" * 5000), Symlink("opt/amazon/l", "a"),
               File("opt/amazon/big", Stream.pattern(300_000))]
    expected = run(GitHashingStore(), entries).tree
    store = GitHashingStore()
    result = flatten([memory_layer(entries, compression)], [AMAZON], store)
    assert result.tree == expected


def test_a_layer_that_does_not_match_its_digest_is_an_error(store: GitHashingStore) -> None:
    entries: list[Entry] = [*BASE, File("opt/amazon/a", b"a")]
    _, built = layer_blob(entries, "gzip")
    tampered, _ = layer_blob([*BASE, File("opt/amazon/a", b"b")], "gzip")
    layer = memory_layer(entries, "gzip", description="layer 1/1", blob=tampered)
    with pytest.raises(ImageError, match=f"layer 1/1: digest mismatch: expected {built.digest}"):
        flatten([layer], [AMAZON], store)


def test_a_layer_that_does_not_match_its_diff_id_is_an_error(store: GitHashingStore) -> None:
    entries: list[Entry] = [*BASE, File("opt/amazon/a", b"a")]
    tampered = layer_tar([*BASE, File("opt/amazon/a", b"b")])
    layer = memory_layer(entries, "none", description="layer 1/1", blob=tampered)
    with pytest.raises(ImageError, match="layer 1/1: digest mismatch"):
        flatten([layer], [AMAZON], store)


@pytest.mark.parametrize("cut", [
    512 * 3,  # at a header boundary: tarfile alone would call that the end
    512 * 3 + 100,  # inside a header
    512 * 4 + 10,  # inside a file's content
])
def test_a_truncated_layer_without_digests_is_an_error(store: GitHashingStore, cut: int) -> None:
    entries: list[Entry] = [*BASE, File("opt/amazon/a", b"a" * 600),
                            File("opt/amazon/b", b"b" * 600)]
    blob = layer_tar(entries)[:cut]
    layer = memory_layer(entries, description="layer 1/1", verify=False, blob=blob)
    with pytest.raises(ImageError, match="layer 1/1: .*(truncated|ends)"):
        flatten([layer], [AMAZON], store)


def test_a_truncated_gzip_layer_is_an_error(store: GitHashingStore) -> None:
    entries: list[Entry] = [*BASE, File("opt/amazon/a", Stream.pattern(200_000))]
    blob, _ = layer_blob(entries, "gzip")
    layer = memory_layer(entries, "gzip", description="layer 1/1", verify=False,
                         blob=blob[:-100])
    with pytest.raises(ImageError, match="layer 1/1: the gzip stream is truncated or corrupt"):
        flatten([layer], [AMAZON], store)


def test_garbage_is_not_a_layer(store: GitHashingStore) -> None:
    layer = memory_layer([], description="layer 1/1", verify=False, blob=b"not a tar" * 100)
    with pytest.raises(ImageError, match="layer 1/1: truncated or corrupt tar stream"):
        flatten([layer], [AMAZON], store)


def test_a_renamed_stream_without_whiteouts_like_the_engine_archive(
        store: GitHashingStore) -> None:
    # `docker cp`/get_archive of /opt/amazon names members "amazon/..." and has no whiteouts
    blob = layer_tar([Dir("amazon"), File("amazon/a", b"a"), File("amazon/.wh.b", b"plain"),
                      Hardlink("amazon/c", "amazon/a")])
    base = memory_layer([], blob=blob, verify=False, description="docker cp /opt/amazon")

    def rename(name: str) -> str | None:
        return f"opt/{name}" if name == "amazon" or name.startswith("amazon/") else None

    layer = Layer(description=base.description, open=base.open, rename=rename, whiteouts=False)
    result = flatten([layer], [AMAZON], store)
    assert contents(result, store) == {"bundle/a": b"a", "bundle/.wh.b": b"plain",
                                       "bundle/c": b"a"}


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def start_layer(self, description: str, total: int | None) -> None:
        self.events.append(("start", description, total))

    def advance(self, nbytes: int, files: int) -> None:
        self.events.append(("advance", nbytes, files))

    def finish_layer(self) -> None:
        self.events.append(("finish",))


def test_progress_reports_compressed_bytes_and_kept_files(store: GitHashingStore) -> None:
    progress = RecordingProgress()
    first = memory_layer([*BASE, File("opt/amazon/a", Stream.pattern(3 << 20)),
                          File("usr/b", Stream.pattern(2 << 20))], "gzip", description="one")
    second = memory_layer([File("opt/amazon/c", b"c")], "zstd", description="two")
    flatten([first, second], [AMAZON], store, progress=progress)
    starts = [event for event in progress.events if event[0] == "start"]
    assert starts == [("start", "one", first.size), ("start", "two", second.size)]
    split = progress.events.index(starts[1])
    for events, layer, files in ((progress.events[:split], first, 1),
                                 (progress.events[split:], second, 1)):
        advances = [event for event in events if event[0] == "advance"]
        assert sum(event[1] for event in advances) == layer.size
        assert sum(event[2] for event in advances) == files
        assert events[-1] == ("finish",)


# -- determinism -------------------------------------------------------------------------------


def test_the_same_content_gives_the_same_tree_whatever_the_layering() -> None:
    one: list[Entry] = [File("opt/amazon/a", b"a", mtime=1), File("opt/amazon/d/b", b"b", uid=1000),
           Symlink("opt/amazon/l", "a"), File("opt/amazon/x", b"x", mode=0o755)]
    two: tuple[list[Entry], ...] = ([File("opt/amazon/d/b", b"b", mtime=99999, uid=0, gid=5),
            File("opt/amazon/x", b"old"), File("opt/amazon/gone", b"g")],
           [Whiteout("opt/amazon/gone"), File("opt/amazon/x", b"x", mode=0o700),
            Dir("opt/amazon/empty"), Symlink("opt/amazon/l", "a", mtime=7)],
           [File("opt/amazon/a", b"a", mtime=123, uid=42), Whiteout("opt/amazon/empty")])
    first = run(GitHashingStore(), one)
    second = run(GitHashingStore(), *two)
    assert first.tree == second.tree


_NAMES = st.sampled_from(["a", "b", "c", "d.py", "e.sh", "f"])
_FILES = st.dictionaries(
    st.lists(_NAMES, min_size=1, max_size=3).map(lambda parts: "/".join(parts)),
    st.tuples(st.binary(max_size=40), st.sampled_from([0o644, 0o755, 0o600, 0o750]),
              st.booleans()),
    min_size=1, max_size=12,
)


def _consistent(files: dict[str, Any]) -> dict[str, Any]:
    """Drop paths that would need to be both a file and a directory."""
    kept: dict[str, Any] = {}
    for path in sorted(files, key=lambda p: (p.count("/"), p)):
        parts = path.split("/")
        if any("/".join(parts[:n]) in kept for n in range(1, len(parts))):
            continue
        kept[path] = files[path]
    return {p: v for p, v in kept.items() if not any(o.startswith(p + "/") for o in kept)}


def _final_entry(path: str, value: Any, meta: dict[str, int]) -> Entry:
    content, mode, is_link = value
    if is_link:
        return Symlink(f"opt/amazon/{path}", content.hex() or "x", **meta)
    return File(f"opt/amazon/{path}", content, mode=mode, **meta)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=_FILES, data=st.data())
def test_flattening_is_independent_of_layer_split_order_and_metadata(files: dict[str, Any],
                                                                      data: Any) -> None:
    files = _consistent(files)
    reference = run(GitHashingStore(), [_final_entry(p, v, {}) for p, v in sorted(files.items())])

    count = data.draw(st.integers(1, 4), label="layers")
    split: list[list[Entry]] = [[] for _ in range(count)]
    meta = st.fixed_dictionaries({"mtime": st.integers(0, 2**31), "uid": st.integers(0, 65535),
                                  "gid": st.integers(0, 65535)})
    for path, value in files.items():
        where = data.draw(st.integers(0, count - 1))
        if where > 0 and data.draw(st.booleans()):  # an older version, overwritten later
            split[data.draw(st.integers(0, where - 1))].append(
                File(f"opt/amazon/{path}", b"stale", **data.draw(meta)))
        split[where].append(_final_entry(path, value, data.draw(meta)))
    for number in range(data.draw(st.integers(0, 3))):  # junk, removed later
        if count > 1:
            low = data.draw(st.integers(0, count - 2))
            split[low].append(File(f"opt/amazon/junk{number}/j", b"junk"))
            split[data.draw(st.integers(low + 1, count - 1))].append(
                Whiteout(f"opt/amazon/junk{number}"))
    split[0].append(File("opt/amazon/build/x.o", b"excluded"))
    ordered = [data.draw(st.permutations(entries)) for entries in split]
    ordered[0] = [*BASE, *ordered[0]]  # keep the source present even if every file is a link

    result = run(GitHashingStore(), *ordered, mappings=[PathMapping(
        "/opt/amazon", "bundle", ("/build/",))])
    assert result.tree == reference.tree


# -- real object database and memory ---------------------------------------------------------------


class _Exactly(io.RawIOBase):
    """Exactly ``size`` bytes of ``stream``, as an io object pygit2 can read."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(min(len(buffer), self.left)) if self.left else b""
        buffer[: len(data)] = data
        self.left -= len(data)
        return len(data)


class OdbStore:
    """Blobs written straight into a real repository's object database."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo

    def write(self, stream: BinaryIO, size: int) -> str:
        return str(self.repo.create_blob_fromiobase(_Exactly(stream, size)))


def test_blobs_go_into_a_real_object_database_under_git_ids(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "repo"), bare=True)
    entries: list[list[Entry]] = [[*BASE, File("opt/amazon/a", b"alpha\n"), File("opt/amazon/big",
                                                             Stream.pattern(3 << 20)),
                Symlink("opt/amazon/l", "a"), File("usr/b", b"b"),
                Hardlink("opt/amazon/b", "usr/b")]]
    result = flatten(layers(*entries, compression="gzip"), [AMAZON], OdbStore(repo))
    expected = run(GitHashingStore(), *entries)
    assert result.tree == expected.tree
    assert repo.odb.read(leaf_at(result.tree, "bundle/a").oid)[1] == b"alpha\n"
    assert len(repo.odb.read(leaf_at(result.tree, "bundle/big").oid)[1]) == 3 << 20


_MEMORY_PROBE = """
import json, sys, tracemalloc
from contextlib import contextmanager
from sync.image.flatten import flatten
from sync.image.streams import layer_opener
from sync.image.model import Layer
from sync.config.manifest import PathMapping
from tests.image.conftest import GitHashingStore
from tests.memory import peak_rss_bytes

@contextmanager
def open_raw():
    with open(sys.argv[1], "rb", buffering=0) as blob:
        yield blob

tracemalloc.start()
store = GitHashingStore(keep=False)
layer = Layer("big layer", layer_opener(open_raw, description="big layer",
                                        digest=sys.argv[2], diff_id=sys.argv[3]))
result = flatten([layer], [PathMapping("/opt/amazon", "bundle")], store)
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "files": result.report.files,
                  "bytes": result.report.bytes,
                  "maxrss": peak_rss_bytes()}))
"""


def test_a_300_mb_file_flattens_in_a_small_fraction_of_its_size(tmp_path: Path) -> None:
    size = 300 * 1024 * 1024
    from tests.builders.images import write_layer
    blob_path = tmp_path / "layer.tar.zst"
    with blob_path.open("wb") as out:
        built = write_layer([*BASE, File("opt/amazon/model.bin", Stream.pattern(size))], out,
                            "zstd")
    output = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(blob_path), built.digest, built.diff_id],
        check=True, capture_output=True, text=True, cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    ).stdout
    measured = json.loads(output)
    assert (measured["files"], measured["bytes"]) == (1, size)
    assert measured["peak"] < 16 * 1024 * 1024  # Python allocations, all included
    assert measured["maxrss"] < 120 * 1024 * 1024  # the whole process, interpreter included
