"""The work tree under the manifest targets: read it into a tree, write trees into it.

Writing is confined and careful: only paths under the given roots are touched; every directory
is opened relative to its parent with ``O_NOFOLLOW`` (a symlink where a folder should be is an
error, never followed); each file is written under a temporary name and renamed into place, so a
crash leaves every file either old or new (``sync.git.files``, which writes several at once);
files that disappear are removed, and folders left empty are pruned up to the root.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pygit2.enums import DeltaStatus, DiffOption, FileStatus

from sync.errors import GitError
from sync.git import cachetree
from sync.git import index as gitindex
from sync.git.files import (
    MODE_EXECUTABLE,
    MODE_SYMLINK,
    TEMPORARY,
    Data,
    Folders,
    Stored,
    under,
    write_all,
)
from sync.git.loose import object_folders
from sync.git.trees import MODE_TREE, Entry, empty_tree, read_blob, update_tree, write_blob
from sync.untrusted import shown_path

MODE_FILE = 0o100644
_DIRTY = (FileStatus.INDEX_NEW | FileStatus.INDEX_MODIFIED | FileStatus.INDEX_DELETED
          | FileStatus.INDEX_RENAMED | FileStatus.INDEX_TYPECHANGE | FileStatus.WT_MODIFIED
          | FileStatus.WT_DELETED | FileStatus.WT_TYPECHANGE | FileStatus.WT_RENAMED
          | FileStatus.CONFLICTED)
UNSTAGED = FileStatus.WT_MODIFIED | FileStatus.WT_DELETED | FileStatus.WT_TYPECHANGE
_READ_FROM_DISK = (FileStatus.WT_NEW | FileStatus.WT_MODIFIED | FileStatus.WT_TYPECHANGE
                   | FileStatus.WT_RENAMED | FileStatus.CONFLICTED)
# the comparisons ``git status`` makes, and how it names their findings (libgit2's status.c)
_AS_STATUS = (DiffOption.INCLUDE_TYPECHANGE | DiffOption.INCLUDE_UNTRACKED
              | DiffOption.RECURSE_UNTRACKED_DIRS)
_WORK_TREE_FLAGS = {
    DeltaStatus.ADDED: FileStatus.WT_NEW, DeltaStatus.COPIED: FileStatus.WT_NEW,
    DeltaStatus.UNTRACKED: FileStatus.WT_NEW, DeltaStatus.UNREADABLE: FileStatus.WT_UNREADABLE,
    DeltaStatus.DELETED: FileStatus.WT_DELETED, DeltaStatus.MODIFIED: FileStatus.WT_MODIFIED,
    DeltaStatus.IGNORED: FileStatus.IGNORED, DeltaStatus.RENAMED: FileStatus.WT_RENAMED,
    DeltaStatus.TYPECHANGE: FileStatus.WT_TYPECHANGE,
    DeltaStatus.CONFLICTED: FileStatus.CONFLICTED}
_INDEX_FLAGS = {
    DeltaStatus.ADDED: FileStatus.INDEX_NEW, DeltaStatus.COPIED: FileStatus.INDEX_NEW,
    DeltaStatus.DELETED: FileStatus.INDEX_DELETED,
    DeltaStatus.MODIFIED: FileStatus.INDEX_MODIFIED,
    DeltaStatus.RENAMED: FileStatus.INDEX_RENAMED,
    DeltaStatus.TYPECHANGE: FileStatus.INDEX_TYPECHANGE,
    DeltaStatus.CONFLICTED: FileStatus.CONFLICTED}


@dataclass(frozen=True)
class Change:
    """Write ``entry`` at ``path`` (repository-relative), or remove the file when None."""

    path: str
    entry: Entry | None


@dataclass(frozen=True)
class Snapshot:
    """The work tree under some roots as a git tree, and what differs from the index."""

    tree: str
    uncommitted: tuple[str, ...]  # tracked paths with staged or unstaged changes, conflicts
    untracked: tuple[str, ...]
    unstaged: tuple[str, ...] = ()  # tracked paths whose work-tree file differs from the index


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def status(repo: pygit2.Repository, roots: Sequence[str]) -> dict[str, int]:
    """``git status`` flags of the paths under ``roots`` (untracked files listed one by one)."""
    return scan(repo, gitindex.current(repo), roots)


def untracked_and_changed(repo: pygit2.Repository,
                          roots: Sequence[str]) -> tuple[list[str], list[str]]:
    """Under ``roots``: the untracked files, and the tracked ones with changes (staged or not),
    each sorted, as ``git status`` lists them (ignored files are neither)."""
    flags = status(repo, roots)
    untracked = sorted(path for path, flag in flags.items() if flag & FileStatus.WT_NEW)
    changed = sorted(path for path, flag in flags.items() if flag & _DIRTY)
    return untracked, changed


def snapshot(repo: pygit2.Repository, roots: Sequence[str], *, staged: bool = True) -> Snapshot:
    """Store the work tree under ``roots`` as a tree, reusing index entries for clean files.

    The index's tree is written by libgit2 (as ``git write-tree``), and only the files that
    differ from the index (``scan``) are read; an index with conflicts is read entry by entry.
    ``staged`` False leaves out comparing the index with HEAD (``uncommitted`` then names only
    what differs between the index and the work tree): the tree and the untracked and
    unstaged files are the same either way.
    """
    return Snapshotting(repo, roots, staged=staged).result()


class Snapshotting:
    """A ``snapshot`` under way: the work tree is compared with the index in a thread
    (``Scanning``) from the moment this is made, and ``result`` finishes the snapshot. A caller
    with other work to do (reading the series) does it in between."""

    def __init__(self, repo: pygit2.Repository, roots: Sequence[str], *,
                 staged: bool = True) -> None:
        self.repo, self.roots, self.staged = repo, tuple(roots), staged
        self._scanning = Scanning(repo, self.roots, staged=staged)

    def result(self) -> Snapshot:
        index = gitindex.current(self.repo)
        indexed = _index_tree(self.repo, index, self.roots)  # while the thread scans
        entries: dict[str, Entry | None] = {} if indexed is not None else _index_entries(
            index, self.roots)
        flags_by_path = self._scanning.result(index)
        top = Path(workdir(self.repo))
        for path, flags in flags_by_path.items():
            if flags & FileStatus.WT_DELETED or (flags & FileStatus.INDEX_DELETED
                                                 and not flags & FileStatus.WT_NEW):
                entries[path] = None
            if flags & _READ_FROM_DISK:
                entries[path] = read_file(self.repo, top, path)
        if indexed is not None:
            tree = update_tree(self.repo, indexed, entries)
        else:
            tree = update_tree(self.repo, None,
                               {p: e for p, e in entries.items() if e is not None})
        uncommitted = tuple(sorted(p for p, f in flags_by_path.items() if f & _DIRTY))
        untracked = tuple(sorted(p for p, f in flags_by_path.items()
                                 if f & FileStatus.WT_NEW and not f & _DIRTY))
        unstaged = tuple(sorted(p for p, f in flags_by_path.items() if f & UNSTAGED))
        return Snapshot(tree, uncommitted, untracked, unstaged)


def scan(repo: pygit2.Repository, index: pygit2.Index, roots: Sequence[str], *,
         staged: bool = True) -> dict[str, int]:
    """``git status`` flags of the paths under ``roots`` (untracked files one by one), from the
    two comparisons ``git status`` makes: HEAD with the index, the index with the work tree.

    ``staged`` False makes only the second (at real size the first costs as much again in
    reading HEAD's trees); of the first it keeps what tells a file apart from an untracked
    one: a file the index dropped (``git rm --cached``) and HEAD has is ``INDEX_DELETED``.
    ``index`` is the index file as it is now (``gitindex.current``).
    """
    return Scanning(repo, roots, staged=staged).result(index)


class Scanning:
    """``scan`` under way. The index is compared with the work tree (thousands of ``stat``
    calls) by libgit2 in a thread, which lets go of the GIL meanwhile, on a repository handle
    of its own: a libgit2 object is for one thread at a time. That handle reads the index
    file as it is, as ``gitindex.current`` does for the caller's."""

    def __init__(self, repo: pygit2.Repository, roots: Sequence[str], *,
                 staged: bool = True) -> None:
        self.repo, self.roots, self.staged = repo, tuple(roots), staged
        pool = ThreadPoolExecutor(1, thread_name_prefix="work-tree-scan")
        self._compared = pool.submit(_work_tree_deltas, repo.path, workdir(repo))
        pool.shutdown(wait=False)  # the thread ends with its one task

    def result(self, index: pygit2.Index) -> dict[str, int]:
        """The flags by path; ``index`` is the caller's handle on the same index file."""
        head = _head_tree(self.repo)
        staged: list[tuple[str, DeltaStatus]] = []
        if self.staged:  # HEAD with the index, here, while the thread compares the work tree
            against = head if head is not None else self.repo.get(empty_tree(self.repo))
            assert isinstance(against, pygit2.Tree)
            staged = [(delta.old_file.path, delta.status)
                      for delta in index.diff_to_tree(against, _AS_STATUS).deltas]
        found: dict[str, int] = {}
        for deltas, flags_of in ((self._compared.result(), _WORK_TREE_FLAGS),
                                 (staged, _INDEX_FLAGS)):
            for path, status in deltas:
                if under(path, self.roots):
                    found[path] = found.get(path, 0) | flags_of.get(status, 0)
        if not self.staged and head is not None:
            for path, flags in found.items():
                if flags & FileStatus.WT_NEW and _has_file(head, path):
                    found[path] = flags | FileStatus.INDEX_DELETED
        return {path: flags for path, flags in found.items() if flags}


def _work_tree_deltas(git_dir: str, top: str) -> list[tuple[str, DeltaStatus]]:
    """What differs between the index file and the work tree, by libgit2 (run in a thread)."""
    own = pygit2.Repository(git_dir)
    if own.workdir != top:
        own.workdir = top
    return [(delta.old_file.path, delta.status)
            for delta in own.index.diff_to_workdir(_AS_STATUS).deltas]


def _head_tree(repo: pygit2.Repository) -> pygit2.Tree | None:
    """HEAD's tree; None before the first commit."""
    if repo.head_is_unborn:
        return None
    return repo.head.peel(pygit2.Tree)


def _has_file(tree: pygit2.Tree, path: str) -> bool:
    """Whether ``tree`` has something other than a folder at ``path``."""
    try:
        return tree[path].filemode != MODE_TREE
    except KeyError:
        return False


def _index_tree(repo: pygit2.Repository, index: pygit2.Index,
                roots: Sequence[str]) -> str | None:
    """The index's files under ``roots`` as a tree (the folders the index records taken as they
    are, ``cachetree``; else written by libgit2); None while it has conflicts (no tree then)."""
    if index.conflicts is not None:
        return None
    written = repo.get(cachetree.index_tree(repo) or index.write_tree(repo))
    assert isinstance(written, pygit2.Tree)
    grafts: dict[str, Entry | None] = {}
    for root in roots:
        try:
            found = written[root]
        except KeyError:
            continue
        grafts[root] = Entry(int(found.filemode), str(found.id))
    return update_tree(repo, None, grafts)


def _index_entries(index: pygit2.Index, roots: Sequence[str]) -> dict[str, Entry | None]:
    """The index's entries under ``roots``, one by one."""
    return {item.path: Entry(int(item.mode), str(item.id)) for item in index
            if under(item.path, roots)}


def without_leftovers(taking: Snapshotting) -> Snapshot:
    """The snapshot being taken, once the temporary files of a write killed midway (several
    files are written at once) are removed: they are never taken for the maintainer's files."""
    snap = taking.result()
    leftovers = [path for path in snap.untracked if TEMPORARY.fullmatch(path.rpartition("/")[2])]
    if not leftovers:
        return snap
    with Folders(Path(workdir(taking.repo))) as folders:
        for path in leftovers:
            folders.remove_file(path)
    return snapshot(taking.repo, taking.roots, staged=taking.staged)


def read_file(repo: pygit2.Repository, top: Path, path: str) -> Entry | None:
    """The file at ``path`` as a stored blob entry, without following a symlink."""
    full = top / path
    try:
        info = os.lstat(full)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(info.st_mode):
        return Entry(MODE_SYMLINK, write_blob(repo, os.fsencode(os.readlink(full))))
    if not stat.S_ISREG(info.st_mode):
        return None
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    mode = MODE_EXECUTABLE if info.st_mode & stat.S_IXUSR else MODE_FILE
    return Entry(mode, write_blob(repo, data))


def changes_between(repo: pygit2.Repository, old: str | None, new: str | None,
                    roots: Sequence[str]) -> list[Change]:
    """What turns tree ``old`` into tree ``new`` under ``roots`` (None: an empty tree), as
    libgit2's diff lists it: in path order, a change of kind (a file to a symlink, say) as a
    removal then a write. Folders with the same id on both sides are not read (libgit2's diff
    reads every folder of both trees: a thousand at real size, for a handful of changes)."""
    changes: list[Change] = []
    for root in roots:
        before, after = _subtree(repo, old, root), _subtree(repo, new, root)
        if before != after:
            _folder_changes(repo, before, after, root + "/", changes)
    changes.sort(key=lambda change: (os.fsencode(change.path), change.entry is not None))
    return changes


def _folder_changes(repo: pygit2.Repository, old: str | None, new: str | None, prefix: str,
                    changes: list[Change]) -> None:
    before, after = _folder(repo, old), _folder(repo, new)
    for name in before.keys() | after.keys():
        was, now = before.get(name), after.get(name)
        if was == now:
            continue
        path = prefix + name
        old_folder = str(was[1]) if was is not None and was[0] == MODE_TREE else None
        new_folder = str(now[1]) if now is not None and now[0] == MODE_TREE else None
        if old_folder is not None or new_folder is not None:
            _folder_changes(repo, old_folder, new_folder, path + "/", changes)
        if was is not None and old_folder is None and (
                now is None or new_folder is not None
                or stat.S_IFMT(was[0]) != stat.S_IFMT(now[0])):
            changes.append(Change(path, None))
        if now is not None and new_folder is None:
            changes.append(Change(path, Entry(now[0], str(now[1]))))


def _folder(repo: pygit2.Repository, tree: str | None) -> dict[str, tuple[int, pygit2.Oid]]:
    """A folder's entries by name: (git mode, object id); none for None."""
    if tree is None:
        return {}
    found = repo.get(tree)
    assert isinstance(found, pygit2.Tree)
    return {str(item.name): (int(item.filemode), item.id) for item in found}


def _subtree(repo: pygit2.Repository, tree: str | None, path: str) -> str | None:
    if tree is None:
        return None
    try:
        found = repo.get(tree)[path]  # type: ignore[index]
    except KeyError:
        return None
    return str(found.id) if found.filemode == MODE_TREE else None


def write_changes(repo: pygit2.Repository, changes: Iterable[Change], roots: Sequence[str],
                  progress: Callable[[int], None] | None = None,
                  read: Callable[[str], Data | None] | None = None,
                  ordered: bool = True,
                  wrote: Callable[[str, int], None] | None = None) -> WriteReport:
    """Make the work tree match ``changes``: removals and pruning first, then writes.

    ``read`` gives a blob's bytes by id when the caller still holds them (as one ``bytes`` or
    as parts written one after the other, never joined), None when it does not; every other
    blob is written straight from the object database (``files.Stored``). Several files are
    written at once (``files.write_all``); ``ordered`` False lets them appear in any order (a
    caller whose state says what was being written, and undoes or finishes it after a crash).
    ``wrote(path, bytes so far)``: how far a large file is (``files.write_all``).
    """
    changes = list(changes)
    for change in changes:
        if not under(change.path, roots) or ".." in change.path.split("/"):
            raise GitError(f"{shown_path(change.path)}: outside the targets ({', '.join(roots)}); "
                           "refusing to write it")
    report = WriteReport()
    with Folders(Path(workdir(repo))) as folders:
        emptied: set[str] = set()
        for change in changes:
            if change.entry is None and folders.remove_file(change.path):
                report.removed.append(change.path)
                emptied.add(change.path.rpartition("/")[0])
            if progress is not None and change.entry is None:
                progress(1)
        folders.prune(emptied, roots)
        stored = object_folders(repo)
        writes: list[tuple[str, int, Data | Stored]] = []
        for change in changes:
            if change.entry is None:
                continue
            mode, oid = change.entry.mode, change.entry.oid
            held = read(oid) if read is not None else None
            if held is not None:
                writes.append((change.path, mode, held))
            elif mode == MODE_SYMLINK:
                writes.append((change.path, mode, read_blob(repo, oid)))
            else:
                writes.append((change.path, mode, Stored(repo, stored, oid, change.path)))

        def placed(path: str) -> None:
            report.written.append(path)
            if progress is not None:
                progress(1)

        write_all(folders, writes, placed, ordered, wrote)
    return report


def workdir(repo: pygit2.Repository) -> str:
    if repo.workdir is None:
        raise GitError(f"{repo.path}: is a bare repository; simapp-sync needs a work tree")
    return str(repo.workdir)
