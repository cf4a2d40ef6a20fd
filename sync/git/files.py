"""Files written into the work tree: folders opened one component at a time, never through a
symlink; each file under a temporary name, renamed into place; several files at once.

Writing 800 MB of upstream files is mostly inflating objects and the kernel's work of creating
and filling files, all of which release the GIL: a few threads write while this one renames
each file into place in order, so that files appear exactly as when written one by one.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import itertools
import os
import re
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pygit2

from sync.errors import GitError, disk_faults
from sync.git.loose import DamagedObject, copy_loose_blob
from sync.git.trees import read_blob
from sync.untrusted import shown_path

MODE_EXECUTABLE = 0o100755
MODE_SYMLINK = 0o120000
TEMP_SUFFIX = ".simapp-sync-tmp"
TEMPORARY = re.compile(r"\..*\.[0-9]+\.[0-9]+" + re.escape(TEMP_SUFFIX), re.DOTALL)  # its names

Data = bytes | Sequence[bytes | memoryview]  # a file's content, whole or in parts


def under(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one."""
    return any(path == root or path.startswith(root + "/") for root in roots)


def _cores() -> int:
    """The CPUs this process may run on (its affinity: a container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 2


# files written at once, one per core from 2 to 4: inflating, writing and renaming release the
# GIL, but more writers than cores only contend for it and for their folder's lock (on 2 cores,
# writing the initial 790 MB tree: 4 writers 6.2 s, 2 writers 5.5 s, mean of 7 pairs)
WRITERS = max(2, min(4, _cores()))
WINDOW = 4 * WRITERS  # files queued at most: progress follows the writes


def write_all(folders: Folders, writes: Sequence[tuple[str, int, Data | Stored]],
              placed: Callable[[str], None], ordered: bool = True,
              wrote: Callable[[str, int], None] | None = None) -> None:
    """Write files (path, git mode, content) several at once, in threads; ``placed(path)`` for
    each, in order, once it is in place.

    ``ordered``: each file is renamed into place in this thread, in order, so that a file
    appears only once every file before it has, as when writing one by one (a caller that
    writes last what names the others relies on it); otherwise each thread renames its own.

    A fault in one of several files being written may be caused by another (a disk filled by
    the two together): the files written alongside it are taken back out, and from the first
    file that failed the rest are written one at a time, so the fault raised names a file that
    could not be written on its own after the ones before it.

    ``wrote(path, bytes so far)`` is told, from the writing thread, every 8 MiB of a large
    file inflated from the database: one 100 MB file is otherwise a long silent stretch.
    """
    done = 0
    pending: collections.deque[tuple[str, Future[str]]] = collections.deque()

    def place_next() -> None:
        nonlocal done
        path, future = pending.popleft()
        temp = future.result()
        if ordered:
            folders.place(temp, path)
        done += 1
        placed(path)

    with ThreadPoolExecutor(WRITERS, thread_name_prefix="file-writer") as pool:
        try:
            for path, mode, data in writes:
                pending.append((path, pool.submit(folders.write_file, path, mode, data,
                                                  not ordered, wrote)))
                while len(pending) > WINDOW or (pending and pending[0][1].done()):
                    place_next()
            while pending:
                place_next()
            return
        except BaseException as error:
            pool.shutdown(wait=True, cancel_futures=True)
            for path, future in pending:  # written alongside the fault, not yet counted
                if not future.cancelled() and future.exception() is None:
                    if ordered:
                        folders.discard(future.result(), path)
                    else:  # placed by its thread: taken out again (it is written again below)
                        with contextlib.suppress(Exception):
                            folders.remove_file(path)
            if not isinstance(error, Exception):
                raise
    for path, mode, data in writes[done:]:  # after a fault: one at a time from the first
        folders.write_file(path, mode, data)
        placed(path)


@dataclass(frozen=True)
class Stored:
    """A blob written out from the object database: inflated from its loose object a block at
    a time as it is written (never whole in memory), read by libgit2 when packed."""

    repo: pygit2.Repository
    folders: tuple[str, ...]
    oid: str
    path: str  # the file it is written to, for the messages

    def write_to(self, out: BinaryIO, wrote: Callable[[int], None] | None = None) -> None:
        try:
            copied = copy_loose_blob(self.folders, self.oid, out, wrote)
        except DamagedObject as error:  # libgit2 would write it padded with zeros, or hang
            raise GitError(f"{shown_path(self.path)}: its content in the object database is "
                           f"damaged ({error})",
                           hint="`git fsck` lists what is damaged; restore it (from a clone or "
                           "a backup) and run again") from None
        if not copied:  # packed
            out.write(read_blob(self.repo, self.oid))


_counter = itertools.count()


class Folders:
    """Directory descriptors opened one component at a time, never through a symlink."""

    def __init__(self, top: Path) -> None:
        self.fds: dict[str, int] = {"": os.open(top, os.O_RDONLY | os.O_DIRECTORY)}
        self._lock = threading.RLock()  # writers in threads look folders up

    def __enter__(self) -> Folders:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def folder(self, path: str, create: bool) -> int | None:
        fd = self.fds.get(path)  # (one dict lookup: atomic) most folders are open already
        if fd is not None:
            return fd
        with self._lock:
            return self._folder(path, create)

    def _folder(self, path: str, create: bool) -> int | None:
        if path in self.fds:
            return self.fds[path]
        parent, _, name = path.rpartition("/")
        parent_fd = self._folder(parent, create)
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
        with self._lock:
            for key in [key for key in self.fds if key == path or key.startswith(path + "/")]:
                os.close(self.fds.pop(key))

    def write_file(self, path: str, mode: int, data: Data | Stored, place: bool = True,
                   wrote: Callable[[str, int], None] | None = None) -> str:
        """Write ``path`` under a temporary name, then rename it into place (or, ``place``
        False, leave that to ``place``); a disk fault is a ``DiskFault`` naming ``path``, the
        temporary file removed. Returns the temporary name. Safe in several threads at once."""
        parent, _, name = path.rpartition("/")
        with disk_faults("writing", path):
            fd = self.folder(parent, create=True)
        assert fd is not None
        temp = f".{name[:180]}.{os.getpid()}.{next(_counter)}{TEMP_SUFFIX}"
        try:
            with disk_faults("writing", path):
                if mode == MODE_SYMLINK:
                    assert not isinstance(data, Stored)
                    os.symlink(os.fsdecode(data if isinstance(data, bytes) else b"".join(data)),
                               temp, dir_fd=fd)
                else:
                    permissions = 0o777 if mode == MODE_EXECUTABLE else 0o666
                    out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                  | os.O_CLOEXEC, permissions, dir_fd=fd)
                    with os.fdopen(out, "wb") as handle:
                        if isinstance(data, Stored):
                            data.write_to(handle, None if wrote is None else
                                          lambda done: wrote(path, done))
                        else:
                            handle.writelines((data,) if isinstance(data, bytes) else data)
                if place:
                    self._rename(temp, name, fd, path)
        except BaseException:
            self.discard(temp, path)
            raise
        return temp

    def place(self, temp: str, path: str) -> None:
        """Rename a file ``write_file`` left under its temporary name into place."""
        parent, _, name = path.rpartition("/")
        fd = self.folder(parent, create=False)
        assert fd is not None
        try:
            with disk_faults("writing", path):
                self._rename(temp, name, fd, path)
        except BaseException:
            self.discard(temp, path)
            raise

    def discard(self, temp: str, path: str) -> None:
        """Remove a temporary file (quietly: gone already, or the folder is read-only)."""
        fd = self.fds.get(path.rpartition("/")[0])
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=fd)

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
