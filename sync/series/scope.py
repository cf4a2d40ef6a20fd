"""What of the manifest a rebase works on: its ``Scope`` (target folders, upstream branch).

A session reads its scope from a ``Project`` (the workspace, which parses the manifest only when
asked) when a rebase starts, and keeps it in the rebase state with the manifest's
``fingerprint`` (an id of its bytes). A stopped rebase goes on, or is undone, on that scope: the
manifest is parsed again only if its bytes changed since, and if it now names other targets or
another branch a warning says so (the rebase keeps its own). A state written before the scope
was kept reads the manifest. So a ``--continue`` loads no YAML parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sync import program
from sync.series.display import Display
from sync.series.load import PATCHES
from sync.series.state import RebaseState


@dataclass(frozen=True)
class Scope:
    """The target folders and the upstream branch of a rebase.

    A fixed scope is also a ``Project`` with no manifest file behind it (tests, tools).
    """

    targets: tuple[str, ...]
    branch: str
    origin: str = "the manifest"  # where it was read from, for messages

    def scope(self) -> Scope:
        return self

    def fingerprint(self) -> str | None:
        return None


class Project(Protocol):
    """Where a session reads its scope: the manifest, parsed only when ``scope()`` is called."""

    def scope(self) -> Scope: ...

    def fingerprint(self) -> str | None:
        """An id of the manifest's bytes (nothing parsed); None when there is no file."""


class Scoped:
    """The part of a session that knows its scope: ``targets``, ``roots`` (the targets and
    ``patches/``) and ``branch``, set by each action before it reads or writes anything."""

    def __init__(self, project: Project, display: Display) -> None:
        self.project = project
        self.display = display
        self.targets: tuple[str, ...] = ()
        self.roots: tuple[str, ...] = (PATCHES,)
        self.branch = ""

    def _scope_now(self) -> dict[str, Any]:
        """A rebase starts: it takes the manifest's scope; what its state keeps of it (the
        ``RebaseState`` fields)."""
        scope = self._use(self.project.scope())
        return {"targets": list(scope.targets), "branch": scope.branch,
                "manifest": self.project.fingerprint()}

    def _scope_kept(self, state: RebaseState) -> None:
        """A stopped rebase goes on: the scope it started with (the manifest is read when the
        state predates that record, or when the file changed since)."""
        if state.targets is None or state.branch is None:
            self._use(self.project.scope())
            return
        kept = self._use(Scope(tuple(state.targets), state.branch))
        if self.project.fingerprint() != state.manifest:
            now = self.project.scope()
            if (now.targets, now.branch) != (kept.targets, kept.branch):
                self.display.warn(changed(now, kept))

    def _use(self, scope: Scope) -> Scope:
        self.targets, self.branch = scope.targets, scope.branch
        self.roots = (*scope.targets, PATCHES)
        return scope


def changed(now: Scope, kept: Scope) -> str:
    """The warning for a manifest that names other targets or another branch than the rebase."""
    changes = [f"{what} now {new} (before: {old})" for what, new, old in (
        ("targets", ", ".join(now.targets), ", ".join(kept.targets)),
        ("branch", now.branch, kept.branch)) if new != old]
    return (f"{now.origin} changed while the rebase was stopped: {'; '.join(changes)}; the "
            "rebase keeps the targets and the upstream commit it started with (run "
            f"`{program.command('rebase-patches')}` again once it is done for the new ones)")
