"""The one exception hierarchy of simapp-sync.

Every error a user can cause or meet is a ``SyncError``; the CLI catches it in one place and
maps ``exit_code`` to the process exit status: 2 for bad input or configuration (nothing was
written), 1 for conflicts, failed checks and disk faults.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# what the disk or the kernel refuses, whatever the input: a full disk or quota, a read-only
# filesystem, a file-size limit (RLIMIT_FSIZE, the filesystem's own), an I/O error
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO)
RETRY = ("free some space (or make the folder writable, or raise the file-size limit) and run "
         "the command again")


class SyncError(Exception):
    """Base of every expected failure. ``hint`` says what to do next."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(SyncError):
    """upstream-manifest.yaml (or another config file) is missing, malformed or inconsistent."""


class GitError(SyncError):
    """The git repository is missing, or a ref moved under us."""


class ImageError(SyncError):
    """The image cannot be fetched or read: engine down, not found, corrupt, digest mismatch."""


class TransferError(ImageError):
    """The image could not be fetched (network, registry answer): nothing about its content was
    refused, and a retry may succeed. A pull failing so keeps the layers it finished."""


class CacheError(SyncError):
    """A layer-cache checkpoint failed its checks (damaged, incomplete, or not the chain of
    layers it is filed under). The flattener catches it, warns, and reads the layers from the
    image instead: the cache is never an authority, the image's digests are."""


class UnsafeArchiveError(ImageError):
    """An archive entry tries to escape its destination or smuggle something into git."""


class PatchError(SyncError):
    """A patch series or patch file is malformed, or a patch cannot be applied as written."""


class RenderError(SyncError):
    """A template cannot be rendered: syntax error, undefined variable."""


class ConflictError(SyncError):
    """A patch did not apply and left conflicts for the maintainer to resolve."""

    exit_code = 1


class RebaseInProgress(SyncError):
    """A stopped ``rebase-patches`` must be finished (--continue, --skip) or undone (--abort)
    before a command that reads or writes the series, the targets or the images runs."""

    exit_code = 1


class WorkspaceBusy(SyncError):
    """Another simapp-sync command holds the checkout's writer lock."""

    exit_code = 1


class CheckFailed(SyncError):
    """A verification found a difference (drift, stale rendered file, unclean series)."""

    exit_code = 1


class BuildError(SyncError):
    """The Docker Engine is unreachable, or a build step or a push failed."""

    exit_code = 1


class DiskFault(SyncError):
    """Writing failed for a reason of the disk, not of the input: full, read-only, a file-size
    limit, a quota or an I/O error. Raised after the writer cleaned up: temporary files removed,
    refs never moved, what was written rolled back (or, when that failed too, the hint says how
    to finish it)."""

    exit_code = 1

    @classmethod
    def of(cls, operation: str, path: Path | str, reason: str, *,
           hint: str | None = None) -> DiskFault:
        """``writing PATH: No space left on device`` (``operation`` is a verb: "writing")."""
        return cls(f"{operation} {path}: {reason}", hint=hint or f"{RETRY}; nothing was changed")


def disk_fault_reason(error: BaseException) -> str | None:
    """The system's words for a disk fault (``No space left on device``), or None.

    ``OSError`` carries its errno; libgit2 (through pygit2) reports the same faults as
    ``OSError`` or ``GitError`` with the system's message inside its own text and no errno.
    """
    if isinstance(error, SyncError):
        return None  # already said what it is
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        return os.strerror(error.errno)
    text = str(error)
    for code in DISK_ERRNOS:
        if os.strerror(code) in text:
            return os.strerror(code)
    return None


def as_disk_fault(error: BaseException, operation: str = "writing",
                  path: Path | str | None = None) -> DiskFault | None:
    """``error`` as a ``DiskFault`` naming ``path`` (else the path the error names), or None
    when it is not a disk fault."""
    reason = disk_fault_reason(error)
    if reason is None:
        return None
    if path is None and isinstance(error, OSError) and error.filename is not None:
        path = os.fsdecode(error.filename)
    if path is None:  # libgit2's own text names the file: "could not write to 'PATH': ..."
        return DiskFault(f"{operation} failed: {error}" if reason in str(error)
                         else f"{operation} failed: {reason}", hint=RETRY)
    return DiskFault.of(operation, path, reason)


@contextmanager
def disk_faults(operation: str, path: Path | str | None = None) -> Iterator[None]:
    """Turn a disk fault raised in the block into a ``DiskFault`` naming ``path``."""
    try:
        yield
    except Exception as error:
        fault = as_disk_fault(error, operation, path)
        if fault is None:
            raise
        raise fault from error
