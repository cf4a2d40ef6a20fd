"""Upstream renames found lazily: the same answer as reading every patch, read only when needed."""

from __future__ import annotations

import pygit2
import pytest

from sync.git.diff import diff_text, find_renames
from sync.series.load import SeriesPatch
from sync.series.renames import UpstreamRenames
from sync.series.seriesfile import SeriesEntry
from tests.series.builders import entry_of, make_tree

BODY = b"".join(b"line %d\n" % n for n in range(40))
OTHER = BODY.replace(b"line", b"other")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path_factory.mktemp("renames") / "repo"))


class Reads:
    """Counts how often the series' patch texts are read."""

    def __init__(self) -> None:
        self.count = 0

    def patch(self, repo, name: str, before: dict, after: dict, message: str = "",
              strip: int = 1) -> SeriesPatch:
        paths = set(before) | set(after)
        diff = diff_text(repo, {p: entry_of(repo, before[p]) if p in before else None
                                for p in paths},
                         {p: entry_of(repo, after[p]) if p in after else None for p in paths})
        if strip == 0:
            diff = diff.replace(b" a/", b" ").replace(b" b/", b" ")
        text = f"From: A <a@b.c>\nSubject: [PATCH] {name}\n\n{message}\n---\n".encode() + diff

        def read(_told: object) -> bytes:
            self.count += 1
            return text

        return SeriesPatch(SeriesEntry(name, strip), read=read, targets=["bundle"])


def case(repo, reads: Reads) -> tuple[str, str, list[SeriesPatch]]:
    base = {"bundle/a.py": BODY, "bundle/b.py": OTHER, "bundle/c.py": b"c\n" * 30,
            "bundle/keep.py": b"keep\n"}
    upstream = {"bundle/moved/a.py": BODY.replace(b"line 3\n", b"three\n"),
                "bundle/moved/b.py": OTHER, "bundle/moved/c.py": b"c\n" * 30,
                "bundle/keep.py": b"keep\n"}
    patches = [
        reads.patch(repo, "0001-edit-a.patch", {"bundle/a.py": BODY},
                    {"bundle/a.py": BODY + b"end\n"}),
        # names bundle/b.py in its message only: b.py moved too, but no patch changes it
        reads.patch(repo, "0002-keep.patch", {"bundle/keep.py": b"keep\n"},
                    {"bundle/keep.py": b"kept\n"}, message="unlike bundle/b.py, this one stays"),
        reads.patch(repo, "0003-c-p0.patch", {"bundle/c.py": b"c\n" * 30},
                    {"bundle/c.py": b"c\n" * 29 + b"C\n"}, strip=0),
    ]
    return make_tree(repo, base), make_tree(repo, upstream), patches


def test_the_renames_are_those_found_by_reading_every_patch(repo):
    reads = Reads()
    base, upstream, patches = case(repo, reads)
    eager = find_renames(repo, base, upstream,
                         {path for item in patches for path in item.patch.paths})
    lazy = UpstreamRenames(repo, base, upstream, patches)
    assert dict(lazy) == eager == {"bundle/a.py": "bundle/moved/a.py",
                                   "bundle/c.py": "bundle/moved/c.py"}
    assert lazy.get("bundle/b.py") is None


def test_a_path_upstream_did_not_delete_reads_no_patch(repo):
    reads = Reads()
    base, upstream, patches = case(repo, reads)
    lazy = UpstreamRenames(repo, base, upstream, patches)
    assert lazy.get("bundle/keep.py") is None and "bundle/new.py" not in lazy
    assert reads.count == 0
    assert lazy.get("bundle/a.py") == "bundle/moved/a.py"  # a deleted path: the series is read
    assert reads.count == len(patches)
    assert lazy.get("bundle/c.py") == "bundle/moved/c.py" and reads.count == len(patches)


def test_only_patches_naming_a_deleted_path_in_their_headers_are_parsed(repo):
    reads = Reads()
    base, upstream, patches = case(repo, reads)
    deleted = {"bundle/a.py", "bundle/b.py", "bundle/c.py"}
    assert patches[0].paths_among(deleted) == {"bundle/a.py"}
    assert patches[1].paths_among(deleted) == set()  # a message mentions it, no header does
    assert patches[2].paths_among(deleted) == {"bundle/c.py"}
    assert all(item._patch is None for item in patches)  # parsed ones were forgotten again
