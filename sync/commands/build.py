"""`sync build`: build (and push) the rendered variants through the Docker Engine at DOCKER_HOST.

The render gate runs first, and the rendered Dockerfiles must be up to date: what is built is
exactly what `render` writes and the repository commits. The commit is passed as the REVISION
build argument (it cannot be rendered into a file the commit contains).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from rich.progress import Progress, TaskID

from sync import docker_cli, program
from sync import docker_engine as engine
from sync.errors import CheckFailed
from sync.git import Repository
from sync.git import repo as gitrepo
from sync.render import DEFAULT_PREFIX, dockerfile_path, image_tag, stale_files
from sync.render_gate import render_in_memory
from sync.ui import UI
from sync.workspace import Workspace


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `build` and its options."""
    parser = subparsers.add_parser(
        "build", parents=[common], help="build (and push) the variant images",
        description="Build the rendered docker/Dockerfile.<variant> files through the Docker "
                    "Engine at DOCKER_HOST, tagged <prefix>/deepracer-simapp:<VERSION>-<variant>.")
    parser.add_argument("--variant", action="append", metavar="NAME", default=None,
                        help="build only this variant (repeatable; default: all)")
    parser.add_argument("--push", action="store_true",
                        help="push each image's per-architecture tag "
                             "(<prefix>/deepracer-simapp:<version>-<variant>-<arch>); "
                             "`publish` then makes <version>-<variant>")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, metavar="PREFIX",
                        help=f"registry/organisation of the tags (default: {DEFAULT_PREFIX})")
    parser.set_defaults(handler=run, needs_workspace=True)


def run(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """CLI adapter."""
    return build(workspace, ui, names=args.variant, push=args.push, prefix=args.prefix)


@dataclass
class Built:
    """One variant's outcome, for the summary and --json."""

    variant: str
    tag: str
    image_id: str
    digest: str | None = None  # the pushed manifest digest
    seconds: float = 0.0
    platform: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"variant": self.variant, "tag": self.tag, "image_id": self.image_id,
                "pushed": self.digest is not None, "digest": self.digest,
                "seconds": round(self.seconds, 3)}


def build(workspace: Workspace, ui: UI, *, names: list[str] | None = None, push: bool = False,
          prefix: str = DEFAULT_PREFIX) -> int:
    """Gate, check the rendered files, then build (and push) each selected variant."""
    workspace.refuse_if_rebasing()
    repo, root, manifest = workspace.repo, workspace.root, workspace.manifest
    rendering = render_in_memory(repo, root, manifest, names)
    wanted = {dockerfile_path(variant.name) for variant in rendering.variants}
    stale = stale_files(root, [file for file in rendering.files if file.path in wanted])
    if stale:
        raise CheckFailed(f"stale rendered files: {', '.join(item.path for item in stale)}",
                          hint=f"run `{program.command('render')}` first (and commit the result)")
    client = engine.connect_for_builds()
    revision = _revision(repo)
    results: list[Built] = []
    try:
        with ui.progress(transfer=False) as progress:
            for variant in rendering.variants:
                for platform in variant.platforms_or(manifest.platform):
                    started = time.monotonic()
                    request = engine.BuildRequest(
                        context=root, dockerfile=dockerfile_path(variant.name),
                        tag=image_tag(prefix, rendering.version, variant.name),
                        buildargs={"REVISION": revision}, platform=platform)
                    arch_tag = f"{request.tag}-{architecture(platform)}"
                    if variant.platforms:  # BuildKit: the classic builder ignores --platform
                        ui.info(f"building {variant.name} for {platform} (BuildKit)")
                        docker_cli.build(docker_cli.BuildKitRequest(
                            context=root, dockerfile=root / request.dockerfile, tag=arch_tag,
                            platform=platform, buildargs=request.buildargs))
                        image_id = engine.inspect_image(client, arch_tag)["Id"]
                        tag = arch_tag
                    else:
                        steps = StepProgress(progress, f"building {variant.name}")
                        image_id = engine.build_image(client, request, steps)
                        steps.finish()
                        engine.tag_image(client, image_id, arch_tag)
                        tag = request.tag
                    built = Built(variant.name, tag, image_id, platform=platform)
                    if push:
                        built.tag = arch_tag
                        built.digest = engine.push_image(
                            client, arch_tag, PushBar(progress, f"pushing {arch_tag}"))
                    built.seconds = time.monotonic() - started
                    results.append(built)
    finally:
        client.close()
    ui.emit_json({"version": rendering.version, "revision": revision,
                  "images": [built.as_json() for built in results]})
    table = ui.table("variant", "tag", "image", "pushed", "seconds")
    for built in results:
        table.add_row(built.variant, built.tag, built.image_id.removeprefix("sha256:")[:12],
                      built.digest[:19] + "…" if built.digest else "no", f"{built.seconds:.1f}")
    ui.print(table)
    return 0


class StepProgress:
    """One bar per variant: the build's steps, with the running instruction as detail."""

    def __init__(self, progress: Progress, description: str) -> None:
        self.progress = progress
        self.task: TaskID = progress.add_task(description, total=None, detail="")
        self.total = 0

    def step(self, number: int, total: int, instruction: str) -> None:
        # the step shown is running: completed counts the ones before it
        self.total = total
        self.progress.update(self.task, completed=number - 1, total=total,
                             detail=_shorten(instruction))

    def output(self, line: str) -> None:
        return None  # the output is kept by the engine adapter for errors; the bar stays calm

    def finish(self) -> None:
        self.progress.update(self.task, completed=self.total, total=self.total, detail="done")


class PushBar:
    """Bytes pushed so far, summed over the image's layers."""

    def __init__(self, progress: Progress, description: str) -> None:
        self.progress = progress
        self.task: TaskID = progress.add_task(description, total=None, detail="")

    def pushed(self, current: int, total: int | None) -> None:
        self.progress.update(self.task, completed=current, total=total,
                             detail=f"{current / 1e6:,.1f} MB")


def architecture(platform: str) -> str:
    """``linux/arm64`` -> ``arm64``: the tag suffix of a per-architecture image."""
    return platform.split("/")[1] if "/" in platform else platform


def _revision(repo: Repository) -> str:
    """The commit being built, for the org.opencontainers.image.revision label."""
    head = gitrepo.head_commit(repo)
    return str(head.id) if head is not None else ""  # unborn: nothing committed yet


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
