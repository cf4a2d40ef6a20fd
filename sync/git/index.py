"""The git index: stage what was written, record conflicts as unmerged entries.

Unmerged entries (stage 1 base, 2 ours, 3 theirs) are what ``git status`` reports as "both
modified", what ``git diff`` shows as a combined diff and what ``git mergetool`` opens.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from sync.errors import disk_faults
from sync.git.trees import Entry


@dataclass(frozen=True)
class Unmerged:
    """One conflicted path: the three sides (None when a side has no file)."""

    path: str
    base: Entry | None
    ours: Entry | None
    theirs: Entry | None


def stage(repo: pygit2.Repository, written: Iterable[str], removed: Iterable[str]) -> None:
    """Update the index from the work tree for ``written`` paths; drop ``removed`` ones."""
    index = current(repo)
    for path in removed:
        _drop(index, path)
    for path in written:
        _drop_conflict(index, path)
        index.add(path)  # reads the file: the entry gets real stat data, so status stays fast
    _write(repo, index)


def stage_known(repo: pygit2.Repository, written: Iterable[tuple[str, Entry]],
                removed: Iterable[str], progress: Callable[[int], None] | None = None) -> None:
    """Stage files just written from blobs whose id and mode are known; drop ``removed``.

    Each entry is built from the id and mode given and an ``lstat`` of the file: nothing is
    read, hashed or compressed again (``index.add(path)`` would do all three). The caller
    guarantees that each file holds exactly that blob. ``progress`` gets counts of paths done
    (removals at once, then written files 256 at a time).
    """
    from pygit2._libgit2 import lib as C  # noqa: N812 - libgit2's own name
    from pygit2.errors import check_error

    index = current(repo)
    gone = 0
    for path in removed:
        _drop(index, path)
        gone += 1
    if progress is not None and gone:
        progress(gone)
    top = Path(str(repo.workdir))
    done = 0
    for path, entry in written:
        _drop_conflict(index, path)
        info = os.lstat(top / path)
        centry, keep = pygit2.IndexEntry(path, pygit2.Oid(hex=entry.oid),
                                         pygit2.enums.FileMode(entry.mode))._to_c()
        centry.ctime.seconds, centry.ctime.nanoseconds = int(info.st_ctime), \
            info.st_ctime_ns % 1_000_000_000
        centry.mtime.seconds, centry.mtime.nanoseconds = int(info.st_mtime), \
            info.st_mtime_ns % 1_000_000_000
        centry.ino = info.st_ino & 0xFFFFFFFF  # dev stays 0, as libgit2 records it
        centry.uid, centry.gid = info.st_uid, info.st_gid
        centry.file_size = info.st_size & 0xFFFFFFFF
        check_error(C.git_index_add(index._index, centry))
        del keep
        done += 1
        if progress is not None and done % 256 == 0:
            progress(256)
    _write(repo, index)
    if progress is not None and done % 256:
        progress(done % 256)


def record_conflicts(repo: pygit2.Repository, conflicts: Iterable[Unmerged]) -> None:
    """Replace each path's entry by unmerged stages 1/2/3.

    The index's tree cache is completed first (as ``git write-tree`` does) and written with
    it: the conflicts invalidate only their own folders, so what reads the index as a tree
    after the maintainer's ``git add`` (``--continue``'s snapshot) rebuilds those few folders,
    not every folder the rebase staged files into.
    """
    index = current(repo)
    if index.conflicts is None:
        index.write_tree()
    for conflict in conflicts:
        _drop(index, conflict.path)
        index.add_conflict(  # a side without a file is None (pygit2's stubs say otherwise)
            _entry(conflict.path, conflict.base),  # type: ignore[arg-type]
            _entry(conflict.path, conflict.ours),  # type: ignore[arg-type]
            _entry(conflict.path, conflict.theirs))
    _write(repo, index)


def tracked_paths(repo: pygit2.Repository) -> set[str]:
    """Every path the index has an entry for (``git ls-files``)."""
    index = current(repo)
    return {entry.path for entry in index}


def entries(repo: pygit2.Repository, roots: Sequence[str]) -> dict[str, Entry]:
    """The merged (stage 0) entries under ``roots``: what the index holds for them."""
    index = current(repo)
    return {entry.path: Entry(int(entry.mode), str(entry.id)) for entry in index
            if any(entry.path == root or entry.path.startswith(root + "/") for root in roots)}


def entries_at(repo: pygit2.Repository, paths: Iterable[str]) -> dict[str, Entry]:
    """The merged (stage 0) entries of ``paths`` that have one, looked up one by one."""
    index = current(repo)
    found: dict[str, Entry] = {}
    for path in paths:
        try:
            entry = index[path]  # stage 0 only
        except KeyError:
            continue
        found[path] = Entry(int(entry.mode), str(entry.id))
    return found


def unmerged_paths(repo: pygit2.Repository) -> set[str]:
    """Paths with unmerged entries."""
    index = current(repo)
    conflicts = index.conflicts
    if conflicts is None:
        return set()
    return {next(side.path for side in sides if side is not None) for sides in conflicts}


def save(repo: pygit2.Repository, destination: Path) -> bool:
    """Copy the index file byte for byte; False when there is none."""
    source = Path(repo.path) / "index"
    if not source.exists():
        return False
    temporary = destination.with_name(destination.name + ".tmp")
    _copy(source, temporary, destination)
    return True


def restore(repo: pygit2.Repository, saved: Path | None) -> None:
    """Put back an index saved by ``save`` (None: there was no index)."""
    target = Path(repo.path) / "index"
    if saved is None:
        target.unlink(missing_ok=True)
        return
    _copy(saved, Path(repo.path) / "index.simapp-sync.tmp", target)


def _copy(source: Path, temporary: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through ``temporary`` (removed when that fails)."""
    try:
        with disk_faults("writing", target):
            shutil.copyfile(source, temporary)
            os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def current(repo: pygit2.Repository) -> pygit2.Index:
    """The repository's index as its file holds it, read again only when the file changed
    since libgit2 last read or wrote it (its checksum tells): a rebase reads the index at
    several steps, and a large one takes milliseconds each time."""
    index = repo.index
    index.read(False)
    return index


def _write(repo: pygit2.Repository, index: pygit2.Index) -> None:
    """Write the index (libgit2 writes ``index.lock`` and renames it; gone on failure)."""
    with disk_faults("writing", Path(repo.path) / "index"):
        index.write()


def _entry(path: str, entry: Entry | None) -> pygit2.IndexEntry | None:
    if entry is None:
        return None
    return pygit2.IndexEntry(path, pygit2.Oid(hex=entry.oid), pygit2.enums.FileMode(entry.mode))


def _drop(index: pygit2.Index, path: str) -> None:
    _drop_conflict(index, path)
    if path in index:
        index.remove(path)


def _drop_conflict(index: pygit2.Index, path: str) -> None:
    conflicts = index.conflicts
    if conflicts is not None and path in conflicts:
        del conflicts[path]
