"""`sync render`: Dockerfile.j2 -> docker/Dockerfile.<variant> and docker-bake.json, gated.

Nothing is written unless the series applies cleanly to the current upstream and the work
tree's targets are exactly upstream + series (see ``sync.render_gate``). ``--check`` writes
nothing at all: it renders in memory and fails with a diff when a file on disk is stale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sync import program
from sync.config.manifest import MANIFEST_NAME
from sync.errors import CheckFailed, disk_faults
from sync.render import (
    BAKE_NAME,
    TEMPLATE_NAME,
    StaleFile,
    dockerfile_path,
    refuse_symlinked_folders,
    stale_files,
    undeclared_dockerfiles,
    write_files,
)
from sync.render_gate import Rendering, render_in_memory
from sync.ui import UI
from sync.workspace import Workspace


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `render` and its options."""
    parser = subparsers.add_parser(
        "render", parents=[common], help="render the variant Dockerfiles from Dockerfile.j2",
        description=f"Render {TEMPLATE_NAME} into docker/Dockerfile.<variant> for every variant "
                    f"of {MANIFEST_NAME} (or the ones named), and {BAKE_NAME}. Refuses while "
                    "the patch series does not apply cleanly or the work tree drifts from it.")
    parser.add_argument("--variant", action="append", metavar="NAME", default=None,
                        help="render only this variant (repeatable; default: all)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with a diff when a rendered file is stale")
    parser.add_argument("--prune", action="store_true",
                        help="delete orphans: Dockerfiles render wrote for variants no longer "
                             "declared (files it did not write are never touched)")
    parser.set_defaults(handler=run, needs_workspace=True)


def run(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """CLI adapter."""
    return render(workspace, ui, names=args.variant, check=args.check, prune=args.prune)


def render(workspace: Workspace, ui: UI, *, names: list[str] | None = None,
           check: bool = False, prune: bool = False) -> int:
    """Render (or with ``check`` compare) the outputs; 0 when written or up to date."""
    workspace.refuse_if_rebasing()
    root = workspace.root
    if not check:  # before anything else: the gate reads build-context files through it too
        refuse_symlinked_folders(root, dockerfile_path("any"))
    rendering = render_in_memory(workspace.repo, root, workspace.manifest, names)
    ui.info(rendering.gate.summary())
    undeclared = [] if names else undeclared_dockerfiles(root, rendering.declared)
    if check:
        return _check(root, rendering, undeclared, ui)
    with workspace.lock():
        results = write_files(root, rendering.files)
        if prune:
            for orphan in undeclared:
                with disk_faults("removing", orphan.path):
                    (root / orphan.path).unlink()
    if not prune:
        for orphan in undeclared:
            ui.warn(f"{orphan.path}: an orphan (rendered earlier; its variant is no longer "
                    f"declared in {MANIFEST_NAME}); `{program.command('render --prune')}` "
                    "removes it")
    ui.emit_json({"version": rendering.version,
                  "files": [{"path": path, "changed": changed} for path, changed in results],
                  "undeclared": [orphan.path for orphan in undeclared]})
    table = ui.table("file", "status")
    for path, changed in results:
        table.add_row(path, "written" if changed else "unchanged")
    for orphan in undeclared if prune else ():
        table.add_row(orphan.path, "removed (orphan)")
    ui.print(table)
    if any(changed for _path, changed in results):
        paths = " ".join(path for path, changed in results if changed)
        ui.hint(f"next: git add {paths} && git commit; then {program.command('build')}")
    return 0


def _check(root: Path, rendering: Rendering, undeclared: list[StaleFile], ui: UI) -> int:
    stale = stale_files(root, rendering.files) + undeclared
    ui.emit_json({"version": rendering.version, "up_to_date": not stale,
                  "stale": [{"path": item.path, "reason": item.reason, "diff": item.diff}
                            for item in stale]})
    if not stale:
        ui.print(f"{len(rendering.files)} rendered files are up to date")
        return 0
    from rich.text import Text

    for item in stale:
        if item.diff:
            ui.print(Text(item.diff), soft_wrap=True)
    names = ", ".join(f"{item.path} ({item.reason})" for item in stale)
    # reported rather than raised: the JSON document above already is this run's only output
    orphans = any(item.reason == "orphan" for item in stale)
    ui.error(f"stale rendered files: {names}",
             hint=f"run `{program.command('render --prune' if orphans else 'render')}` and "
                  "commit the result")
    return CheckFailed.exit_code
