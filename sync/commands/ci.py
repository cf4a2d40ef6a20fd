"""`sync ci init`: write the scheduled CI workflow that turns an upstream release into a PR."""

from __future__ import annotations

import argparse

from sync.ci.github import (
    DEFAULT_CRON,
    DEFAULT_INSTALL,
    DEFAULT_PYTHON,
    DEFAULT_SOURCE,
    WORKFLOW_PATH,
    WorkflowOptions,
    render_workflow,
    write_workflow,
)
from sync.ui import UI
from sync.workspace import Workspace

PROVIDERS = ("github",)


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `ci` and its subcommand `init`."""
    parser = subparsers.add_parser("ci", help="write the scheduled CI workflow (upstream watch "
                                   "→ pull → rebase → render → pull request)",
                                   description="Automation for the community repository.")
    commands = parser.add_subparsers(dest="ci_command", metavar="SUBCOMMAND", required=True)
    init = commands.add_parser("init", parents=[common], help=f"write {WORKFLOW_PATH}",
                               description="Write a GitHub Actions workflow that runs `pull "
                                           "--check` daily and, when upstream moved, pulls, "
                                           "rebases, renders and opens a pull request whose "
                                           "body is `sync report`.")
    init.add_argument("--provider", choices=PROVIDERS, default="github",
                      help="the CI service (default: github)")
    init.add_argument("--cron", default=DEFAULT_CRON,
                      help=f'when to look, in UTC (default "{DEFAULT_CRON}": daily)')
    init.add_argument("--from", dest="source", default=DEFAULT_SOURCE, metavar="TRANSPORT",
                      help=f"where pull --check and pull read the image (default "
                           f"{DEFAULT_SOURCE}: the registry, no engine needed)")
    init.add_argument("--python", default=DEFAULT_PYTHON, help="Python version for the runner")
    init.add_argument("--install", default=DEFAULT_INSTALL, metavar="REQUIREMENT",
                      help="what `pip install` installs simapp-sync from (a name, a pin, "
                           "or a git URL; default: simapp-sync)")
    init.add_argument("--force", action="store_true",
                      help="replace an existing workflow file that differs")
    init.add_argument("--print", dest="print_only", action="store_true",
                      help="print the workflow instead of writing it")
    init.set_defaults(handler=run_init, needs_workspace=True)


def run_init(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """Render the workflow for this repository's manifest and write (or print) it."""
    root, manifest = workspace.root, workspace.manifest
    options = WorkflowOptions(cron=args.cron, source=args.source, python=args.python,
                              install=args.install)
    text = render_workflow(manifest, options)
    if args.print_only:
        ui.emit_json({"path": WORKFLOW_PATH, "written": False, "workflow": text})
        ui.print(text, markup=False, soft_wrap=True, end="")
        return 0
    path, changed = write_workflow(root, text, force=args.force)
    ui.emit_json({"path": str(path), "written": changed, "workflow": text})
    relative = path.relative_to(root)
    if not changed:
        ui.print(f"{relative}: already up to date", markup=False)
        return 0
    ui.print(f"{relative}: written (daily at \"{options.cron}\" UTC, and on demand; the "
             f"runner installs `pip install \"{options.install}\"`)", markup=False,
             soft_wrap=True)
    ui.hint("next: commit and push it; in the repository's Settings → Actions → General, "
            "allow GitHub Actions to create pull requests"
            + ("; to install simapp-sync from elsewhere than PyPI, run it again with "
               "--install 'simapp-sync @ git+URL' --force" if options.install == DEFAULT_INSTALL
               else ""))
    return 0
