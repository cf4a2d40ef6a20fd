"""How the rebase session reports while it works: a ``Display`` of warnings and progress bars.

``Quiet`` shows nothing (tests, and callers that report only the outcome); the command gives the
session a display on its console.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Bar(Protocol):
    """One progress bar."""

    def update(self, completed: int, detail: str = "") -> None: ...

    def advance(self, count: int) -> None: ...

    def describe(self, detail: str) -> None:
        """Say what the bar is at, its count unchanged (safe from any thread)."""


class Bars(Protocol):
    """A live progress display that bars are added to."""

    def bar(self, description: str, total: int, completed: int = 0) -> Bar: ...


class Display(Protocol):
    """Where the session reports while it works: warnings, and a live display of bars."""

    def warn(self, message: str) -> None: ...

    def live(self) -> AbstractContextManager[Bars]: ...


class Quiet:
    """A ``Display`` that shows nothing (tests, and callers that report only the outcome)."""

    def warn(self, message: str) -> None:
        return None

    @contextmanager
    def live(self) -> Iterator[Bars]:
        yield self

    def bar(self, description: str, total: int, completed: int = 0) -> Bar:
        return _NoBar()


class _NoBar:
    def update(self, completed: int, detail: str = "") -> None:
        return None

    def advance(self, count: int) -> None:
        return None

    def describe(self, detail: str) -> None:
        return None
