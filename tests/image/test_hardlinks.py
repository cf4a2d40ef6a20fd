"""Hardlinks: a link gets what its target is at that point, read again when it was not kept."""

from __future__ import annotations

import pytest

from sync.errors import UnsafeArchiveError
from sync.filetree import MODE_EXECUTABLE, MODE_SYMLINK
from sync.image.flatten import flatten
from tests.builders.images import Dir, Entry, Fifo, File, Hardlink, Opaque, Symlink, Whiteout
from tests.image.conftest import (
    BASE,
    SIMAPP,
    GitHashingStore,
    contents,
    memory_layer,
    read_tree,
    run,
)

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
