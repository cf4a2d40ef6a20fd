"""Command line: parse, configure output once, dispatch, map errors to exit codes.

Each module in ``COMMANDS`` exposes ``configure(subparsers, common)``: it adds its subparser
(with ``common`` as a parent, which brings ``--json``) and sets ``handler`` to a function
``(args, ui) -> int``. Only the module of the command being run is imported (start-up time: a
no-op pull should not pay for the Docker SDK); help and usage errors import them all.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from sync import __version__
from sync.errors import SyncError
from sync.ui import UI

COMMANDS = {
    "pull": "sync.commands.pull",
    "rebase-patches": "sync.commands.rebase",
    "render": "sync.commands.render",
    "build": "sync.commands.build",
    "demo": "sync.commands.demo",
    "check": "sync.commands.check",
    "patches": "sync.commands.patches",
}

EXIT_INTERRUPTED = 130


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command registered, or just command ``only``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout and nothing else")
    common.add_argument("-C", dest="directory", metavar="DIR", default=".",
                        help="run as if started in DIR (default: the current directory)")
    common.add_argument("--manifest", metavar="PATH", default=None,
                        help="manifest file (default: upstream-manifest.yaml at the repo root)")
    common.add_argument("--no-color", action="store_true", help="no colours (as does NO_COLOR=1)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress or diagnostics")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")

    parser = argparse.ArgumentParser(
        prog="simapp-sync",
        description="Keep the DeepRacer community simapp in sync with its upstream image.",
    )
    parser.add_argument("--version", action="version", version=f"simapp-sync {__version__}")
    parser.add_argument("-C", dest="top_directory", metavar="DIR", default=None,
                        help="run as if started in DIR (like git -C; also accepted after COMMAND)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [COMMANDS[only]] if only in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for module_name in modules:
        importlib.import_module(module_name).configure(subparsers, common)
    return parser


def _command_name(argv: Sequence[str]) -> str | None:
    """The first word that is not an option (nor -C's value): the command being run."""
    words = iter(argv)
    for word in words:
        if word == "-C":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sync`` and ``simapp-sync``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_name(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on usage errors, 0 on --help
        return int(exit_.code or 0)
    if args.top_directory and args.directory == ".":
        args.directory = args.top_directory
    ui = UI.create(json_mode=args.json, quiet=args.quiet, color=False if args.no_color else None)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.handler(args, ui))
    except SyncError as error:
        ui.error(error.message, error.hint)
        if args.json:
            ui.emit_json({"error": error.message, "exit_code": error.exit_code})
        return error.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted")
        return EXIT_INTERRUPTED
