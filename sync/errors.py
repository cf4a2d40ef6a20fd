"""The one exception hierarchy of simapp-sync.

Every error a user can cause or meet is a ``SyncError``; the CLI catches it in one place and
maps ``exit_code`` to the process exit status: 2 for bad input or configuration (nothing was
written), 1 for conflicts and failed checks.
"""

from __future__ import annotations


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
