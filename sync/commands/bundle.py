"""`sync bundle`: build the `bundle` stage and write its colcon install tree into a folder.

What DeepRacer-for-Cloud mounts over /opt/simapp (``DR_ROBOMAKER_MOUNT_SIMAPP_DIR``) when a
developer works on the bundle. The render gate runs first and the rendered Dockerfile must be up
to date (as for `build`); BuildKit builds ``--target bundle`` of it, and a one-line stage on top
(``FROM scratch``, ``COPY --from=bundle <path> /``) exports only the install tree. It is written
into a fresh folder next to the output, which then replaces the output: no file of an earlier
bundle lingers.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from sync import docker_cli, program
from sync.errors import CheckFailed, ConfigError
from sync.git import repo as gitrepo
from sync.render import dockerfile_path, stale_files
from sync.render_gate import render_in_memory
from sync.ui import UI
from sync.workspace import Workspace

BUNDLE_STAGE = "bundle"
INSTALL_PATH = "/opt/bundle/install"  # colcon's default install base in the bundle stage
EXPORT_STAGE = "simapp-sync-bundle-export"


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `bundle` and its options."""
    parser = subparsers.add_parser(
        "bundle", parents=[common], help="build the dev bundle (the colcon install tree)",
        description="Build the `bundle` stage of docker/Dockerfile.<variant> with BuildKit and "
                    "write its colcon install tree into a folder, for DeepRacer-for-Cloud's "
                    "DR_ROBOMAKER_MOUNT_SIMAPP_DIR.")
    parser.add_argument("--variant", default=None, metavar="NAME",
                        help="the variant whose Dockerfile to build (default: the first declared)")
    parser.add_argument("-o", "--output", default="install", metavar="DIR",
                        help="where the install tree goes (default: install/, replaced whole)")
    parser.add_argument("--path", default=INSTALL_PATH, metavar="PATH",
                        help=f"the install tree inside the stage (default {INSTALL_PATH})")
    parser.add_argument("--network", default=None, metavar="MODE",
                        help="network of the RUN steps (e.g. none, host; default: the engine's)")
    parser.set_defaults(handler=run, needs_workspace=True)


def run(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """CLI adapter."""
    return bundle(workspace, ui, variant=args.variant, output=Path(args.output),
                  path=args.path, network=args.network)


def bundle(workspace: Workspace, ui: UI, *, variant: str | None = None,
           output: Path = Path("install"), path: str = INSTALL_PATH,
           network: str | None = None) -> int:
    """Gate, then build the bundle stage and replace ``output`` with its install tree."""
    workspace.refuse_if_rebasing()
    if not path.startswith("/"):
        raise ConfigError(f"--path {path}: must be absolute (a path inside the bundle stage)")
    root, manifest = workspace.root, workspace.manifest
    names = [variant] if variant else [manifest.declared_variants[0].name]
    rendering = render_in_memory(workspace.repo, root, manifest, names)
    dockerfile = dockerfile_path(names[0])
    stale = stale_files(root, [file for file in rendering.files if file.path == dockerfile])
    if stale:
        raise CheckFailed(f"stale rendered file: {dockerfile}",
                          hint=f"run `{program.command('render')}` first (and commit the result)")
    text = (root / dockerfile).read_text(encoding="utf-8")
    if f" AS {BUNDLE_STAGE}" not in text and f" as {BUNDLE_STAGE}" not in text:
        raise ConfigError(f"{dockerfile}: no stage named {BUNDLE_STAGE!r}",
                          hint="name the stage that builds the bundle `bundle` in Dockerfile.j2")
    target = output if output.is_absolute() else Path.cwd() / output
    head = gitrepo.head_commit(workspace.repo)
    with tempfile.TemporaryDirectory(prefix=".bundle-", dir=target.parent) as scratch:
        export = Path(scratch) / "Dockerfile"
        export.write_text(f"{text}\nFROM scratch AS {EXPORT_STAGE}\n"
                          f"COPY --from={BUNDLE_STAGE} {path}/ /\n", encoding="utf-8")
        fresh = Path(scratch) / "out"
        ui.info(f"building the {BUNDLE_STAGE} stage of {dockerfile} (BuildKit)")
        docker_cli.build(docker_cli.BuildKitRequest(
            context=root, dockerfile=export, target=EXPORT_STAGE, output=fresh, network=network,
            buildargs={"REVISION": str(head.id) if head else ""}))
        files = sum(1 for item in fresh.rglob("*") if not item.is_dir())
        if target.exists():
            shutil.rmtree(target)
        fresh.rename(target)
    ui.emit_json({"variant": names[0], "output": str(target), "files": files, "path": path})
    ui.print(f"{target}: the {BUNDLE_STAGE} stage's {path} ({files} files)", markup=False,
             soft_wrap=True)
    ui.hint(f"next: export DR_ROBOMAKER_MOUNT_SIMAPP_DIR={target} (DeepRacer-for-Cloud mounts "
            "it over /opt/simapp in the robomaker container)")
    return 0
