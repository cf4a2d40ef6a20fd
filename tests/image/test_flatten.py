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
from sync.errors import ImageError
from sync.filetree import MODE_EXECUTABLE, MODE_FILE, MODE_SYMLINK, Tree
from sync.image.flatten import flatten
from tests.builders.images import (
    CharDevice,
    Dir,
    Entry,
    Fifo,
    File,
    Hardlink,
    Raw,
    Stream,
    Symlink,
    Whiteout,
)
from tests.image.conftest import (
    AMAZON,
    BASE,
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
from sync.image.model import Layer, Limits
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
# Stream.pattern repeats a 1 MiB block, which zstd's window sees: ~300:1, over the ratio cap
result = flatten([layer], [PathMapping("/opt/amazon", "bundle")], store,
                 Limits(max_layer_ratio=10**6))
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
