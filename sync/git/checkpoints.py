"""The flattener's per-layer checkpoints, kept in the repository's own object database.

Each checkpoint is a ref ``refs/simapp-sync/layers/<key>`` to a tree holding ``state`` (the
flattener's JSON state after a chain of layers) and ``keep`` (a tree naming every blob that
state refers to, so that ``git gc`` keeps them while the ref exists). Nothing here touches the
work tree, the index, HEAD or a branch; deleting the refs forgets everything.

States are written by ``commit()``, after the blob writer has flushed: a tree may only name
objects that are on disk. After a pull only the checkpoints it used or wrote are kept, so the
cache holds one image's chain of layers, whatever the number of pulls.

Nothing read back is taken on trust (``CacheError``, which the flattener turns into a warning
and a read of the layers): the checkpoint must be a tree of exactly ``keep`` and ``state``; the
state blob is read whole and hashed again against its id (libgit2's own check is off, see
``sync.git``); every blob the state names must be in ``keep`` and in the database as a blob of
the size the state records (its header is read, not its content: hashing the whole cache on
every pull would cost as much as reading the layers). A blob found damaged is handed to
``distrust``, so that the blob writer writes it again when the layers are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pygit2

from sync.errors import CacheError, disk_faults
from sync.git import loose
from sync.git.trees import write_blob

REF_PREFIX = "refs/simapp-sync/layers/"


class GitCheckpoints:
    """A ``Checkpoints`` store in ``repo``; ``read=False`` ignores what is saved (a cold pull)."""

    def __init__(self, repo: pygit2.Repository, *, read: bool = True,
                 distrust: Callable[[Iterable[str]], None] = lambda _oids: None) -> None:
        self.repo = repo
        self.read = read
        self.distrust = distrust
        self.pending: dict[str, tuple[bytes, list[str]]] = {}
        self.used: set[str] = set()
        self.keeps: dict[str, pygit2.Oid] = {}  # key -> its keep tree, for ``verify``
        self.suspect: set[pygit2.Oid] = set()  # objects of checkpoints that failed their checks

    def load(self, key: str) -> bytes | None:
        """The state saved under ``key``, None when there is none; ``CacheError`` when the
        checkpoint is damaged or not one of ours."""
        if not self.read:
            return None
        reference = self.repo.references.get(REF_PREFIX + key)
        if reference is None:
            return None
        where = f"checkpoint {key[:12]}"
        target = reference.target
        if not isinstance(target, pygit2.Oid):
            raise CacheError(f"{where} is a symbolic ref (to {target})")
        seen = [target]
        try:
            _read_verified(self.repo, target, where)
            tree = self.repo.get(target)
            entries = ({str(entry.name): entry for entry in tree}
                       if isinstance(tree, pygit2.Tree) else {})
            if (sorted(entries) != ["keep", "state"]
                    or entries["keep"].filemode != pygit2.enums.FileMode.TREE
                    or entries["state"].filemode != pygit2.enums.FileMode.BLOB):
                raise CacheError(f"{where} ({REF_PREFIX}{key[:12]}...) is not a tree of a "
                                 "state and the blobs it keeps")
            seen.append(entries["state"].id)
            kind, state = _read_verified(self.repo, entries["state"].id, f"{where}: its state")
            if kind != "blob":
                raise CacheError(f"{where}: its state is not a blob")
        except CacheError:
            self.suspect.update(seen)
            raise
        except (pygit2.GitError, ValueError, KeyError) as error:
            self.suspect.update(seen)
            raise CacheError(f"{where} cannot be read ({error})") from None
        self.keeps[key] = entries["keep"].id
        self.used.add(key)
        return state

    def verify(self, key: str, blobs: dict[str, int]) -> None:
        """Every blob the state under ``key`` names is kept by it and in the database, a blob
        of the recorded size; else ``CacheError`` (the damaged ones are distrusted)."""
        where = f"checkpoint {key[:12]}"
        try:
            _read_verified(self.repo, self.keeps[key], f"{where}: its keep tree")
            keep = self.repo.get(self.keeps[key])
            kept = ({str(entry.id) for entry in keep} if isinstance(keep, pygit2.Tree)
                    else set())
        except CacheError:
            self.suspect.add(self.keeps[key])
            raise
        except (pygit2.GitError, ValueError, KeyError) as error:
            self.suspect.add(self.keeps[key])
            raise CacheError(f"{where}: its keep tree cannot be read ({error})") from None
        problems: list[str] = []
        damaged: list[str] = []
        for oid, size in blobs.items():
            if oid not in kept:
                problems.append(f"{where} names the blob {oid} but does not keep it")
                continue
            try:
                kind, actual = loose.object_header(self.repo, oid)
            except loose.DamagedObject:
                problems.append(f"the blob {oid} that {where} names is missing or unreadable")
                damaged.append(oid)
                continue
            if kind != "blob" or actual != size:
                problems.append(f"the blob {oid} that {where} names is damaged (a {kind} of "
                                f"{actual} bytes, not a blob of {size})")
                damaged.append(oid)
        if damaged:
            self.distrust(damaged)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise CacheError(problems[0] + more)

    def save(self, key: str, state: bytes, oids: list[str]) -> None:
        """Queue ``state``; ``commit()`` writes it once its blobs are on disk."""
        self.pending[key] = (state, oids)

    def commit(self, *, prune: bool = True) -> int:
        """Write the queued states; with ``prune``, drop every other checkpoint.

        Returns the number of checkpoints written. On failure (a full disk) the checkpoint
        refs are put back as they were before the call, and the failure is raised.
        """
        before = dict(_checkpoint_refs(self.repo))
        try:
            with disk_faults("updating", Path(self.repo.path) / REF_PREFIX):
                return self._commit(prune)
        except BaseException:
            _restore(self.repo, before)
            raise

    def _commit(self, prune: bool) -> int:
        if self.pending:
            _drop_damaged(self.repo, self.suspect)  # else git would keep them, as it has them
            keep = self._keep_tree({oid for _, oids in self.pending.values() for oid in oids})
            for key, (state, _) in self.pending.items():
                builder = self.repo.TreeBuilder()
                builder.insert("keep", keep, pygit2.enums.FileMode.TREE)
                builder.insert("state", pygit2.Oid(hex=write_blob(self.repo, state)),
                               pygit2.enums.FileMode.BLOB)  # says why when the disk is full
                self.repo.references.create(REF_PREFIX + key, builder.write(), force=True)
        written = len(self.pending)
        if prune:
            prune_checkpoints(self.repo, keep=self.used | set(self.pending))
        self.pending.clear()
        return written

    def _keep_tree(self, oids: set[str]) -> pygit2.Oid:
        builder = self.repo.TreeBuilder()
        for oid in sorted(oids):
            builder.insert(oid, pygit2.Oid(hex=oid), pygit2.enums.FileMode.BLOB)
        return builder.write()


def prune_checkpoints(repo: pygit2.Repository, keep: set[str] | frozenset[str] = frozenset()
                      ) -> int:
    """Delete every checkpoint ref but ``keep``; return how many were deleted."""
    deleted = 0
    for name in list(repo.references):
        if name.startswith(REF_PREFIX) and name[len(REF_PREFIX):] not in keep:
            repo.references.delete(name)
            deleted += 1
    return deleted


def _checkpoint_refs(repo: pygit2.Repository) -> list[tuple[str, pygit2.Oid | str]]:
    return [(name, repo.references[name].target) for name in list(repo.references)
            if name.startswith(REF_PREFIX)]


def _restore(repo: pygit2.Repository, before: dict[str, pygit2.Oid | str]) -> None:
    """Put the checkpoint refs back to ``before``: new ones deleted first (that frees space),
    then changed or deleted ones set again."""
    now = dict(_checkpoint_refs(repo))
    for name in now.keys() - before.keys():
        repo.references.delete(name)
    for name, target in before.items():
        if now.get(name) != target:
            repo.references.create(name, target, force=True)


def _read_verified(repo: pygit2.Repository, oid: pygit2.Oid, where: str) -> tuple[str, bytes]:
    """An object's type and content, checked against its id (edited or cut short on disk)."""
    try:
        return loose.read_verified(repo, str(oid))
    except loose.DamagedObject as error:
        raise CacheError(f"{where} is damaged ({error})") from None


def _drop_damaged(repo: pygit2.Repository, oids: set[pygit2.Oid]) -> None:
    """Remove the loose objects among ``oids`` whose content is not what their name says, so
    that writing the genuine object again replaces them (git skips objects it already has)."""
    for oid in oids:
        path = Path(repo.path) / "objects" / str(oid)[:2] / str(oid)[2:]
        if not path.exists():
            continue
        try:
            loose.read_verified(repo, str(oid))
        except loose.DamagedObject:
            path.unlink(missing_ok=True)
