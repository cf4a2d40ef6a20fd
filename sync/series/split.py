"""Patch size limits: split a change across patches so each stays under a size a forge accepts.

GitHub refuses files over 100 MiB and warns above 50 MiB. A change is cut, between files, into
parts whose estimated patch size stays under the limit; a single file over the limit gets a part
of its own (with a warning); a file over 100 MiB is refused: no patch can carry it. So is a
binary file over the binary patch limit (``binary.max_binary_size``): every reader of the series
would refuse its patch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sync.errors import ConfigError, PatchError
from sync.git import Repository, worktree
from sync.git.trees import blob_is_binary, blob_size
from sync.series.binary import over_cap
from sync.sizes import parse_size

MIB = 1024 * 1024
DEFAULT_MAX_PATCH_SIZE = 50 * MIB
HARD_LIMIT = 100 * MIB  # GitHub refuses a file larger than this


def parse_patch_size(text: str) -> int:
    """``50M``, ``512K``, ``1G`` or bytes -> bytes (binary units, as git and GitHub count)."""
    try:
        return parse_size(text)
    except ValueError:
        raise ConfigError(f"--max-patch-size {text!r}: not a size", hint="e.g. 50M, 512K, 1G"
                          ) from None


def change_size(repo: Repository, change: worktree.Change) -> int:
    """The size of the file a change writes (the bytes its patch must carry, roughly)."""
    return blob_size(repo, change.entry.oid) if change.entry is not None else 0


def split_changes(repo: Repository, changes: Sequence[worktree.Change], max_size: int, *,
                  warn: Callable[[str], None] = lambda _m: None) -> list[list[worktree.Change]]:
    """``changes`` in consecutive parts of at most ``max_size`` bytes each (one part if small)."""
    parts: list[list[worktree.Change]] = []
    current: list[worktree.Change] = []
    total = 0
    for change in changes:
        size = change_size(repo, change)
        if size > HARD_LIMIT:
            raise PatchError(
                f"{change.path}: {size / MIB:.1f} MiB, over the 100 MiB GitHub accepts in one "
                "file; no patch can carry it, nothing was written",
                hint="exclude it in upstream-manifest.yaml (`exclude:` under its path), or "
                     "track it with Git LFS outside the targets")
        problem = over_cap(size, "binary content")
        if (problem is not None and change.entry is not None
                and blob_is_binary(repo, change.entry.oid)):  # never a patch no one can read
            raise PatchError(f"{change.path}: {problem}; nothing was written",
                             hint="exclude it in upstream-manifest.yaml, or raise the limit")
        if size > max_size:
            warn(f"{change.path}: {size / MIB:.1f} MiB, over the patch size limit "
                 f"({max_size / MIB:.0f} MiB): it gets a patch of its own")
            if current:
                parts.append(current)
            parts.append([change])
            current, total = [], 0
            continue
        if current and total + size > max_size:
            parts.append(current)
            current, total = [], 0
        current.append(change)
        total += size
    if current or not parts:
        parts.append(current)
    return parts
