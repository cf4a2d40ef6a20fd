"""Terminal output, configured once: results on stdout, diagnostics and progress on stderr.

With ``--json`` nothing but the one JSON document reaches stdout (it carries ``schema_version``;
the schemas ship in ``sync/schemas/``); progress bars and messages are silenced so CI can parse
the output. Rich honours ``NO_COLOR`` and non-tty output by itself. Long output is paged the way
git pages it: only on a terminal, only when it does not fit the screen, through
``SIMAPP_SYNC_PAGER``, ``PAGER`` or ``less`` with ``LESS=FRX`` unless LESS is set.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
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

SCHEMA_VERSION = 1  # of every --json document; bump on an incompatible change of any schema
PAGER_ENV = "SIMAPP_SYNC_PAGER"
DEFAULT_PAGER = "less"
DEFAULT_LESS = "FRX"  # quit if one screen, raw colour codes, keep the screen on exit (git's)


@dataclass
class UI:
    """The one place commands print through."""

    json_mode: bool = False
    quiet: bool = False
    pager: bool = True
    out: Console = field(default_factory=lambda: Console(soft_wrap=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=False))

    @classmethod
    def create(cls, *, json_mode: bool = False, quiet: bool = False,
               color: bool | None = None, pager: bool = True) -> UI:
        """Build the consoles once, honouring NO_COLOR and an explicit --no-color."""
        no_color = color is False or bool(os.environ.get("NO_COLOR"))
        width = _env_width()
        out = Console(no_color=no_color, soft_wrap=False, width=width,
                      highlight=False)
        err = Console(stderr=True, no_color=no_color, soft_wrap=False, width=width,
                      highlight=False)
        return cls(json_mode=json_mode, quiet=quiet, pager=pager, out=out, err=err)

    # --- results -----------------------------------------------------------------------------
    def print(self, *renderables: RenderableType, **kwargs: Any) -> None:
        """A human-readable result line or table (suppressed in --json mode)."""
        if not self.json_mode:
            self.out.print(*renderables, **kwargs)

    def emit_json(self, document: Any) -> None:
        """The single JSON document of --json mode (printed only in that mode)."""
        if self.json_mode:
            if isinstance(document, dict):
                document = {"schema_version": SCHEMA_VERSION, **document}
            sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
            sys.stdout.flush()

    def table(self, *columns: str, title: str | None = None) -> Table:
        """A table in the house style; numeric columns are right-aligned by the caller."""
        table = Table(title=title, box=None, pad_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column)
        return table

    @contextmanager
    def paged(self) -> Iterator[None]:
        """Page what the block prints to stdout when it is longer than the terminal (git's rule).

        Off the terminal, in --json mode or with --no-pager, output goes straight through.
        """
        command = self._pager_command()
        if command is None:
            yield
            return
        with self.out.capture() as captured:
            yield
        text = captured.get()
        if text.count("\n") < self.out.size.height:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        _run_pager(command, text)

    def _pager_command(self) -> list[str] | None:
        if self.json_mode or not self.pager or not self.out.is_terminal:
            return None
        spelled = os.environ.get(PAGER_ENV) or os.environ.get("PAGER") or DEFAULT_PAGER
        command = shlex.split(spelled)
        return None if not command or command == ["cat"] else command

    def hint(self, message: str) -> None:
        """A next-step suggestion ("next: ..."); silenced by -q and --json, like git's advice."""
        if not (self.json_mode or self.quiet):
            self.err.print(f"[dim]hint:[/dim] {escape(message)}", soft_wrap=True)

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


def _run_pager(command: list[str], text: str) -> None:
    """Feed ``text`` to the pager; a pager that quits early (q in less) is not an error."""
    environment = dict(os.environ)
    environment.setdefault("LESS", DEFAULT_LESS)
    environment.setdefault("LV", "-c")  # git's setting for lv: keep colours
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE, env=environment)
    except OSError:  # no such pager: show the text rather than nothing
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    assert pager.stdin is not None
    try:
        pager.stdin.write(text.encode("utf-8", "replace"))
        pager.stdin.close()
    except BrokenPipeError:
        pass
    pager.wait()


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
