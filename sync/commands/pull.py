"""`sync pull`: read the upstream image's mapped paths and commit them to the upstream branch.

Arguments -> ``sync.importer.import_image`` (or, with ``--check``, ``sync.watch``) -> the summary
and --json. Only the object database and the branch ref change (see ``sync.importer``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.progress import Progress, TaskID

from sync import program, sizes
from sync.git.checkpoints import prune_checkpoints
from sync.image.current import current_image
from sync.image.model import Limits
from sync.importer import (
    DAEMON_TRANSPORT,
    DEFAULT_LIMITS,
    Cache,
    ImageOpener,
    PullOutcome,
    image_opener,
    import_image,
    refuse_checked_out,
)
from sync.ui import UI, short_oid
from sync.watch import UpstreamWatch, watch_upstream
from sync.workspace import Workspace


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `pull` and its options."""
    parser = subparsers.add_parser(
        "pull", parents=[common], help="import the upstream image into the upstream branch",
        description="Export the upstream image's mapped paths and commit them to the upstream "
                    "branch (work tree, index and HEAD are not touched).")
    parser.add_argument("--from", dest="source", default=DAEMON_TRANSPORT, metavar="TRANSPORT",
                        help="docker-daemon: (default, the engine at DOCKER_HOST), "
                             "docker://[REF] (the registry itself, no engine), "
                             "docker-archive:PATH, oci-archive:PATH, oci:DIR")
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                        help="allow plain HTTP to registry HOST[:PORT] for docker:// "
                             "(loopback registries need not be named)")
    parser.add_argument("--max-file-size", type=parse_size, default=None, metavar="SIZE",
                        help="refuse files larger than SIZE (default 4G)")
    parser.add_argument("--max-layer-size", type=parse_size, default=None, metavar="SIZE",
                        help="refuse layers that decompress to more than SIZE (default 64G)")
    parser.add_argument("--max-layer-ratio", type=parse_ratio, default=None, metavar="N",
                        help="refuse layers that expand more than N times their compressed "
                             "size, past their first 256M (default 100)")
    parser.add_argument("--reread", action="store_true",
                        help="read every layer even when the branch already records this image")
    parser.add_argument("--no-cache", action="store_true",
                        help="read every layer, ignoring the per-layer cache (which is then "
                             "rewritten for this image)")
    parser.add_argument("--prune-cache", action="store_true",
                        help="delete the per-layer cache (refs/simapp-sync/layers/*) and keep "
                             "none for this pull")
    parser.add_argument("--check", action="store_true",
                        help="only ask whether the image moved since the last pull (no layer "
                             "is downloaded): exit 0 up to date, 1 when there is a new one")
    parser.set_defaults(handler=run, needs_workspace=True)


