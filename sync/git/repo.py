"""Repositories, refs and commits.

Refs move last and only by compare-and-swap: ``move_branch`` locks the ref, checks that it still
points where the caller read it at the start, and only then moves it, with a reflog entry.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pygit2

from sync.errors import GitError, as_disk_fault, disk_faults

ZERO_OID = "0" * 40


@dataclass(frozen=True)
class Identity:
    """A git author or committer."""

    name: str
    email: str


def open_repository(start: Path) -> pygit2.Repository:
    """The repository containing ``start``; a GitError saying how to fix it otherwise."""
    found = pygit2.discover_repository(str(start))
    if found is None:
        raise GitError(f"{start.resolve()}: not inside a git repository",
                       hint="run `git init` (or cd into your simapp checkout) first")
    repo = pygit2.Repository(found)
    if repo.is_bare:
        raise GitError(f"{found}: is a bare repository; simapp-sync needs a work tree")
    return repo


def init_repository(path: Path, initial_head: str = "main") -> pygit2.Repository:
    """A new, empty repository with a work tree at ``path``."""
    return pygit2.init_repository(str(path), initial_head=initial_head)


def work_tree(repo: pygit2.Repository) -> Path:
    """The top of the work tree."""
    assert repo.workdir is not None
    return Path(repo.workdir)


def git_dir(repo: pygit2.Repository) -> Path:
    """The repository's ``.git`` folder (where simapp-sync keeps its own state)."""
    return Path(repo.path)


def find_commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit | None:
    """The commit revision ``rev`` (a branch, tag, id or expression like ``HEAD~2``) names."""
    try:
        found = repo.revparse_single(rev).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return None
    return found if isinstance(found, pygit2.Commit) else None


def commit_by_id(repo: pygit2.Repository, oid: str) -> pygit2.Commit | None:
    """The commit with id ``oid``; None when this repository has no such commit."""
    try:
        found = repo.get(oid)
    except ValueError:  # not a valid id
        return None
    return found if isinstance(found, pygit2.Commit) else None


def head_commit(repo: pygit2.Repository) -> pygit2.Commit | None:
    """The commit HEAD points at; None on an unborn branch (nothing committed yet)."""
    if repo.head_is_unborn:
        return None
    try:
        found = repo.head.peel(pygit2.Commit)
    except pygit2.GitError:
        return None
    return found if isinstance(found, pygit2.Commit) else None


def first_parent(commit: pygit2.Commit) -> pygit2.Commit | None:
    """The first parent of ``commit`` (None for a root commit)."""
    parents = commit.parents
    return parents[0] if parents else None


@dataclass(frozen=True)
class DiffStats:
    """What ``git diff --shortstat`` says between two trees."""

    files_changed: int
    insertions: int
    deletions: int


def diff_stats(repo: pygit2.Repository, old_tree: str, new_tree: str) -> DiffStats:
    """Files changed, lines inserted and deleted from tree ``old_tree`` to tree ``new_tree``."""
    old, new = repo.get(old_tree), repo.get(new_tree)
    assert isinstance(old, pygit2.Tree) and isinstance(new, pygit2.Tree)
    stats = old.diff_to_tree(new).stats
    return DiffStats(stats.files_changed, stats.insertions, stats.deletions)


def branch_ref(branch: str) -> str:
    return branch if branch.startswith("refs/") else f"refs/heads/{branch}"


def branch_tip(repo: pygit2.Repository, branch: str) -> pygit2.Commit | None:
    """The commit ``branch`` points at, or None when it does not exist yet."""
    try:
        reference = repo.references.get(branch_ref(branch))
    except pygit2.GitError as error:
        raise GitError(f"cannot read branch {branch!r}: {error}") from None
    if reference is None:
        return None
    commit = repo.get(reference.resolve().target)
    if not isinstance(commit, pygit2.Commit):
        raise GitError(f"branch {branch!r} does not point at a commit")
    return commit


