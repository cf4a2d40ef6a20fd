"""Terminal output, configured once: results on stdout, diagnostics and progress on stderr.

With ``--json`` nothing but the one JSON document reaches stdout; progress bars and messages are
silenced so CI can parse the output. Rich honours ``NO_COLOR`` and non-tty output by itself.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table


@dataclass
class UI:
    """The one place commands print through."""

    json_mode: bool = False
    quiet: bool = False
    out: Console = field(default_factory=lambda: Console(soft_wrap=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=False))

    @classmethod
    def create(cls, *, json_mode: bool = False, quiet: bool = False,
               color: bool | None = None) -> UI:
        """Build the consoles once, honouring NO_COLOR and an explicit --no-color."""
        no_color = color is False or bool(os.environ.get("NO_COLOR"))
        width = _env_width()
        out = Console(no_color=no_color, soft_wrap=False, width=width,
                      highlight=False)
        err = Console(stderr=True, no_color=no_color, soft_wrap=False, width=width,
                      highlight=False)
        return cls(json_mode=json_mode, quiet=quiet, out=out, err=err)

    # --- results -----------------------------------------------------------------------------
    def print(self, *renderables: RenderableType, **kwargs: Any) -> None:
        """A human-readable result line or table (suppressed in --json mode)."""
        if not self.json_mode:
            self.out.print(*renderables, **kwargs)

    def emit_json(self, document: Any) -> None:
        """The single JSON document of --json mode (printed only in that mode)."""
        if self.json_mode:
            sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
            sys.stdout.flush()

    def table(self, *columns: str, title: str | None = None) -> Table:
        """A table in the house style; numeric columns are right-aligned by the caller."""
        table = Table(title=title, box=None, pad_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column)
        return table

    # --- diagnostics -------------------------------------------------------------------------
    def info(self, message: RenderableType) -> None:
        if not (self.json_mode or self.quiet):
            self.err.print(message)

    def warn(self, message: str) -> None:
        if not self.json_mode:
            self.err.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)

    def error(self, message: str, hint: str | None = None) -> None:
        """Errors go to stderr even in --json mode: stdout stays parseable (or empty)."""
        self.err.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)
        if hint:
            self.err.print(f"  {escape(hint)}", soft_wrap=True)

    # --- progress ----------------------------------------------------------------------------
    @contextmanager
    def progress(self, *, transfer: bool = True) -> Iterator[Progress]:
        """A live progress display on stderr; invisible in --json or quiet mode."""
        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
        if transfer:
            columns += [DownloadColumn(), TransferSpeedColumn()]
        else:
            columns += [MofNCompleteColumn()]
        columns += [TextColumn("{task.fields[detail]}"), TimeElapsedColumn()]
        progress = Progress(*columns, console=self.err, transient=False,
                            disable=self.json_mode or self.quiet)
        with progress:
            yield progress


def add_task(progress: Progress, description: str, total: float | None = None,
             detail: str = "") -> TaskID:
    """Add a task; ``total=None`` shows an indeterminate (pulsing) bar."""
    return progress.add_task(description, total=total, detail=detail)


def _env_width() -> int | None:
    value = os.environ.get("COLUMNS")
    return int(value) if value and value.isdigit() else None


def short_oid(oid: object) -> str:
    """Seven hex digits, like git's default abbreviation."""
    return str(oid)[:7]
