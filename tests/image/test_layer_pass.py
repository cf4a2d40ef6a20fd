"""Reading a layer's members: untrusted names, size limits, corrupt streams, progress."""

from __future__ import annotations

import tarfile
from typing import Any

import pytest

from sync.errors import ImageError, UnsafeArchiveError
from sync.image.flatten import flatten
from sync.image.model import Layer, Limits
from tests.builders.images import (
    Dir,
    Entry,
    File,
    Hardlink,
    Raw,
    Stream,
    Symlink,
    layer_blob,
    layer_tar,
)
from tests.image.conftest import AMAZON, BASE, SIMAPP, GitHashingStore, contents, memory_layer, run

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


def test_a_kept_name_that_is_not_utf8_is_kept_with_its_bytes(store: GitHashingStore) -> None:
    result = run(store, [*BASE, File("opt/amazon/ok", b"ok"),
                         Raw(b"opt/amazon/caf\xe9", content=b"latin-1")])
    assert contents(result, store) == {"bundle/ok": b"ok",
                                       b"bundle/caf\xe9".decode("utf-8", "surrogateescape"):
                                       b"latin-1"}


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
