"""Command line: parse, configure output once, dispatch, map errors to exit codes.

Each module in ``COMMANDS`` exposes ``configure(subparsers, common)``: it adds its subparser
(with ``common`` as a parent, which brings the global options) and sets ``handler`` to a function
``(args, ui) -> int``, or ``(args, ui, workspace) -> int`` with ``needs_workspace=True`` for a
command that works in a checkout (the CLI opens the ``Workspace`` once, for it). Only the
module of the command being run is imported (start-up time: a no-op pull should not pay for the
Docker SDK); help, usage errors and shell completion import them all.

Global options (``--json``, ``-q``, ``-v``, ``--no-color``, ``--no-pager``, ``-C``,
``--manifest``) are accepted before or after the command, as git and docker users expect: the
top-level parser holds the defaults and the subcommands' copies default to "not given", so a value
given on either side wins.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from sync import __version__, program
from sync.errors import SyncError, as_disk_fault
from sync.examples import EXAMPLES
from sync.ui import UI

COMMANDS = {
    "status": "sync.commands.status",
    "pull": "sync.commands.pull",
    "adopt": "sync.commands.adopt",
    "rebase-patches": "sync.commands.rebase",
    "render": "sync.commands.render",
    "build": "sync.commands.build",
    "bundle": "sync.commands.bundle",
    "publish": "sync.commands.publish",
    "demo": "sync.commands.demo",
    "check": "sync.commands.check",
    "patches": "sync.commands.patches",
    "completion": "sync.commands.completion",
    "ci": "sync.commands.ci",
    "report": "sync.commands.report",
}

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # what a shell reports for git killed by SIGPIPE (128 + 13)


def _add_global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The options every command takes; ``defaults=False`` leaves unset ones out of the result."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--json", action="store_true", default=default(False),
                        help="print one JSON document on stdout and nothing else")
    parser.add_argument("-C", dest="directory", metavar="DIR", default=default("."),
                        help="run as if started in DIR (like git -C)")
    parser.add_argument("--manifest", metavar="PATH", default=default(None),
                        help="manifest file (default: upstream-manifest.yaml at the repo root)")
    parser.add_argument("--no-color", action="store_true", default=default(False),
                        help="no colours (as does NO_COLOR=1)")
    parser.add_argument("--no-pager", action="store_true", default=default(False),
                        help="never page long output (as does SIMAPP_SYNC_PAGER=cat)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False),
                        help="no progress, hints or diagnostics (errors still show)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="debug logging on stderr")


class _Parser(argparse.ArgumentParser):
    """argparse that keeps its usage error, so that --json can report it as a document too.

    Subcommand parsers are made of the same class (argparse's ``parser_class`` default).
    """

    usage_error: str | None = None

    def error(self, message: str) -> NoReturn:
        _Parser.usage_error = message
        super().error(message)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command registered, or just command ``only``."""
    common = _Parser(add_help=False)
    _add_global_options(common, defaults=False)

    parser = _Parser(
        prog=program.name(),
        description="Keep the DeepRacer community simapp in sync with its upstream image.",
        epilog=_epilog("", EXAMPLES[""]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"simapp-sync {__version__}")
    _add_global_options(parser, defaults=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [COMMANDS[only]] if only in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for module_name in modules:
        importlib.import_module(module_name).configure(subparsers, common)
    _add_examples(subparsers)
    return parser


def _add_examples(subparsers: argparse._SubParsersAction, prefix: str = "") -> None:
    """End every (sub)command's --help with its examples, as git's manual pages do."""
    for name, subparser in subparsers.choices.items():
        path = f"{prefix}{name}"
        if path in EXAMPLES:
            subparser.epilog = _epilog(path, EXAMPLES[path])
            subparser.formatter_class = argparse.RawDescriptionHelpFormatter
        for action in subparser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_examples(action, prefix=f"{path} ")


def _epilog(path: str, examples: Sequence[tuple[str, str]]) -> str:
    lines = ["examples:"]
    for words, meaning in examples:
        lines.append(f"  {program.command(words)}")
        lines.append(f"      {meaning}")
    return "\n".join(lines)


def _command_name(argv: Sequence[str]) -> str | None:
    """The first word that is not an option (nor the value of -C/--manifest): the command."""
    words = iter(argv)
    for word in words:
        if word in ("-C", "--manifest"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sync`` and ``simapp-sync``; returns the exit code."""
    if argv is not None:  # called by a process that goes on (the tests)
        return _main(argv)
    # a real start: name the program as it was run (tests keep the default)
    program.set_invoked(program.name_from_argv0(sys.argv[0] if sys.argv else ""))
    try:
        return _main(sys.argv[1:])
    finally:
        # the process ends next and the system takes its memory back: frozen, the objects still
        # alive are left out of the collections the interpreter makes as it shuts down (25-50
        # ms after a late --continue at real size, 5-10 ms frozen). Files are closed by the code
        # that opened them, and exit handlers still run.
        gc.freeze()


def _main(argv: Sequence[str]) -> int:
    argv = list(argv)
    completing = "_ARGCOMPLETE" in os.environ
    parser = build_parser(None if completing else _command_name(argv))
    if completing:
        from sync.completion import complete

        complete(parser)  # exits the process when it has answered the shell
    _Parser.usage_error = None
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on usage errors, 0 on --help
        code = int(exit_.code or 0)
        if code == EXIT_USAGE and _Parser.usage_error and _wants_json(argv):
            UI.create(json_mode=True).emit_json({"error": _Parser.usage_error,
                                                 "exit_code": EXIT_USAGE})
        return code
    ui = UI.create(json_mode=args.json, quiet=args.quiet,
                   color=False if args.no_color else None, pager=not args.no_pager)
    import logging  # not before: --help and usage errors stay light

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(_dispatch(args, ui))
    except SyncError as error:
        return _report(ui, args, error)
    except KeyboardInterrupt:
        ui.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except Exception as error:  # a disk fault no writer named (libgit2's, a library's)
        fault = as_disk_fault(error)
        if fault is None:
            raise
        return _report(ui, args, fault)


def _report(ui: UI, args: argparse.Namespace, error: SyncError) -> int:
    ui.error(error.message, error.hint)
    if args.json:
        ui.emit_json({"error": error.message, "exit_code": error.exit_code})
    return error.exit_code


def _wants_json(argv: Sequence[str]) -> bool:
    """--json among the options (not after ``--``, where it would be an argument)."""
    options = argv[:argv.index("--")] if "--" in argv else argv
    return "--json" in options


def _dispatch(args: argparse.Namespace, ui: UI) -> int:
    """Run the command. One that works in a checkout (``needs_workspace``) gets it opened here,
    once: ``handler(args, ui, workspace)``; the others get ``handler(args, ui)``."""
    if not getattr(args, "needs_workspace", False):
        return int(args.handler(args, ui))
    from sync.workspace import Workspace  # not before: --help and completion stay light

    return int(args.handler(args, ui, Workspace.from_args(args)))


def _quiet_broken_pipe() -> int:
    """The reader went away (``... | head``): end quietly, as git does, with no traceback.

    Python would report the failed flush of stdout again at shutdown; pointing stdout at
    /dev/null first makes that flush succeed.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE
