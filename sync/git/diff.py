"""Canonical diff text between two sets of files, as ``git format-patch -M --binary`` has it.

The text comes from libgit2 (3 lines of context, rename detection, binary patches with their
forward hunk only), computed on small trees that hold only the paths in question, so the cost
depends on the size of the change and not on the size of the repository.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import pygit2
from pygit2.enums import DeltaStatus, DiffFind, DiffOption

from sync.git.trees import Entry, update_tree

CONTEXT_LINES = 3
RENAME_THRESHOLD = 50  # percent similarity, git's default for -M


# a file section by what it does: (status letter, path, old id, new id, old mode, new mode)
SectionKey = tuple[str, str, str, str, int, int]
# an addition ("A", path, new id) or a deletion ("D", path, old id); the id may be abbreviated
AddedOrDeleted = tuple[str, str, str]


@dataclass(frozen=True)
class DiffText:
    """A diff's file sections (reused ones as they were given) and its counts."""

    sections: tuple[bytes | memoryview, ...]
    files: int
    added: int
    removed: int

    @property
    def text(self) -> bytes:
        """The whole diff text (joined: a copy of every section)."""
        return b"".join(self.sections)


def diff_text(repo: pygit2.Repository, before: Mapping[str, Entry | None],
              after: Mapping[str, Entry | None]) -> bytes:
    """The diff (``diff --git`` sections, ``a/`` and ``b/`` prefixes) from ``before`` to ``after``.

    Both map repository paths to entries (None: absent); blobs must already be stored. Paths
    present in only one mapping are taken as absent in the other.
    """
    return diff_counted(repo, before, after).text


def diff_counted(repo: pygit2.Repository, before: Mapping[str, Entry | None],
                 after: Mapping[str, Entry | None],
                 reuse: Mapping[SectionKey, bytes | memoryview] | None = None,
                 phase: Callable[[str], None] = lambda _what: None,
                 unpaired: Collection[AddedOrDeleted] = ()) -> DiffText:
    """``diff_text`` as sections, with counts taken from libgit2's patches (not re-read).

    ``phase`` is told when rename detection and the writing of the sections start (each can
    take a second on a diff of 100 MB).

    ``unpaired``: additions and deletions known not to be renames (a patch being refreshed had
    them so, as its author's diff left them): renames are looked for only when the diff adds or
    deletes a file outside them. Pairing is decided by the two contents alone, so among those
    no rename can appear; the search would load and hash every added blob to find none.

    ``reuse``: section texts to take as they are for the file changes they describe (binary
    sections of the patch being refreshed, as views of its text): libgit2 would deflate and
    encode them again, and joining them would copy them.
    """
    old_tree = repo.get(update_tree(repo, None, {p: e for p, e in before.items() if e}))
    new_tree = repo.get(update_tree(repo, None, {p: e for p, e in after.items() if e}))
    assert isinstance(old_tree, pygit2.Tree) and isinstance(new_tree, pygit2.Tree)
    flags = DiffOption.SHOW_BINARY | DiffOption.INDENT_HEURISTIC
    diff = old_tree.diff_to_tree(new_tree, flags=flags, context_lines=CONTEXT_LINES)
    # renames only: libgit2 prints copies without their "copy from/to" lines, which would turn
    # a copy into an edit of the source; a copy is written as a new file instead. A rename
    # pairs a deletion with an addition: without both there is nothing to look for (and
    # libgit2 would still load every added blob to find out)
    statuses = {delta.status for delta in diff.deltas}
    known = {(letter, path): oid for letter, path, oid in unpaired}
    if DeltaStatus.DELETED in statuses and DeltaStatus.ADDED in statuses and not all(
            key is None or key[2].startswith(known.get(key[:2]) or "-")
            for key in map(_added_or_deleted, diff.deltas)):
        phase("finding renames")
        diff.find_similar(flags=DiffFind.FIND_RENAMES)
    phase("writing the sections")
    parts: list[bytes | memoryview] = []
    added = removed = 0
    for number, delta in enumerate(diff.deltas):
        kept = reuse.get(section_key(delta)) if reuse else None
        if kept is not None:
            parts.append(kept)
            continue
        patch = diff[number]
        if patch is None:
            continue
        parts.append(_as_git_writes(patch.data))
        _context, plus, minus = patch.line_stats
        added, removed = added + plus, removed + minus
    return DiffText(tuple(parts), len(parts), added, removed)


def _added_or_deleted(delta: pygit2.DiffDelta) -> AddedOrDeleted | None:
    if delta.status == DeltaStatus.ADDED:
        return ("A", delta.new_file.path, str(delta.new_file.id))
    if delta.status == DeltaStatus.DELETED:
        return ("D", delta.old_file.path, str(delta.old_file.id))
    return None


def section_key(delta: pygit2.DiffDelta) -> SectionKey:
    """What a delta does, in the terms ``SectionKey`` compares file sections by."""
    old, new = delta.old_file, delta.new_file
    letter = {DeltaStatus.ADDED: "A", DeltaStatus.DELETED: "D"}.get(delta.status, "M")
    if delta.status == DeltaStatus.RENAMED:
        letter = "R"
    path = old.path if letter == "D" else new.path
    return (letter, path, str(old.id), str(new.id), int(old.mode), int(new.mode))


def _as_git_writes(section: bytes) -> bytes:
    """One file section as git writes it: a section without hunks or binary data (an empty
    file added or deleted, a mode-only change, even of a binary file) is its header alone;
    libgit2 adds ``---``/``+++`` or "Binary files differ" lines that ``git apply`` and
    quilt read as a change without data."""
    if b"\nGIT binary patch\n" in section:
        return _forward_only(section)
    if b"\n@@ " in section:
        return section
    if b"\nBinary files " in section and b"\nold mode " not in section:
        return section  # a binary change without its data: left for the parser to refuse
    lines = section.splitlines(keepends=True)
    return b"".join(line for line in lines
                    if not line.startswith((b"--- ", b"+++ ", b"Binary files ")))


def _forward_only(section: bytes) -> bytes:
    """A binary section with its forward hunk only: the reverse hunk (the old content again,
    which the full ``index`` line already identifies) doubles a patch's size for nothing;
    ``git apply`` accepts its absence. libgit2 already writes a ``delta`` where it is smaller
    than a ``literal``, as git does."""
    head, marker, hunks = section.partition(b"\nGIT binary patch\n")
    forward, blank, _reverse = hunks.partition(b"\n\n")
    return head + marker + forward + blank if blank else section


def find_renames(repo: pygit2.Repository, old_tree: str | None, new_tree: str | None,
                 paths: Collection[str] | Callable[[], Collection[str]],
                 threshold: int = RENAME_THRESHOLD) -> dict[str, str]:
    """Where ``new_tree`` moved each of ``paths``: old path -> new path.

    Only paths that ``old_tree`` has and ``new_tree`` lacks are followed, to a file added in
    ``new_tree`` at least ``threshold`` percent similar (git's rename detection). The trees are
    compared once without similarity (unchanged folders are skipped by id); the costly pairing
    then runs on small trees holding just those deleted paths and the added files.
    """
    deleted, added = deleted_and_added(repo, old_tree, new_tree)
    if not deleted or not added:
        return {}
    wanted = set(paths() if callable(paths) else paths)  # a callable: asked only if needed
    return pair_renames(repo, {path: entry for path, entry in deleted.items()
                               if path in wanted}, added, threshold)


def deleted_and_added(repo: pygit2.Repository, old_tree: str | None, new_tree: str | None
                      ) -> tuple[dict[str, Entry], dict[str, Entry]]:
    """The files ``new_tree`` lacks and those it adds, compared with ``old_tree`` (no
    similarity computed: unchanged folders are skipped by id)."""
    if not old_tree or not new_tree or old_tree == new_tree:
        return {}, {}
    old, new = repo.get(old_tree), repo.get(new_tree)
    assert isinstance(old, pygit2.Tree) and isinstance(new, pygit2.Tree)
    deleted: dict[str, Entry] = {}
    added: dict[str, Entry] = {}
    for delta in old.diff_to_tree(new).deltas:
        if delta.status == DeltaStatus.DELETED:
            deleted[delta.old_file.path] = Entry(int(delta.old_file.mode), str(delta.old_file.id))
        elif delta.status == DeltaStatus.ADDED:
            added[delta.new_file.path] = Entry(int(delta.new_file.mode), str(delta.new_file.id))
    return deleted, added


def pair_renames(repo: pygit2.Repository, sources: Mapping[str, Entry],
                 added: Mapping[str, Entry], threshold: int = RENAME_THRESHOLD
                 ) -> dict[str, str]:
    """git's rename detection between deleted ``sources`` and ``added`` files, on small trees
    holding just those."""
    if not sources or not added:
        return {}
    small_old = repo.get(update_tree(repo, None, dict(sources)))
    small_new = repo.get(update_tree(repo, None, dict(added)))
    assert isinstance(small_old, pygit2.Tree) and isinstance(small_new, pygit2.Tree)
    diff = small_old.diff_to_tree(small_new)
    diff.find_similar(flags=DiffFind.FIND_RENAMES, rename_threshold=threshold,
                      rename_limit=max(1000, len(sources), len(added)))
    return {delta.old_file.path: delta.new_file.path for delta in diff.deltas
            if delta.status == DeltaStatus.RENAMED}
