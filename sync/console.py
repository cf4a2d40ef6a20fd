"""What ui.py draws with rich: consoles that cannot be steered by what they print, and the
progress displays (rich's live bars on a terminal, plain lines in a log).

Imported only when something is drawn: a ``--json`` run, or one whose output is only a JSON
document and an exit code, never loads rich (start-up time). ``SafeConsole`` shows every control
character as an escape (``\\x1b``, as git quotes such bytes in paths) in everything it prints —
strings, Text, table cells, progress descriptions — while rich's own styling still works (the
rule is ``sync.terminal.visible``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
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
from rich.segment import Segment
from rich.text import Text

from sync.terminal import CONTROL, visible


class SafeConsole(Console):
    """A rich Console that escapes control characters in what it renders and draws no emoji."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(emoji=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        # escaped before rich measures it, so a table cell is as wide as what it shows
        return super().render_str(visible(text), **kwargs)

    def render(self, renderable: RenderableType,
               options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):  # Text built by hand, too
            if segment.control is None and CONTROL.search(segment.text):
                yield Segment(visible(segment.text), segment.style)
            else:
                yield segment


def progress_display(console: Console, *, transfer: bool, hidden: bool, plain: bool,
                     interval: float) -> Progress:
    """rich's live bars (with rate and ETA) on ``console``, disabled when ``hidden``; or, with
    ``plain``, a ``PlainProgress`` that writes a line every ``interval`` seconds."""
    if plain and not hidden:
        return PlainProgress(console=console, transfer=transfer, interval=interval)
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    if transfer:
        columns += [DownloadColumn(), TransferSpeedColumn()]
    else:
        columns += [MofNCompleteColumn(), RateColumn()]
    columns += [TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=console, transient=False, disable=hidden)


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
