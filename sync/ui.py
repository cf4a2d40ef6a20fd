"""Terminal output, configured once: results on stdout, diagnostics and progress on stderr.

With ``--json`` nothing but the one JSON document reaches stdout (it carries ``schema_version``;
the schemas ship in ``sync/schemas/``); progress bars and messages are silenced so CI can parse
the output. Rich honours ``NO_COLOR`` and non-tty output by itself. Long output is paged the way
git pages it: only on a terminal, only when it does not fit the screen, through
``SIMAPP_SYNC_PAGER``, ``PAGER`` or ``less`` with ``LESS=FRX`` unless LESS is set.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from sync.terminal import OCTAL_ESCAPES, SafeConsole
from sync.untrusted import has_raw_bytes, shown_path

if TYPE_CHECKING:  # imported where used: rich.syntax brings pygments (start-up time)
    from rich.table import Table

SCHEMA_VERSION = 1  # of every --json document; bump on an incompatible change of any schema
PAGER_ENV = "SIMAPP_SYNC_PAGER"
DEFAULT_PAGER = "less"
DEFAULT_LESS = "FRX"  # quit if one screen, raw colour codes, keep the screen on exit (git's)
PLAIN_INTERVAL = 10.0  # seconds between plain progress lines off a terminal (CI logs)
PLAIN_INTERVAL_ENV = "SIMAPP_SYNC_PROGRESS_INTERVAL"


@dataclass
class UI:
    """The one place commands print through."""

    json_mode: bool = False
    quiet: bool = False
    pager: bool = True
    out: Console = field(default_factory=lambda: SafeConsole(soft_wrap=False))
    err: Console = field(default_factory=lambda: SafeConsole(stderr=True, soft_wrap=False))

    @classmethod
    def create(cls, *, json_mode: bool = False, quiet: bool = False,
               color: bool | None = None, pager: bool = True) -> UI:
        """Build the consoles once, honouring NO_COLOR and an explicit --no-color."""
        no_color = color is False or bool(os.environ.get("NO_COLOR"))
        for stream in (sys.stdout, sys.stderr):  # a raw file-name byte prints as git's \351
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors=OCTAL_ESCAPES)
        width = _env_width()
        out = SafeConsole(no_color=no_color, soft_wrap=False, width=width, highlight=False)
        err = SafeConsole(stderr=True, no_color=no_color, soft_wrap=False, width=width,
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
            text = json.dumps(_printable(document), indent=2, sort_keys=True, default=str)
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
        """A progress display on stderr; invisible in --json or quiet mode.

        On a terminal, rich's live bars with rate and ETA. Elsewhere (CI logs, a pipe), plain
        lines without escape codes: one when a task starts, one per task that is still running
        every ``PLAIN_INTERVAL`` seconds (``SIMAPP_SYNC_PROGRESS_INTERVAL``), one when it ends.
        """
        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
        if transfer:
            columns += [DownloadColumn(), TransferSpeedColumn()]
        else:
            columns += [MofNCompleteColumn(), RateColumn()]
        columns += [TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                    TimeRemainingColumn()]
        hidden = self.json_mode or self.quiet
        progress: Progress
        if hidden or self.err.is_terminal:
            progress = Progress(*columns, console=self.err, transient=False, disable=hidden)
        else:
            progress = PlainProgress(console=self.err, transfer=transfer,
                                     interval=_plain_interval())
        with progress:
            yield progress


class RateColumn(ProgressColumn):
    """Items per second (files, patches), once there is a rate to show."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


