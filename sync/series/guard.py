"""What a rebase must never do to the maintainer's work, checked before it happens.

- Files under the targets that git does not track (notes, build output, a half-written file)
  are never deleted or overwritten: the writes of a stop, of the result, of ``--skip`` and of
  ``--abort`` leave them alone (``keep`` and ``without_kept``), and a write that would replace one
  is refused before anything is written (``refuse_overwrites``, in git's words).
- ``--continue`` takes what the index holds, as ``git rebase --continue`` does, and only once the
  conflict is really resolved (``refuse_unresolved``): no unmerged index entry, no conflict
  marker line that was not in the file before the stop (in the work tree or the index), no
  unstaged edit of a tracked file. New untracked files stay out of the patch and are named.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from sync.errors import ConflictError, GitError
from sync.git import Repository, worktree
from sync.git import index as gitindex
from sync.git.trees import Entry, TreeSource, read_blob
from sync.untrusted import shown_path

MARKERS = (b"<<<<<<< ", b"=======", b">>>>>>> ", b"||||||| ")
LISTED = 12


def marker_lines(data: bytes) -> set[bytes]:
    """The conflict-marker lines of ``data`` (``<<<<<<< ``, ``=======``, ``>>>>>>> ``...)."""
    if b"<<<<<<<" not in data and b"=======" not in data and b">>>>>>>" not in data:
        return set()
    return {line.rstrip(b"\r") for line in data.split(b"\n") if line.startswith(MARKERS)}


def new_markers(data: bytes, before: Iterable[bytes]) -> bool:
    """Whether ``data`` holds a marker line that none of the ``before`` texts held."""
    found = marker_lines(data)
    if not found:
        return False
    for text in before:
        found -= marker_lines(text)
    return bool(found)


def listing(paths: Iterable[str], limit: int = LISTED) -> str:
    ordered = sorted(paths)
    shown = ", ".join(map(shown_path, ordered[:limit]))
    return shown + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")


# --- untracked files ---------------------------------------------------------------------------
def keep(repo: Repository, snap: worktree.Snapshot, untracked_at_start: Iterable[str],
         written: Sequence[str | None]) -> set[str]:
    """The untracked paths no write may touch: those untracked when the rebase started, and
    those untracked now that the rebase did not write itself (its trees ``written``)."""
    kept = set(untracked_at_start)
    disk = TreeSource(repo, snap.tree)
    ours = [TreeSource(repo, tree) for tree in written if tree]
    for path in snap.untracked:
        if path not in kept and not any(
                source.entry(path) is not None and source.entry(path) == disk.entry(path)
                for source in ours):
            kept.add(path)
    return kept


def refuse_overwrites(changes: Sequence[worktree.Change], kept: set[str]) -> None:
    """Refuse (nothing written yet) when a write would replace an untracked file or folder."""
    if not kept:
        return
    folders = {path.rpartition("/")[0] for path in kept}
    parents = {prefix for path in folders for prefix in _prefixes(path)}
    in_the_way: set[str] = set()
    for change in changes:
        if change.entry is None:
            continue
        if change.path in kept or change.path in parents:
            in_the_way.update(p for p in kept if p == change.path
                              or p.startswith(change.path + "/"))
        in_the_way.update(prefix for prefix in _prefixes(change.path) if prefix in kept)
    if in_the_way:
        raise GitError("untracked working tree files would be overwritten by rebase-patches: "
                       + listing(in_the_way),
                       hint="move or remove them (nothing was written), then run the same "
                            "command again")


def without_kept(changes: Sequence[worktree.Change], kept: set[str]) -> list[worktree.Change]:
    """``changes`` minus the removals of kept untracked files (writes were refused before)."""
    return [change for change in changes if change.path not in kept]


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


# --- --continue --------------------------------------------------------------------------------
def refuse_unresolved(repo: Repository, targets: Sequence[str], files: Iterable[str],
                      before: dict[str, list[bytes]], resume: str,
                      unstaged: Sequence[str] | None = None) -> None:
    """Refuse ``--continue`` while the stopped patch is not resolved and staged (see module).

    ``unstaged``: the snapshot's unstaged paths, when one was just taken (else ``git status``
    is asked)."""
    unmerged = sorted(path for path in gitindex.unmerged_paths(repo)
                      if worktree.under(path, targets))
    if unmerged:
        raise ConflictError(f"unmerged paths: {listing(unmerged)}",
                            hint="fix the conflicts, mark each file resolved with `git add "
                                 f"PATH` (or `git rm PATH`), then run {resume} again "
                                 "(or --skip / --abort)")
    top = Path(worktree.workdir(repo))
    files = sorted(set(files))
    staged = gitindex.entries_at(repo, files)
    marked = []
    for path in files:
        texts = []
        entry = staged.get(path)
        if entry is not None and entry.mode != worktree.MODE_SYMLINK:
            texts.append(read_blob(repo, entry.oid))
        full = top / path
        if full.is_file() and not full.is_symlink():
            texts.append(full.read_bytes())
        if any(new_markers(text, before.get(path, ())) for text in texts):
            marked.append(path)
    if marked:
        raise ConflictError(f"still has conflict markers: {listing(marked)}",
                            hint="edit the files until no <<<<<<< / ======= / >>>>>>> lines "
                                 f"are left, `git add` them, then run {resume} again (or "
                                 "--skip / --abort)")
    if unstaged is None:
        flags = worktree.status(repo, targets)
        unstaged = [path for path, flag in flags.items() if flag & worktree.UNSTAGED]
    unstaged = [path for path in unstaged if worktree.under(path, targets)]
    if unstaged:
        raise ConflictError(f"unstaged changes: {listing(unstaged)}",
                            hint="`git add` them to make them part of the stopped patch, or "
                                 "`git restore` them to drop them (a separate change becomes "
                                 "its own patch after the rebase: `patches new`), then run "
                                 f"{resume} again")


def staged_tree(repo: Repository, targets: Sequence[str]) -> dict[str, Entry]:
    """The index's files under ``targets`` (what ``--continue`` takes as the resolution)."""
    return gitindex.entries(repo, targets)
