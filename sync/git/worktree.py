"""The work tree under the manifest targets: read it into a tree, write trees into it.

Writing is confined and careful: only paths under the given roots are touched; every directory
is opened relative to its parent with ``O_NOFOLLOW`` (a symlink where a folder should be is an
error, never followed); each file is written under a temporary name and renamed into place, so a
crash leaves every file either old or new; files that disappear are removed, and folders left
empty are pruned up to the root.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pygit2.enums import FileStatus

from sync.errors import GitError, disk_faults
from sync.git import index as gitindex
from sync.git.trees import Entry, empty_tree, read_blob, update_tree, write_blob
from sync.untrusted import shown_path

MODE_FILE = 0o100644
MODE_EXECUTABLE = 0o100755
MODE_SYMLINK = 0o120000
TEMP_SUFFIX = ".simapp-sync-tmp"
_DIRTY = (FileStatus.INDEX_NEW | FileStatus.INDEX_MODIFIED | FileStatus.INDEX_DELETED
          | FileStatus.INDEX_RENAMED | FileStatus.INDEX_TYPECHANGE | FileStatus.WT_MODIFIED
          | FileStatus.WT_DELETED | FileStatus.WT_TYPECHANGE | FileStatus.WT_RENAMED
          | FileStatus.CONFLICTED)
UNSTAGED = FileStatus.WT_MODIFIED | FileStatus.WT_DELETED | FileStatus.WT_TYPECHANGE
_READ_FROM_DISK = (FileStatus.WT_NEW | FileStatus.WT_MODIFIED | FileStatus.WT_TYPECHANGE
                   | FileStatus.WT_RENAMED | FileStatus.CONFLICTED)


Data = bytes | Iterable[bytes | memoryview]  # a file's content, whole or in parts


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


def under(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one."""
    return any(path == root or path.startswith(root + "/") for root in roots)


def status(repo: pygit2.Repository, roots: Sequence[str]) -> dict[str, int]:
    """``git status`` flags of the paths under ``roots`` (untracked files listed one by one)."""
    return {path: int(flags) for path, flags in repo.status(untracked_files="all").items()
            if under(path, roots)}


def untracked_and_changed(repo: pygit2.Repository,
                          roots: Sequence[str]) -> tuple[list[str], list[str]]:
    """Under ``roots``: the untracked files, and the tracked ones with changes (staged or not),
    each sorted, as ``git status`` lists them (ignored files are neither)."""
    flags = status(repo, roots)
    untracked = sorted(path for path, flag in flags.items() if flag & FileStatus.WT_NEW)
    changed = sorted(path for path, flag in flags.items() if flag & _DIRTY)
    return untracked, changed


def snapshot(repo: pygit2.Repository, roots: Sequence[str]) -> Snapshot:
    """Store the work tree under ``roots`` as a tree, reusing index entries for clean files.

    The index's tree is written by libgit2 (as ``git write-tree``), and only the files
    ``git status`` finds changed are read; an index with conflicts is read entry by entry.
    """
    index = gitindex.current(repo)
    indexed = _index_tree(repo, index, roots)
    entries: dict[str, Entry | None] = {} if indexed is not None else _index_entries(index, roots)
    flags_by_path = status(repo, roots)
    top = Path(workdir(repo))
    for path, flags in flags_by_path.items():
        if flags & FileStatus.WT_DELETED or (flags & FileStatus.INDEX_DELETED
                                             and not flags & FileStatus.WT_NEW):
            entries[path] = None
        if flags & _READ_FROM_DISK:
            entries[path] = read_file(repo, top, path)
    if indexed is not None:
        tree = update_tree(repo, indexed, entries)
    else:
        tree = update_tree(repo, None, {p: e for p, e in entries.items() if e is not None})
    uncommitted = tuple(sorted(p for p, f in flags_by_path.items() if f & _DIRTY))
    untracked = tuple(sorted(p for p, f in flags_by_path.items()
                             if f & FileStatus.WT_NEW and not f & _DIRTY))
    unstaged = tuple(sorted(p for p, f in flags_by_path.items() if f & UNSTAGED))
    return Snapshot(tree, uncommitted, untracked, unstaged)


def _index_tree(repo: pygit2.Repository, index: pygit2.Index,
                roots: Sequence[str]) -> str | None:
    """The index's files under ``roots`` as a tree, written in C; None while it has conflicts
    (libgit2 writes no tree then)."""
    if index.conflicts is not None:
        return None
    written = repo.get(index.write_tree(repo))
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
    """What turns tree ``old`` into tree ``new`` under ``roots`` (None: an empty tree)."""
    empty = empty_tree(repo)
    changes: list[Change] = []
    for root in roots:
        before = _subtree(repo, old, root) or empty
        after = _subtree(repo, new, root) or empty
        if before == after:
            continue
        diff = repo.get(before).diff_to_tree(repo.get(after))  # type: ignore[union-attr]
        for delta in diff.deltas:
            if delta.status == pygit2.enums.DeltaStatus.DELETED:
                changes.append(Change(f"{root}/{delta.old_file.path}", None))
            else:
                changes.append(Change(f"{root}/{delta.new_file.path}",
                                      Entry(int(delta.new_file.mode), str(delta.new_file.id))))
    return changes


