"""The program's name as the user invoked it, so hints spell commands the way they typed them.

``simapp-sync pull`` through the console script, ``python -m sync pull`` through ``-m``: a hint
that says "run `python -m sync render`" to someone who typed ``simapp-sync`` reads like a guess.
Set once by the CLI at start-up; domain code only reads it.
"""

from __future__ import annotations

from pathlib import Path

CONSOLE_SCRIPT = "simapp-sync"
MODULE_SPELLING = "python -m sync"

_invoked = MODULE_SPELLING


def name_from_argv0(argv0: str) -> str:
    """``python -m sync`` when started as a module, else the script's own file name."""
    base = Path(argv0).name
    if not base or base in {"__main__.py", "-c"} or base.startswith("python"):
        return MODULE_SPELLING
    return base


def set_invoked(name: str) -> None:
    """Record how we were started (the CLI calls this once)."""
    global _invoked
    _invoked = name


def name() -> str:
    """The program as invoked: ``simapp-sync`` or ``python -m sync``."""
    return _invoked


def command(words: str) -> str:
    """A command line to suggest, e.g. ``command("rebase-patches --continue")``."""
    return f"{_invoked} {words}"
