"""The flattener's per-layer checkpoints, kept in the repository's own object database.

Each checkpoint is a ref ``refs/simapp-sync/layers/<key>`` to a tree holding ``state`` (the
flattener's JSON state after a chain of layers) and ``keep`` (a tree naming every blob that
state refers to, so that ``git gc`` keeps them while the ref exists). Nothing here touches the
work tree, the index, HEAD or a branch; deleting the refs forgets everything.

States are written by ``commit()``, after the blob writer has flushed: a tree may only name
objects that are on disk. After a pull only the checkpoints it used or wrote are kept, so the
cache holds one image's chain of layers, whatever the number of pulls.
"""

from __future__ import annotations

import pygit2

REF_PREFIX = "refs/simapp-sync/layers/"


class GitCheckpoints:
    """A ``Checkpoints`` store in ``repo``; ``read=False`` ignores what is saved (a cold pull)."""

    def __init__(self, repo: pygit2.Repository, *, read: bool = True) -> None:
        self.repo = repo
        self.read = read
        self.pending: dict[str, tuple[bytes, list[str]]] = {}
        self.used: set[str] = set()

    def load(self, key: str) -> bytes | None:
        """The state saved under ``key``, or None."""
        if not self.read:
            return None
        reference = self.repo.references.get(REF_PREFIX + key)
        if reference is None:
            return None
        tree = self.repo.get(reference.target)
        if not isinstance(tree, pygit2.Tree) or "state" not in tree:
            return None  # not ours, or damaged: read the layers instead
        self.used.add(key)
        return bytes(self.repo[tree["state"].id].data)  # type: ignore[attr-defined]

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
            return self._commit(prune)
        except BaseException:
            _restore(self.repo, before)
            raise

    def _commit(self, prune: bool) -> int:
        if self.pending:
            keep = self._keep_tree({oid for _, oids in self.pending.values() for oid in oids})
            for key, (state, _) in self.pending.items():
                builder = self.repo.TreeBuilder()
                builder.insert("keep", keep, pygit2.enums.FileMode.TREE)
                builder.insert("state", self.repo.create_blob(state),
                               pygit2.enums.FileMode.BLOB)
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
