"""`completion`: print the shell code that completes simapp-sync's commands and options."""

from __future__ import annotations

import argparse
import sys

from sync.completion import SHELLS, shell_code
from sync.ui import UI


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `completion SHELL`."""
    parser = subparsers.add_parser(
        "completion", parents=[common], help="print shell completion code (bash or zsh)",
        description="Print the code that makes your shell complete simapp-sync's commands and "
                    "options. Source it from your shell's start-up file.")
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: UI) -> int:
    """Write the completion script to stdout (plain text, never paged or coloured)."""
    sys.stdout.write(shell_code(args.shell))
    sys.stdout.flush()
    return 0
