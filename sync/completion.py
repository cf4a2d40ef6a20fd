"""Shell completion for bash and zsh through argcomplete: commands, options and their values.

argcomplete (a well-kept library that pip, pipx and others use) reads the real argparse parser,
so completion never drifts from the options. The shell asks by running us with ``_ARGCOMPLETE``
set; ``complete`` answers and exits before any command runs.
"""

from __future__ import annotations

import argparse

import argcomplete

PROGRAMS = ("simapp-sync",)
SHELLS = ("bash", "zsh")


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request (exits the process); no-op outside completion."""
    argcomplete.autocomplete(parser)


def shell_code(shell: str) -> str:
    """The script that hooks completion of ``simapp-sync`` into ``shell``."""
    return argcomplete.shellcode(list(PROGRAMS), shell=shell)
