"""Terminal output, configured once: results on stdout, diagnostics and progress on stderr.

With ``--json`` nothing but the one JSON document reaches stdout (it carries ``schema_version``;
the schemas ship in ``sync/schemas/``); progress bars and messages are silenced so CI can parse
the output. Rich honours ``NO_COLOR`` and non-tty output by itself. Long output is paged the way
git pages it: only on a terminal, only when it does not fit the screen, through
``SIMAPP_SYNC_PAGER``, ``PAGER`` or ``less`` with ``LESS=FRX`` unless LESS is set.

Rich is loaded when something is drawn, not before (``sync.console``): the consoles are made at
their first use, and a run that shows no bars (``--json``, ``-q``) makes none. A ``--json``
command prints its document without loading rich at all (start-up time).
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sync.terminal import OCTAL_ESCAPES
from sync.untrusted import has_raw_bytes, shown_path

if TYPE_CHECKING:  # imported where used (start-up time): rich.syntax brings pygments
    from rich.console import Console, RenderableType
    from rich.progress import Progress, TaskID
    from rich.table import Table

SCHEMA_VERSION = 1  # of every --json document; bump on an incompatible change of any schema
PAGER_ENV = "SIMAPP_SYNC_PAGER"
DEFAULT_PAGER = "less"
DEFAULT_LESS = "FRX"  # quit if one screen, raw colour codes, keep the screen on exit (git's)
PLAIN_INTERVAL = 10.0  # seconds between plain progress lines off a terminal (CI logs)
PLAIN_INTERVAL_ENV = "SIMAPP_SYNC_PROGRESS_INTERVAL"


class UI:
    """The one place commands print through.

    ``out`` and ``err`` are the consoles of stdout and stderr: given, or made at their first use
    (with ``console_options``, the settings ``create`` chose).
    """

    def __init__(self, json_mode: bool = False, quiet: bool = False, pager: bool = True,
                 out: Console | None = None, err: Console | None = None,
                 console_options: dict[str, Any] | None = None) -> None:
        self.json_mode, self.quiet, self.pager = json_mode, quiet, pager
        self._out, self._err = out, err
        self.console_options = console_options or {}

    @property
    def out(self) -> Console:
        """The console of results (stdout)."""
        if self._out is None:
            self._out = self._console(stderr=False)
        return self._out

    @property
    def err(self) -> Console:
        """The console of diagnostics and progress (stderr)."""
        if self._err is None:
            self._err = self._console(stderr=True)
        return self._err

    def _console(self, *, stderr: bool) -> Console:
        from sync.console import SafeConsole

        return SafeConsole(stderr=stderr, soft_wrap=False, **self.console_options)

    @classmethod
    def create(cls, *, json_mode: bool = False, quiet: bool = False,
               color: bool | None = None, pager: bool = True) -> UI:
        """Build the consoles once, honouring NO_COLOR and an explicit --no-color."""
        no_color = color is False or bool(os.environ.get("NO_COLOR"))
        for stream in (sys.stdout, sys.stderr):  # a raw file-name byte prints as git's \351
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors=OCTAL_ESCAPES)
        return cls(json_mode=json_mode, quiet=quiet, pager=pager,
                   console_options={"no_color": no_color, "width": _env_width(),
                                    "highlight": False})

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
            # indented for a person at a terminal, one line for a program reading a pipe or a
            # file (which the C encoder writes several times faster: 900 patches' rows,
            # 10 -> 2 ms)
            indent = 2 if sys.stdout.isatty() else None
            text = json.dumps(document, indent=indent, sort_keys=True, default=str)
            if "\\udc" in text:  # escaped surrogates: raw file-name bytes, quoted as git does
                text = json.dumps(_printable(document), indent=indent, sort_keys=True,
                                  default=str)
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def table(self, *columns: str, title: str | None = None) -> Table:
        """A table in the house style; numeric columns are right-aligned by the caller."""
        from rich.table import Table

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
        import shlex

        spelled = os.environ.get(PAGER_ENV) or os.environ.get("PAGER") or DEFAULT_PAGER
        command = shlex.split(spelled)
        return None if not command or command == ["cat"] else command

    def diff(self, diff: bytes) -> None:
        """A unified diff: highlighted (and wrapped) on a terminal; piped, the exact text."""
        text = diff.decode("utf-8", "replace")
        if self.out.is_terminal:
            from rich.syntax import Syntax

            self.print(Syntax(text, "diff", theme="ansi_dark", background_color="default",
                              word_wrap=True))
        elif not self.json_mode:  # byte for byte (CR, form feeds...): rich would strip some
            self.out.file.write(text)
            self.out.file.flush()

    def hint(self, message: str) -> None:
        """A next-step suggestion ("next: ..."); silenced by -q and --json, like git's advice."""
        if not (self.json_mode or self.quiet):
            self.err.print(f"[dim]hint:[/dim] {_escape(message)}", soft_wrap=True)

    # --- diagnostics -------------------------------------------------------------------------
    def info(self, message: RenderableType) -> None:
        if not (self.json_mode or self.quiet):
            self.err.print(message)

    def warn(self, message: str) -> None:
        if not self.json_mode:
            self.err.print(f"[yellow]warning:[/yellow] {_escape(message)}", soft_wrap=True)

    def error(self, message: str, hint: str | None = None) -> None:
        """Errors go to stderr even in --json mode: stdout stays parseable (or empty)."""
        self.err.print(f"[bold red]error:[/bold red] {_escape(message)}", soft_wrap=True)
        if hint:
            self.err.print(f"  {_escape(hint)}", soft_wrap=True)

    # --- progress ----------------------------------------------------------------------------
    @contextmanager
    def progress(self, *, transfer: bool = True) -> Iterator[Progress]:
        """A progress display on stderr; invisible in --json or quiet mode.

        On a terminal, rich's live bars with rate and ETA. Elsewhere (CI logs, a pipe), plain
        lines without escape codes: one when a task starts, one per task that is still running
        every ``PLAIN_INTERVAL`` seconds (``SIMAPP_SYNC_PROGRESS_INTERVAL``), one when it ends.
        """
        from sync.console import progress_display

        hidden = self.json_mode or self.quiet
        progress = progress_display(self.err, transfer=transfer, hidden=hidden,
                                    plain=not hidden and not self.err.is_terminal,
                                    interval=_plain_interval())
        with progress:
            yield progress