def checked_out_in(repo: pygit2.Repository, branch: str) -> Path | None:
    """The work tree (this one or a linked one) whose HEAD is ``branch``, if any."""
    name = branch_ref(branch)
    candidates = [repo] + [pygit2.Repository(repo.lookup_worktree(worktree).path)
                           for worktree in repo.list_worktrees()]
    for candidate in candidates:
        try:
            head = candidate.references.get("HEAD")
        except pygit2.GitError:
            continue
        if head is not None and head.type == pygit2.enums.ReferenceType.SYMBOLIC \
                and head.target == name and candidate.workdir:
            return Path(candidate.workdir)
    return None


def signature(repo: pygit2.Repository) -> pygit2.Signature:
    """The user's identity from git config or GIT_* variables, else a neutral tool identity."""
    name = os.environ.get("GIT_COMMITTER_NAME")
    email = os.environ.get("GIT_COMMITTER_EMAIL")
    if not (name and email):
        try:
            default = repo.default_signature
            name, email = name or default.name, email or default.email
        except (KeyError, pygit2.GitError):
            name, email = name or "simapp-sync", email or "simapp-sync@localhost"
    return pygit2.Signature(name, email, int(time.time()), 0)


def create_commit(repo: pygit2.Repository, tree: str, parents: list[str], message: str) -> str:
    """Write a commit object without moving any ref; returns its id."""
    who = signature(repo)
    with disk_faults("writing git objects to", git_dir(repo) / "objects"):
        oid = repo.create_commit(None, who, who, message, pygit2.Oid(hex=tree),
                                 [pygit2.Oid(hex=parent) for parent in parents])
    return str(oid)


def move_branch(repo: pygit2.Repository, branch: str, new: str, expected_old: str | None,
                reflog_message: str) -> None:
    """Point ``branch`` at ``new`` if and only if it still points at ``expected_old``.

    ``expected_old=None`` means the branch must not exist yet. Raises GitError when someone
    else moved the branch in the meantime; the branch is then left as they left it.
    """
    name = branch_ref(branch)
    who = signature(repo)
    repo.set_ident(who.name, who.email)  # the reflog entry's identity
    try:
        with repo.transaction() as transaction:
            transaction.lock_ref(name)
            current = repo.references.get(name)
            current_target = str(current.target) if current is not None else None
            if current_target != expected_old:
                raise GitError(
                    f"branch {branch!r} moved while we worked "
                    f"(expected {expected_old or 'no branch'}, found {current_target}); "
                    "nothing was changed", hint="run the command again")
            transaction.set_target(name, new, message=reflog_message)
    except (pygit2.GitError, OSError) as error:
        fault = as_disk_fault(error, "updating", name)
        if fault is not None:  # the transaction wrote nothing: the ref lock is gone with it
            raise fault from None
        if not isinstance(error, pygit2.GitError):
            raise
        raise GitError(f"cannot update branch {branch!r}: {error}",
                       hint="another git process may hold the ref lock; retry") from None


def put_back_branch(repo: pygit2.Repository, branch: str, moved_to: str,
                    old: str | None) -> None:
    """Undo ``move_branch(branch, moved_to, old)``: back to ``old``, or deleted when it was
    created (its reflog with it), unless someone else moved it since."""
    name = branch_ref(branch)
    current = repo.references.get(name)
    if current is None or str(current.target) != moved_to:
        return
    if old is None:
        current.delete()
    else:
        move_branch(repo, branch, old, moved_to, reflog_message="simapp-sync: undo a failed pull")


def trailers(message: str) -> dict[str, str]:
    """The ``Key: value`` trailer block at the end of a commit message."""
    lines = message.rstrip("\n").split("\n")
    found: dict[str, str] = {}
    for line in reversed(lines):
        if not line.strip():
            break
        key, sep, value = line.partition(": ")
        if not sep or " " in key:
            break
        found.setdefault(key, value.strip())
    return found