def run(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """CLI adapter: choose the source, then call ``pull`` (or ``check``)."""
    manifest = workspace.manifest
    if args.check:
        current = current_image(args.source, manifest,
                                insecure_registries=tuple(args.insecure_registry))
        return check(watch_upstream(workspace.repo, manifest, current), ui)
    defaults = DEFAULT_LIMITS
    limits = Limits(max_file_size=args.max_file_size or defaults.max_file_size,
                    max_layer_size=args.max_layer_size or defaults.max_layer_size,
                    max_layer_ratio=args.max_layer_ratio or defaults.max_layer_ratio)
    opener = image_opener(args.source, manifest, limits,
                          insecure_registries=tuple(args.insecure_registry))
    cache: Cache = "off" if args.prune_cache else "cold" if args.no_cache else "use"
    return pull(workspace, opener, ui, limits=limits, reread=args.reread, cache=cache,
                prune_cache=args.prune_cache)


def pull(workspace: Workspace, open_image: ImageOpener, ui: UI, *,
         limits: Limits = DEFAULT_LIMITS, reread: bool = False, cache: Cache = "use",
         prune_cache: bool = False) -> int:
    """Import the image into the manifest's upstream branch; 0 on success (changed or not)."""
    workspace.refuse_if_rebasing()
    started = time.monotonic()
    refuse_checked_out(workspace.repo, workspace.manifest.branch)
    with workspace.lock():
        if prune_cache:
            prune_checkpoints(workspace.repo)
        with ui.progress() as progress, open_image(PullProgress(progress)) as opened:
            outcome = import_image(workspace.repo, workspace.manifest, opened, limits=limits,
                                   reread=reread, cache=cache, warn=ui.warn,
                                   progress=LayerProgress(progress, len(opened.layers)))
    _report(outcome, time.monotonic() - started, ui)
    return 0


def outcome_json(outcome: PullOutcome, seconds: float) -> dict[str, Any]:
    """The --json document of a pull."""
    return {
        "image": outcome.image, "digest": outcome.digest, "image_id": outcome.image_id,
        "created": outcome.created, "branch": outcome.branch, "previous": outcome.previous,
        "commit": outcome.commit, "changed": outcome.changed, "files": outcome.report.files,
        "bytes": outcome.report.bytes, "excluded": outcome.report.excluded,
        "skipped": outcome.report.skipped, "warnings": outcome.report.warnings,
        "dropped": [{"path": item.path, "reason": item.reason, "detail": item.detail}
                    for item in outcome.dropped],
        "files_changed": outcome.files_changed, "insertions": outcome.insertions,
        "deletions": outcome.deletions, "seconds": round(seconds, 3),
    }


def check(watch: UpstreamWatch, ui: UI) -> int:
    """Report whether the upstream image moved: 0 up to date, 1 when a pull would bring news."""
    ui.emit_json(watch.as_json())
    what = f"tag {watch.tag}" if watch.tag else "pinned digest"
    created = f" (created {watch.current.created})" if watch.current.created else ""
    if watch.recorded is None:
        ui.print(f"{watch.image}: nothing pulled yet (no {watch.branch!r} branch with upstream "
                 f"trailers); now {watch.new or 'unknown'}{created}",
                 soft_wrap=True, markup=False)
        ui.hint(f"next: {program.command('pull')}")
        return 1
    if not watch.outdated:
        ui.print(f"{watch.image}: up to date ({what} still {watch.new}, pulled into "
                 f"{watch.branch} {short_oid(watch.commit)})", soft_wrap=True, markup=False)
        return 0
    how = {"digest": "", "image id": " (image ids)"}.get(
        watch.compared_by or "", " (nothing in common to compare: assumed new)")
    moved = f"upstream {what} moved" if watch.recorded.image == watch.image else \
        f"upstream {watch.recorded.image} → {watch.image}"
    ui.print(f"{moved}: {watch.old or 'unknown'} → {watch.new or 'unknown'}"
             f"{created}{how}", soft_wrap=True, markup=False)
    ui.hint(f"next: {program.command('pull')}, then {program.command('rebase-patches')}")
    return 1


class LayerProgress:
    """Shows each layer being read as a bar (bytes) with a running count of kept files."""

    def __init__(self, progress: Progress, layer_count: int) -> None:
        self.progress = progress
        self.layer_count = layer_count
        self.index = 0
        self.files = 0
        self.task: TaskID | None = None

    def start_layer(self, description: str, total: int | None) -> None:
        self.index += 1
        self.task = self.progress.add_task(f"reading {self.index}/{self.layer_count}",
                                           total=total, detail=f"{self.files:,} files")

    def advance(self, nbytes: int, files: int) -> None:
        self.files += files
        if self.task is not None:
            self.progress.update(self.task, advance=nbytes, detail=f"{self.files:,} files")

    def finish_layer(self) -> None:
        if self.task is not None:
            # by id: download bars (docker://) are added while a layer is read
            task = next(task for task in self.progress.tasks if task.id == self.task)
            self.progress.update(self.task, total=task.completed, detail=f"{self.files:,} files")
        self.task = None


def _report(outcome: PullOutcome, seconds: float, ui: UI) -> None:
    ui.emit_json(outcome_json(outcome, seconds))
    for warning in outcome.report.warnings:
        ui.warn(warning)
    identity = f"{outcome.image} ({(outcome.digest or outcome.image_id)[:19]}…)"
    if not outcome.changed:
        why = "already records this image" if not outcome.read_layers else "tree unchanged"
        ui.print(f"{outcome.branch}  up to date at {short_oid(outcome.commit)} ({why})   "
                 f"{identity}\nnothing to commit", soft_wrap=True)
        return
    arrow = f"{short_oid(outcome.previous)} → " if outcome.previous else "(new) "
    ui.print(f"{outcome.branch}  {arrow}{short_oid(outcome.commit)}   Upstream {identity}",
             soft_wrap=True)
    report = outcome.report
    skipped = ", ".join(f"{count} {kind}" for kind, count in sorted(report.skipped.items()))
    lines = (f"{outcome.files_changed:,} files" if outcome.previous is None else
             f"{outcome.files_changed:,} files (+{outcome.insertions:,} −{outcome.deletions:,})")
    table = ui.table("", "", title=None)
    table.show_header = False
    table.columns[1].overflow = "fold"
    rows = [("digest", outcome.digest or "— (archive without registry digest)"),
            ("image id", outcome.image_id),
            ("kept", f"{report.files:,} files, {_human_bytes(report.bytes)}"),
            ("changed", lines),
            ("excluded", f"{report.excluded:,}"),
            ("skipped", skipped or "0"),
            *([("dropped", f"{len(outcome.dropped)} git-special (see the warnings; recorded "
                           "as Upstream-Dropped trailers)")] if outcome.dropped else []),
            ("warnings", str(len(report.warnings))),
            ("time", f"{seconds:.1f} s")]
    for key, value in rows:
        table.add_row(f"  {key}", value)
    ui.print(table)
    ui.hint(f"next: {program.command('rebase-patches')} (carry the series onto the new upstream)")


class PullProgress:
    """Layer download bars from the engine's pull stream; totals may be unknown."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def update(self, layer: str, status: str, current: int | None, total: int | None) -> None:
        task = self.tasks.get(layer)
        if task is None:
            task = self.progress.add_task(f"pulling {layer[:12]}", total=total, detail=status)
            self.tasks[layer] = task
        self.progress.update(task, completed=current or 0, total=total, detail=status)


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{size} B"


def parse_size(text: str) -> int:
    """``sync.sizes.parse_size`` for argparse (a bad size is a usage error)."""
    try:
        return sizes.parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_ratio(text: str) -> int:
    """A whole number of 2 or more, as in ``--max-layer-ratio 1000`` (for argparse)."""
    if not text.strip().isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError(f"invalid ratio {text!r} (a whole number, 2 or more)")
    return int(text)