def _plain_interval() -> float:
    value = os.environ.get(PLAIN_INTERVAL_ENV, "")
    try:
        return min(max(float(value), 0.05), PLAIN_INTERVAL) if value else PLAIN_INTERVAL
    except ValueError:
        return PLAIN_INTERVAL


def _run_pager(command: list[str], text: str) -> None:
    """Feed ``text`` to the pager; a pager that quits early (q in less) is not an error."""
    environment = dict(os.environ)
    environment.setdefault("LESS", DEFAULT_LESS)
    environment.setdefault("LV", "-c")  # git's setting for lv: keep colours
    import subprocess

    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE, env=environment)
    except OSError:  # no such pager: show the text rather than nothing
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    assert pager.stdin is not None
    try:
        pager.stdin.write(text.encode("utf-8", OCTAL_ESCAPES))
        pager.stdin.close()
    except BrokenPipeError:
        pass
    pager.wait()


class ConsoleDisplay:
    """A long-running domain job's warnings and bars on the console (the domain's ``Display``).

    The domain (e.g. ``sync.series.session``) never imports rich; it reports through a small
    protocol of ``warn``, ``live()`` -> ``bar(...)`` -> ``update``/``advance``, met here. With
    nothing to show (``--json``, ``-q``) the bars are ``ConsoleBar``s without a display: every
    update still goes through them, and no rich is loaded.
    """

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.warnings: list[str] = []  # as shown (not in --json mode: the document lists them)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.ui.warn(message)

    @contextmanager
    def live(self) -> Iterator[_Bars]:
        if self.ui.json_mode or self.ui.quiet:
            yield _Bars(None)
            return
        with self.ui.progress(transfer=False) as progress:
            yield _Bars(progress)


class _Bars:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def bar(self, description: str, total: int, completed: int = 0) -> ConsoleBar:
        if self.progress is None:
            return ConsoleBar(None, None)
        task = self.progress.add_task(description, total=total, completed=completed, detail="")
        return ConsoleBar(self.progress, task)


class ConsoleBar:
    """One bar of a ``ConsoleDisplay`` (a task of its progress display, if it has one)."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self.progress, self.task = progress, task

    def update(self, completed: int, detail: str = "") -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=completed, detail=detail)

    def advance(self, count: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, count)

    def describe(self, detail: str) -> None:
        """The bar's detail alone (rich's Progress takes its lock: safe from any thread)."""
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, detail=detail)


def _printable(value: Any) -> Any:
    """``value`` with every string that holds a file name's raw bytes C-quoted (git's form),
    so that a --json document is always valid UTF-8."""
    if isinstance(value, str):
        return shown_path(value) if has_raw_bytes(value) else value
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    return value


def _escape(text: str) -> str:
    """``text`` with rich markup escaped (rich.markup loaded only when something is printed)."""
    from rich.markup import escape

    return escape(text)


def _env_width() -> int | None:
    value = os.environ.get("COLUMNS")
    return int(value) if value and value.isdigit() else None


def short_oid(oid: object) -> str:
    """Seven hex digits, like git's default abbreviation."""
    return str(oid)[:7]