def _subtree(repo: pygit2.Repository, tree: str | None, path: str) -> str | None:
    if tree is None:
        return None
    try:
        found = repo.get(tree)[path]  # type: ignore[index]
    except KeyError:
        return None
    return str(found.id) if found.filemode == 0o040000 else None


def write_changes(repo: pygit2.Repository, changes: Iterable[Change], roots: Sequence[str],
                  progress: Callable[[int], None] | None = None,
                  read: Callable[[str], Data] | None = None) -> WriteReport:
    """Make the work tree match ``changes``: removals and pruning first, then writes.

    ``read`` gives a blob's bytes by id (default: from the object database); a caller that
    still holds the content passes it from memory rather than inflating the object again,
    as one ``bytes`` or as parts written one after the other (never joined).
    """
    read = read or (lambda oid: read_blob(repo, oid))
    changes = list(changes)
    for change in changes:
        if not under(change.path, roots) or ".." in change.path.split("/"):
            raise GitError(f"{shown_path(change.path)}: outside the targets ({', '.join(roots)}); "
                           "refusing to write it")
    report = WriteReport()
    with _Folders(Path(workdir(repo))) as folders:
        emptied: set[str] = set()
        for change in changes:
            if change.entry is None and folders.remove_file(change.path):
                report.removed.append(change.path)
                emptied.add(change.path.rpartition("/")[0])
            if progress is not None and change.entry is None:
                progress(1)
        folders.prune(emptied, roots)
        for change in changes:
            if change.entry is not None:
                folders.write_file(change.path, change.entry.mode, read(change.entry.oid))
                report.written.append(change.path)
                if progress is not None:
                    progress(1)
    return report


def workdir(repo: pygit2.Repository) -> str:
    if repo.workdir is None:
        raise GitError(f"{repo.path}: is a bare repository; simapp-sync needs a work tree")
    return str(repo.workdir)


_counter = itertools.count()


class _Folders:
    """Directory descriptors opened one component at a time, never through a symlink."""

    def __init__(self, top: Path) -> None:
        self.fds: dict[str, int] = {"": os.open(top, os.O_RDONLY | os.O_DIRECTORY)}

    def __enter__(self) -> _Folders:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def folder(self, path: str, create: bool) -> int | None:
        if path in self.fds:
            return self.fds[path]
        parent, _, name = path.rpartition("/")
        parent_fd = self.folder(parent, create)
        if parent_fd is None:
            return None
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                return None
            os.mkdir(name, 0o777, dir_fd=parent_fd)
            fd = os.open(name, flags, dir_fd=parent_fd)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                if not create:
                    return None
                raise GitError(f"{shown_path(path)}: is a symlink or a file where a folder is "
                               "needed; refusing to write through it",
                               hint="remove it (or restore it with git) and run again") from None
            raise
        self.fds[path] = fd
        return fd

    def remove_file(self, path: str) -> bool:
        parent, _, name = path.rpartition("/")
        fd = self.folder(parent, create=False)
        if fd is None:
            return False
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(info.st_mode):
            return False  # not a file we wrote: leave it alone
        with disk_faults("removing", path):
            os.unlink(name, dir_fd=fd)
        return True

    def prune(self, folders: set[str], roots: Sequence[str]) -> None:
        """Remove folders left empty, deepest first, never above a root."""
        for path in sorted(folders, key=lambda item: item.count("/"), reverse=True):
            while path and under(path, roots):
                parent, _, name = path.rpartition("/")
                parent_fd = self.folder(parent, create=False)
                if parent_fd is None:
                    break
                try:
                    os.rmdir(name, dir_fd=parent_fd)
                except OSError:
                    break  # not empty, or gone already
                self._forget(path)
                path = parent

    def _forget(self, path: str) -> None:
        for key in [key for key in self.fds if key == path or key.startswith(path + "/")]:
            os.close(self.fds.pop(key))

    def write_file(self, path: str, mode: int, data: Data) -> None:
        """Write ``path`` under a temporary name, then rename it into place; a disk fault is a
        ``DiskFault`` naming ``path``, the temporary file removed."""
        parent, _, name = path.rpartition("/")
        with disk_faults("writing", path):
            fd = self.folder(parent, create=True)
        assert fd is not None
        temp = f".{name[:180]}.{os.getpid()}.{next(_counter)}{TEMP_SUFFIX}"
        try:
            with disk_faults("writing", path):
                if mode == MODE_SYMLINK:
                    os.symlink(os.fsdecode(data if isinstance(data, bytes) else b"".join(data)),
                               temp, dir_fd=fd)
                else:
                    permissions = 0o777 if mode == MODE_EXECUTABLE else 0o666
                    out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                  | os.O_CLOEXEC, permissions, dir_fd=fd)
                    with os.fdopen(out, "wb") as handle:
                        handle.writelines((data,) if isinstance(data, bytes) else data)
                self._rename(temp, name, fd, path)
        except BaseException:
            with contextlib.suppress(OSError):  # gone, or the folder is read-only
                os.unlink(temp, dir_fd=fd)
            raise

    def _rename(self, temp: str, name: str, fd: int, path: str) -> None:
        try:
            os.rename(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
            return
        except OSError as error:
            if error.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                raise
        try:
            os.rmdir(name, dir_fd=fd)  # an empty folder where the file goes
        except OSError:
            raise GitError(f"{shown_path(path)}: a folder with other files is in the way; "
                           "refusing to replace it",
                           hint="move those files away and run again") from None
        self._forget(path)
        os.rename(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
