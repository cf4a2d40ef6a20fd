"""Progress: rich bars with rate and ETA on a terminal; plain lines in a log (no escape codes),
at least every 10 seconds while a phase runs, so no phase is silent."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from sync.console import PlainProgress
from sync.ui import PLAIN_INTERVAL, UI
from tests.commands.projects import PatchSpec, Project, make_project
from tests.test_cli_habits import _run_in_terminal

ROOT = Path(__file__).resolve().parent.parent
OLD = b"".join(b"line %03d\n" % n for n in range(1, 201))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """Forty patches, each a file of its own; upstream then moves every line by one."""
    files = {f"mod{n:02d}.py": OLD for n in range(40)}
    made = make_project(tmp_path, files, [
        PatchSpec(f"{n + 1:04d}-mod{n:02d}.patch", f"Change mod{n:02d}",
                  {f"bundle/mod{n:02d}.py": OLD.replace(b"line 100\n", b"patched 100\n")})
        for n in range(40)])
    made.move_upstream({f"bundle/mod{n:02d}.py": b"new first line\n" + OLD for n in range(40)})
    return made


def _env(**extra: str) -> dict[str, str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    environment.pop("NO_COLOR", None)
    return environment


def test_a_log_gets_plain_progress_lines_without_escape_codes(project: Project):
    result = subprocess.run([sys.executable, "-m", "sync", "-C", str(project.root),
                             "rebase-patches"], capture_output=True, text=True, env=_env())
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "rebasing patches: 0/40 (0%)" in lines
    assert any(line.startswith("rebasing patches: 40/40 (100%)") and "done in" in line
               for line in lines)
    # every phase of the rebase, in order, none of them silent
    phases = [line.split(":")[0] for line in lines if ": " in line and not line.startswith("hint")]
    assert list(dict.fromkeys(phases)) == [
        "reading the work tree and the series", "rebasing patches", "storing the rebased trees",
        "writing work tree", "updating the index"]
    assert any(line.startswith("updating the index: ") for line in lines)
    assert "\x1b[" not in result.stderr and "\r" not in result.stderr


def test_a_long_phase_reports_at_every_interval_even_without_news():
    stream = io.StringIO()
    progress = PlainProgress(console=Console(file=stream, width=100), transfer=False,
                             interval=0.1)
    with progress:
        task = progress.add_task("updating the index", total=3000, detail="")
        progress.update(task, completed=500)
        time.sleep(0.02)
        progress.update(task, completed=1000)
        time.sleep(0.75)
    lines = [line for line in stream.getvalue().splitlines()
             if line.startswith("updating the index")]
    assert len(lines) >= 5  # the first, one per interval (~7), the last
    assert lines[1].startswith("updating the index: 1,000/3,000 (33%)")
    assert "/s, ETA " in lines[1]  # the rate and the time left
    assert "done in" in lines[-1]


def test_the_plain_interval_is_ten_seconds_at_most(monkeypatch: pytest.MonkeyPatch):
    assert PLAIN_INTERVAL <= 10
    monkeypatch.setenv("SIMAPP_SYNC_PROGRESS_INTERVAL", "600")
    ui = UI(err=Console(file=io.StringIO()))
    with ui.progress() as progress:
        assert isinstance(progress, PlainProgress) and progress.interval <= 10


def test_quiet_and_json_show_no_progress(project: Project):
    for flag in ("-q", "--json"):
        result = subprocess.run([sys.executable, "-m", "sync", "-C", str(project.root),
                                 "rebase-patches", "--onto", "upstream~1", flag, "--force"],
                                capture_output=True, text=True, env=_env())
        assert "rebasing patches" not in result.stderr, flag


def test_a_terminal_gets_rich_bars_with_rate_and_eta(project: Project):
    shown = _run_in_terminal([sys.executable, "-m", "sync", "-C", str(project.root),
                              "rebase-patches"], _env())
    assert "\x1b[" in shown  # drawn, coloured
    assert "rebasing patches" in shown and "━" in shown
    assert "40/40" in shown
    assert "-:--:--" in shown or "0:00:0" in shown  # the elapsed and remaining columns
