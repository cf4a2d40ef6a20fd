"""`sync pull`: read the upstream image's mapped paths and commit them to the upstream branch.

Only the object database and the branch ref change: blobs stream straight in, the tree is built
in memory, and the ref moves last, by compare-and-swap against the tip read at the start.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.progress import Progress, TaskID

from sync.config.manifest import MANIFEST_NAME, Manifest, load_manifest
from sync.errors import ConfigError, ImageError
from sync.git import Commit, Repository, objects
from sync.git import repo as gitrepo
from sync.git.checkpoints import GitCheckpoints, prune_checkpoints
from sync.image.current import current_image
from sync.image.flatten import flatten
from sync.image.model import ImageInfo, Limits, OpenedImage, ReadReport
from sync.ui import UI, short_oid
from sync.upstream import Upstream, already_recorded, commit_message
from sync.watch import UpstreamWatch, watch_upstream

ARCHIVE_TRANSPORTS = ("docker-archive:", "oci-archive:", "oci:")
DAEMON_TRANSPORT = "docker-daemon:"
REGISTRY_TRANSPORT = "docker://"
DEFAULT_LIMITS = Limits()


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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: UI) -> int:
    """CLI adapter: build the collaborators, then call ``pull`` (or ``check``)."""
    repo = gitrepo.open_repository(Path(args.directory))
    root = gitrepo.work_tree(repo)
    manifest = load_manifest(Path(args.manifest) if args.manifest else root / MANIFEST_NAME)
    if args.check:
        current = current_image(args.source, manifest,
                                insecure_registries=tuple(args.insecure_registry))
        return check(watch_upstream(repo, manifest, current), ui)
    defaults = DEFAULT_LIMITS
    limits = Limits(max_file_size=args.max_file_size or defaults.max_file_size,
                    max_layer_size=args.max_layer_size or defaults.max_layer_size)
    opener = image_opener(args.source, manifest, limits,
                          insecure_registries=tuple(args.insecure_registry))
    if args.prune_cache:
        prune_checkpoints(repo)
    cache: Literal["use", "cold", "off"] = (
        "off" if args.prune_cache else "cold" if args.no_cache else "use")
    return pull(repo, manifest, opener, ui, limits=limits, reread=args.reread, cache=cache)


@dataclass
class PullOutcome:
    """Everything the summary and --json report."""

    image: str
    digest: str | None
    image_id: str
    created: str | None
    branch: str
    previous: str | None
    commit: str | None  # the new commit, or the unchanged tip
    changed: bool
    report: ReadReport = field(default_factory=ReadReport)
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0
    seconds: float = 0.0
    read_layers: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "image": self.image, "digest": self.digest, "image_id": self.image_id,
            "created": self.created, "branch": self.branch, "previous": self.previous,
            "commit": self.commit, "changed": self.changed, "files": self.report.files,
            "bytes": self.report.bytes, "excluded": self.report.excluded,
            "skipped": self.report.skipped, "warnings": self.report.warnings,
            "files_changed": self.files_changed, "insertions": self.insertions,
            "deletions": self.deletions, "seconds": round(self.seconds, 3),
        }


# Given the command's live progress display, opens the image (pulling it first if need be).
ImageOpener = Callable[[Progress], AbstractContextManager[OpenedImage]]


def pull(repo: Repository, manifest: Manifest, open_image: ImageOpener, ui: UI, *,
         limits: Limits = DEFAULT_LIMITS, reread: bool = False,
         cache: Literal["use", "cold", "off"] = "use") -> int:
    """Import the image into ``manifest.branch``; 0 on success (changed or not).

    ``cache``: "use" restores the layers already read (per-layer checkpoints in the
    repository) and keeps this image's; "cold" reads every layer but keeps this image's;
    "off" neither reads nor writes the cache.
    """
    started = time.monotonic()
    tip = gitrepo.branch_tip(repo, manifest.branch)
    previous = str(tip.id) if tip is not None else None
    recorded = Upstream.of(tip) if tip is not None else None
    with ui.progress() as progress, open_image(progress) as opened:
        info = opened.info
        _check_pinned_digest(manifest, info, ui)
        outcome = PullOutcome(image=manifest.reference, digest=info.digest,
                              image_id=info.image_id, created=info.created,
                              branch=manifest.branch, previous=previous, commit=previous,
                              changed=False)
        if not reread and already_recorded(recorded, manifest, info):
            outcome.read_layers = False
        else:
            tree_id, outcome.report = _read_into_tree(repo, manifest, opened, progress, limits,
                                                      cache)
            if tip is None or str(tip.tree_id) != tree_id:
                parents = [previous] if previous else []
                commit = gitrepo.create_commit(repo, tree_id, parents,
                                               commit_message(manifest, info))
                gitrepo.move_branch(repo, manifest.branch, commit, previous,
                                    reflog_message=f"simapp-sync pull: {manifest.reference}")
                outcome.commit, outcome.changed = commit, True
                _count_changes(repo, tip, commit, outcome)
    outcome.seconds = time.monotonic() - started
    _report(outcome, ui)
    return 0


def check(watch: UpstreamWatch, ui: UI) -> int:
    """Report whether the upstream image moved: 0 up to date, 1 when a pull would bring news."""
    ui.emit_json(watch.as_json())
    what = f"tag {watch.tag}" if watch.tag else "pinned digest"
    created = f" (created {watch.current.created})" if watch.current.created else ""
    if watch.recorded is None:
        ui.print(f"{watch.image}: nothing pulled yet (no {watch.branch!r} branch with upstream "
                 f"trailers); now {watch.new or 'unknown'}{created}\n"
                 "  run `python -m sync pull`", soft_wrap=True, markup=False)
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
             f"{created}{how}\n  run `python -m sync pull`, then `python -m sync "
             "rebase-patches`", soft_wrap=True, markup=False)
    return 1


def _check_pinned_digest(manifest: Manifest, info: ImageInfo, ui: UI) -> None:
    if not manifest.digest:
        return
    if info.digest is None:
        ui.warn(f"the image read carries no registry digest: cannot confirm the pinned "
                f"{manifest.digest}")
    elif info.digest != manifest.digest:
        raise ImageError(f"digest mismatch: the manifest pins {manifest.digest} but the image "
                         f"read is {info.digest}",
                         hint="update `digest:` in the manifest only if this image is trusted")


def _read_into_tree(repo: Repository, manifest: Manifest, opened: OpenedImage,
                    progress: Progress, limits: Limits,
                    cache: str = "use") -> tuple[str, ReadReport]:
    checkpoints = GitCheckpoints(repo, read=cache == "use") if cache != "off" else None
    with objects.ObjectWriter(repo) as writer:
        result = flatten(opened.layers, manifest.paths, writer, limits,
                         progress=LayerProgress(progress, len(opened.layers)),
                         checkpoints=checkpoints)
    if checkpoints is not None:
        checkpoints.commit()  # the blobs its states name are on disk now
    return objects.write_tree(repo, result.tree), result.report


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


def _count_changes(repo: Repository, tip: Commit | None, commit: str,
                   outcome: PullOutcome) -> None:
    if tip is None:
        outcome.files_changed = outcome.report.files
        return
    new = gitrepo.commit_by_id(repo, commit)
    assert new is not None
    stats = gitrepo.diff_stats(repo, str(tip.tree_id), str(new.tree_id))
    outcome.files_changed, outcome.insertions, outcome.deletions = (
        stats.files_changed, stats.insertions, stats.deletions)


def _report(outcome: PullOutcome, ui: UI) -> None:
    ui.emit_json(outcome.as_json())
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
            ("warnings", str(len(report.warnings))),
            ("time", f"{outcome.seconds:.1f} s")]
    for key, value in rows:
        table.add_row(f"  {key}", value)
    ui.print(table)


def image_opener(spec: str, manifest: Manifest, limits: Limits = DEFAULT_LIMITS, *,
                 insecure_registries: tuple[str, ...] = ()) -> ImageOpener:
    """The image source named by a skopeo-style transport (``--from``)."""
    if spec.startswith(REGISTRY_TRANSPORT):
        from sync.image.registry import open_registry_image, source_reference

        named = source_reference(spec)
        return lambda progress: open_registry_image(
            manifest, named, insecure=insecure_registries, limits=limits,
            progress=PullProgress(progress))
    if spec.startswith(ARCHIVE_TRANSPORTS):
        from sync.image.archive import open_archive

        return lambda _progress: open_archive(spec, manifest.platform, limits)
    if spec.startswith(DAEMON_TRANSPORT):
        reference = spec[len(DAEMON_TRANSPORT):]
        if reference:
            raise ConfigError(f"--from {spec}: the image is named by the manifest; "
                              "use plain --from docker-daemon:")
        return lambda progress: _daemon_image(manifest, progress)
    raise ConfigError(f"--from {spec}: unknown transport",
                      hint="use docker-daemon:, docker://[REF], docker-archive:PATH, "
                           "oci-archive:PATH or oci:DIR")


@contextmanager
def _daemon_image(manifest: Manifest, progress: Progress) -> Iterator[OpenedImage]:
    from sync.image.daemon import open_daemon_image

    with open_daemon_image(manifest, progress=PullProgress(progress)) as opened:
        yield opened


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
    """``512M``, ``4G``, ``1.5GiB`` or plain bytes (for argparse)."""
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    number = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = number[-1] if number and number[-1] in units else ""
    try:
        value = int(float(number[: len(number) - len(unit)]) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (examples: 512M, 4G)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return value
