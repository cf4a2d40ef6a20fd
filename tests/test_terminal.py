"""What simapp-sync prints cannot steer the terminal: control characters are shown as escapes.

Paths, patch names and references come from images, registries and patches; an escape sequence
in one of them must reach the screen as text (``\\x1b``), whatever prints it: a message, a table
cell, a rich Text, a progress line. ``:name:`` stays text, never an emoji.
"""

from __future__ import annotations

import io
import re

from rich.table import Table
from rich.text import Text

from sync.console import SafeConsole
from sync.terminal import visible
from sync.ui import UI

HOSTILE = "bundle/evil\x1b]0;owned\x07\x1b[2K\rname\u2028:b:"


def printed(*renderables: object) -> str:
    sink = io.StringIO()
    console = SafeConsole(file=sink, force_terminal=True, color_system="truecolor", width=200)
    for renderable in renderables:
        console.print(renderable)
    return sink.getvalue()


def test_control_characters_are_written_as_escapes():
    assert visible(HOSTILE) == "bundle/evil\\x1b]0;owned\\x07\\x1b[2K\\x0dname\\u2028:b:"
    assert visible("tabs\tand\nnewlines stay") == "tabs\tand\nnewlines stay"


def test_no_renderable_lets_an_escape_through_but_styles_still_work():
    table = Table("path")
    table.add_row(HOSTILE)
    out = printed(f"[bold]{HOSTILE}[/bold]", Text(HOSTILE), table)
    assert "\x1b[1m" in out  # rich's own bold is untouched
    shown = re.sub("\x1b\\[[0-9;]*m", "", out)  # what is left once rich's styles are gone
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]", shown)
    assert shown.count("evil\\x1b]0;owned") == 3
    assert shown.count("\\x1b[2K") == 3  # nothing hidden, in a table cell either
    assert ":b:" in out and "\U0001f171" not in out  # no emoji


def test_errors_warnings_and_hints_name_hostile_paths_safely():
    sink = io.StringIO()
    ui = UI(out=SafeConsole(file=sink), err=SafeConsole(file=sink))
    ui.error(f"{HOSTILE}: refused", hint=f"remove {HOSTILE}")
    ui.warn(HOSTILE)
    ui.hint(HOSTILE)
    text = sink.getvalue()
    assert "\x1b" not in text and text.count("evil\\x1b]0;owned") == 4


def test_a_piped_diff_is_written_byte_for_byte():
    sink = io.StringIO()
    ui = UI(out=SafeConsole(file=sink), err=SafeConsole(file=io.StringIO()))
    diff = b"-a\r\n+\x0cpage\r\n+\x1b[31m\n"
    ui.diff(diff)
    assert sink.getvalue() == diff.decode()


def test_the_raw_bytes_of_a_name_that_is_not_utf8_are_shown_as_git_octal_escapes():
    name = "bundle/caf\udce9-\udcff.txt"  # os.fsdecode(b"bundle/caf\xe9-\xff.txt")
    assert visible(name) == "bundle/caf\\351-\\377.txt"
    table = Table("path")
    table.add_row(name)
    assert "bundle/caf\\351-\\377.txt" in printed(name, Text(name), table)
