"""Three-way merge of one file with libgit2, conflicts marked diff3-style (with the base).

pygit2 1.21 exposes ``Repository.merge_file_from_index`` but passes no options, so conflict
markers would lack the base section and carry no labels. libgit2's own function accepts
``git_merge_file_options`` (labels, ``GIT_MERGE_FILE_STYLE_DIFF3``); it is called here through
pygit2's cffi binding, which declares both.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2
from pygit2.enums import MergeFileFlag

from sync.git.trees import write_blob

_OPTIONS_VERSION = 1  # GIT_MERGE_FILE_OPTIONS_VERSION
# the line-diff algorithms libgit2's file merge offers (no histogram there)
ALGORITHMS = {"myers": MergeFileFlag(0), "patience": MergeFileFlag.DIFF_PATIENCE,
              "minimal": MergeFileFlag.DIFF_MINIMAL}


@dataclass(frozen=True)
class MergeResult:
    """``content`` is the merged file; when not ``clean`` it holds conflict markers."""

    clean: bool
    content: bytes


@dataclass(frozen=True)
class Labels:
    """What the conflict markers call each side of a merge."""

    base: str = "base"
    ours: str = "ours"
    theirs: str = "theirs"


def merge_file(repo: pygit2.Repository, path: str, base: bytes | None, ours: bytes,
               theirs: bytes, labels: Labels = Labels(), mode: int = 0o100644,
               algorithm: str = "myers") -> MergeResult:
    """Merge the change base->theirs into ours; ``base=None`` merges two additions.

    ``algorithm`` is the line diff under the merge: "myers" (git's default), "patience" or
    "minimal"."""
    if ours == theirs:
        return MergeResult(True, ours)
    if base is not None and base == theirs:
        return MergeResult(True, ours)
    if base is not None and base == ours:
        return MergeResult(True, theirs)

    def entry(data: bytes) -> pygit2.IndexEntry:
        return pygit2.IndexEntry(path, pygit2.Oid(hex=write_blob(repo, data)),
                                 pygit2.enums.FileMode(mode))

    sides = (entry(base) if base is not None else None, entry(ours), entry(theirs))
    try:
        return _merge_diff3(repo, sides, labels, ALGORITHMS[algorithm])
    except (ImportError, AttributeError):  # a pygit2 without the cffi declarations we use
        result = repo.merge_file_from_index(*sides)
        contents = result.contents if result is not None else ""
        return MergeResult(bool(result and result.automergeable),
                           contents.encode("utf-8", "surrogateescape"))


def _merge_diff3(repo: pygit2.Repository,
                 sides: tuple[pygit2.IndexEntry | None, pygit2.IndexEntry, pygit2.IndexEntry],
                 labels: Labels, algorithm: MergeFileFlag) -> MergeResult:
    from pygit2._libgit2 import ffi
    from pygit2._libgit2 import lib as C  # noqa: N812 - libgit2's own name
    from pygit2.errors import check_error

    keep = []  # cffi buffers must outlive the call
    converted = []
    for side in sides:
        if side is None:
            converted.append(ffi.NULL)
        else:
            centry, path_ref = side._to_c()
            keep.append(path_ref)
            converted.append(centry)
    options = ffi.new("git_merge_file_options *")
    options.version = _OPTIONS_VERSION
    names = [ffi.new("char[]", text.encode("utf-8")) for text in
             (labels.base, labels.ours, labels.theirs)]
    options.ancestor_label, options.our_label, options.their_label = names
    options.flags = int(MergeFileFlag.STYLE_DIFF3 | algorithm)
    result = ffi.new("git_merge_file_result *")
    check_error(C.git_merge_file_from_index(result, repo._repo, *converted, options))
    try:
        content = bytes(ffi.buffer(result.ptr, result.len)) if result.ptr != ffi.NULL else b""
        return MergeResult(bool(result.automergeable), content)
    finally:
        C.git_merge_file_result_free(result)
