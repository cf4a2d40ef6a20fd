"""The state tree: OCI whiteouts and opaque directories (as umoci), replacements, duplicates."""

from __future__ import annotations

import tarfile

import pytest

from sync.config.manifest import PathMapping
from sync.errors import ImageError
from sync.filetree import MODE_FILE, MODE_SYMLINK
from tests.builders.images import Dir, Fifo, File, Opaque, Raw, Symlink, Whiteout
from tests.image.conftest import BASE, SIMAPP, GitHashingStore, contents, read_tree, run

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