class PlainProgress(Progress):
    """Progress for a log: plain lines (no escape codes, nothing redrawn) on the console.

    A line when a task is added, then every ``interval`` seconds one per unfinished task that
    changed or has run for another interval (so a long silent phase still shows it is alive),
    and a last one when the display stops: "description: 120/900 (13%) detail, 45/s, ETA 16 s".
    """

    def __init__(self, *, console: Console, transfer: bool, interval: float) -> None:
        super().__init__(console=console, disable=True)
        self.transfer = transfer
        self.interval = interval
        self._said: dict[TaskID, float] = {}
        self._stopping = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="plain-progress", daemon=True)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        if self._ticker.is_alive():
            self._stopping.set()
            self._ticker.join()
        for task in self.tasks:
            if task.visible:
                self._say(task, last=True)

    def add_task(self, description: str, start: bool = True, total: float | None = 100.0,
                 completed: int = 0, visible: bool = True, **fields: Any) -> TaskID:
        task_id = super().add_task(description, start=start, total=total, completed=completed,
                                   visible=visible, **fields)
        with self._lock:
            task = self._tasks[task_id]
        if visible:
            self._say(task)
        return task_id

    def _tick(self) -> None:
        while not self._stopping.wait(self.interval):
            now = time.monotonic()
            for task in self.tasks:
                if task.visible and not task.finished and \
                        now - self._said.get(task.id, 0.0) >= self.interval:
                    self._say(task)

    def _say(self, task: Task, last: bool = False) -> None:
        self._said[task.id] = time.monotonic()
        self.console.print(self.line(task, last=last), markup=False, highlight=False,
                           soft_wrap=True)

    def line(self, task: Task, *, last: bool = False) -> str:
        """One task's state in words."""
        parts = [f"{task.description}:"]
        done, total = task.completed, task.total
        if self.transfer:  # exact bytes: a log is read for numbers
            amount = f"{done:,.0f}" + (f"/{total:,.0f}" if total else "") + " bytes"
        else:
            amount = f"{done:,.0f}" + (f"/{total:,.0f}" if total else "")
        if total:
            amount += f" ({min(done / total, 1.0):.0%})"
        parts.append(amount)
        detail = task.fields.get("detail")
        if detail:
            parts.append(str(detail))
        speed = task.finished_speed or task.speed
        if speed and not last:
            parts.append(f"{_size(speed)}/s" if self.transfer else f"{speed:,.0f}/s")
        remaining = task.time_remaining
        if remaining is not None and not last and not task.finished:
            parts.append(f"ETA {_duration(remaining)}")
        elapsed = task.finished_time if task.finished_time is not None else task.elapsed
        if elapsed is not None and (last or elapsed >= 1):
            parts.append(f"{'done in' if last else 'after'} {_duration(elapsed)}")
        return " ".join(parts[:2]) + (", " + ", ".join(parts[2:]) if parts[2:] else "")


def _plain_interval() -> float:
    value = os.environ.get(PLAIN_INTERVAL_ENV, "")
    try:
        return min(max(float(value), 0.05), PLAIN_INTERVAL) if value else PLAIN_INTERVAL
    except ValueError:
        return PLAIN_INTERVAL


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000
    return f"{count:,.1f} GB"


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


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
        pager.stdin.write(text.encode("utf-8", OCTAL_ESCAPES))
        pager.stdin.close()
    except BrokenPipeError:
        pass
    pager.wait()


class ConsoleDisplay:
    """A long-running domain job's warnings and bars on the console (the domain's ``Display``).

    The domain (e.g. ``sync.series.session``) never imports rich; it reports through a small
    protocol of ``warn``, ``live()`` -> ``bar(...)`` -> ``update``/``advance``, met here.
    """

    def __init__(self, ui: UI) -> None:
        self.ui = ui

    def warn(self, message: str) -> None:
        self.ui.warn(message)

    @contextmanager
    def live(self) -> Iterator[_Bars]:
        with self.ui.progress(transfer=False) as progress:
            yield _Bars(progress)


class _Bars:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def bar(self, description: str, total: int, completed: int = 0) -> _Bar:
        task = self.progress.add_task(description, total=total, completed=completed, detail="")
        return _Bar(self.progress, task)


class _Bar:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress, self.task = progress, task

    def update(self, completed: int, detail: str = "") -> None:
        self.progress.update(self.task, completed=completed, detail=detail)

    def advance(self, count: int) -> None:
        self.progress.advance(self.task, count)


def add_task(progress: Progress, description: str, total: float | None = None,
             detail: str = "") -> TaskID:
    """Add a task; ``total=None`` shows an indeterminate (pulsing) bar."""
    return progress.add_task(description, total=total, detail=detail)


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


def _env_width() -> int | None:
    value = os.environ.get("COLUMNS")
    return int(value) if value and value.isdigit() else None


def short_oid(oid: object) -> str:
    """Seven hex digits, like git's default abbreviation."""
    return str(oid)[:7]
