"""Import an image's mapped paths into the upstream branch (what `sync pull` does).

The image is opened from the source a skopeo-style transport names (``image_opener``); its
layers are flattened straight into the object database (per-layer checkpoints make a re-read
cheap); a commit with the upstream trailers is written only when the tree changed; and the branch
moves last, by compare-and-swap against the tip read at the start. The work tree, the index and
HEAD are never touched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sync import program
from sync.config.manifest import Manifest
from sync.errors import ConfigError, DiskFault, GitError, ImageError, TransferError, disk_faults
from sync.git import Commit, Repository, objects, trees
from sync.git import repo as gitrepo
from sync.git.checkpoints import GitCheckpoints
from sync.image.flatten import flatten
from sync.image.gitfiles import Dropped, drop_git_special
from sync.image.model import ImageInfo, Limits, OpenedImage, ReadProgress, ReadReport
from sync.upstream import (
    Upstream,
    already_recorded,
    commit_message,
    read_label,
    with_dropped,
)

ARCHIVE_TRANSPORTS = ("docker-archive:", "oci-archive:", "oci:")
DAEMON_TRANSPORT = "docker-daemon:"
REGISTRY_TRANSPORT = "docker://"
DEFAULT_LIMITS = Limits()
Cache = Literal["use", "cold", "off"]


class Downloads(Protocol):
    """Receives per-layer download progress while an image is pulled (engine or registry)."""

    def update(self, layer: str, status: str, current: int | None, total: int | None) -> None:
        ...


# Given where download progress goes, opens the image (pulling it first if need be).
ImageOpener = Callable[[Downloads | None], AbstractContextManager[OpenedImage]]


@dataclass
class PullOutcome:
    """What one import did (the command reports it)."""

    image: str
    digest: str | None
    image_id: str
    created: str | None
    branch: str
    previous: str | None
    commit: str | None  # the new commit, or the unchanged tip
    changed: bool
    report: ReadReport = field(default_factory=ReadReport)
    dropped: list[Dropped] = field(default_factory=list)  # git-special files left out
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0
    read_layers: bool = True


def import_image(repo: Repository, manifest: Manifest, opened: OpenedImage, *,
                 limits: Limits = DEFAULT_LIMITS, reread: bool = False, cache: Cache = "use",
                 progress: ReadProgress | None = None,
                 warn: Callable[[str], None] = lambda _message: None) -> PullOutcome:
    """Commit ``opened``'s mapped paths to ``manifest.branch`` when they changed.

    ``cache``: "use" restores the layers already read (per-layer checkpoints in the
    repository) and keeps this image's; "cold" reads every layer but keeps this image's;
    "off" neither reads nor writes the cache. An image the branch already records is not read
    at all unless ``reread``.
    """
    tip = gitrepo.branch_tip(repo, manifest.branch)
    previous = str(tip.id) if tip is not None else None
    recorded = Upstream.of(tip) if tip is not None else None
    info = opened.info
    check_pinned_digest(manifest, info, warn)
    label, note = read_label(manifest, info)
    if note is not None:
        warn(note)
    outcome = PullOutcome(image=label, digest=info.digest, image_id=info.image_id,
                          created=info.created, branch=manifest.branch, previous=previous,
                          commit=previous, changed=False)
    if not reread and already_recorded(recorded, manifest, info):
        outcome.read_layers = False
        return outcome
    message = commit_message(manifest, info, label)  # refused here, before anything is read
    tree_id, outcome.report, checkpoints, outcome.dropped = _read_into_tree(
        repo, manifest, opened, limits, cache, progress)
    message = with_dropped(message, outcome.dropped)
    if tip is None or str(tip.tree_id) != tree_id:
        commit = gitrepo.create_commit(repo, tree_id, [previous] if previous else [], message)
        gitrepo.move_branch(repo, manifest.branch, commit, previous,
                            reflog_message=f"simapp-sync pull: {label}")
        outcome.commit, outcome.changed = commit, True
    if checkpoints is not None:
        try:  # the layer cache moves only with the branch (or an unchanged tree)
            checkpoints.commit()
        except BaseException:  # a full disk: it put itself back; the branch goes back too
            if outcome.changed:
                _put_back(repo, manifest.branch, str(outcome.commit), previous)
            raise
    if outcome.changed:
        _count_changes(repo, tip, str(outcome.commit), outcome)
    return outcome


def _put_back(repo: Repository, branch: str, commit: str, previous: str | None) -> None:
    """Undo the branch move of a pull whose layer cache could not be written."""
    try:
        gitrepo.put_back_branch(repo, branch, commit, previous)
    except Exception as error:  # the failure being raised is the one to report
        raise DiskFault(f"the pull failed and branch {branch!r} could not be put back to "
                        f"{previous or '(none)'}: {error}",
                        hint=f"run `git update-ref refs/heads/{branch} {previous}`" if previous
                        else f"run `git update-ref -d refs/heads/{branch}`") from error


def image_tree(repo: Repository, manifest: Manifest, opened: OpenedImage, *,
               limits: Limits = DEFAULT_LIMITS,
               warn: Callable[[str], None] = lambda _message: None) -> tuple[str, str]:
    """The tree and commit message `pull` would write for ``opened`` (no ref moves)."""
    info = opened.info
    check_pinned_digest(manifest, info, warn)
    label, note = read_label(manifest, info)
    if note is not None:
        warn(note)
    message = commit_message(manifest, info, label)
    tree_id, _report, checkpoints, dropped = _read_into_tree(repo, manifest, opened, limits, "use",
                                                             None)
    for item in dropped:
        warn(item.warning)
    if checkpoints is not None:
        checkpoints.commit()
    return tree_id, with_dropped(message, dropped)


def refuse_checked_out(repo: Repository, branch: str) -> None:
    """Moving a checked-out branch would leave that work tree silently stale (git refuses too)."""
    where = gitrepo.checked_out_in(repo, branch)
    if where is not None:
        raise GitError(f"branch {branch!r} is checked out in {where}: pull would move it under "
                       "that work tree and leave it stale; nothing was changed",
                       hint="switch that work tree to another branch (`git switch main`), "
                            f"then run {program.command('pull')} again")


def check_pinned_digest(manifest: Manifest, info: ImageInfo,
                        warn: Callable[[str], None]) -> None:
    """Refuse an image whose registry digest is not the one the manifest pins."""
    if not manifest.digest:
        return
    if info.digest is None:
        warn(f"the image read carries no registry digest: cannot confirm the pinned "
             f"{manifest.digest}")
    elif info.digest != manifest.digest:
        raise ImageError(f"digest mismatch: the manifest pins {manifest.digest} but the image "
                         f"read is {info.digest}",
                         hint="update `digest:` in the manifest only if this image is trusted")


def _read_into_tree(repo: Repository, manifest: Manifest, opened: OpenedImage, limits: Limits,
                    cache: Cache, progress: ReadProgress | None
                    ) -> tuple[str, ReadReport, GitCheckpoints | None, list[Dropped]]:
    """The tree of ``opened``, the checkpoints to ``commit()`` once the branch moved, and the
    git-special files left out of the tree (``sync.image.gitfiles``: what would fail
    ``git fsck --strict`` or change what git checks out).

    A refusal (bad content, a cap, a digest mismatch) writes no ref at all; only a pull
    interrupted or cut off by the network keeps the layers it finished (see below).
    """
    writer = objects.ObjectWriter(repo)
    checkpoints = (GitCheckpoints(repo, read=cache == "use", distrust=writer.distrust)
                   if cache != "off" else None)
    try:
        result = flatten(opened.layers, manifest.paths, writer, limits, progress=progress,
                         checkpoints=checkpoints)
        writer.flush()
    except (KeyboardInterrupt, TransferError):
        _keep_finished_layers(repo, writer, checkpoints)
        raise
    except BaseException:
        with contextlib.suppress(Exception):  # unreferenced objects only: git gc drops them
            writer.discard()
        raise
    report = result.report
    dropped = drop_git_special(result.tree, trees.StoredBlobs(repo))
    for item in dropped:
        report.files, report.bytes = report.files - item.files, report.bytes - item.bytes
        report.warnings.append(item.warning)
    with disk_faults(objects.WRITING_OBJECTS, gitrepo.git_dir(repo) / "objects"):
        tree = objects.write_tree(repo, result.tree)
    return tree, report, checkpoints, dropped


def _keep_finished_layers(repo: Repository, writer: objects.ObjectWriter,
                          checkpoints: GitCheckpoints | None) -> None:
    """A pull that was interrupted (Ctrl-C) or cut off by the network (a layer that would not
    download: ``TransferError``) keeps the state after each layer it finished, so that running
    it again downloads and reads only the rest. The branch does not move; the earlier
    checkpoints stay. A refused pull (bad content, a cap, a digest mismatch) keeps nothing.

    The blobs already queued are written first, and a state is kept only when every blob it
    names is on disk (``git gc`` must find what a checkpoint's tree names).
    """
    with contextlib.suppress(Exception):  # the failure being raised is the one to report
        writer.flush()
    if checkpoints is None or not checkpoints.pending:
        return
    checkpoints.pending = {key: pending for key, pending in checkpoints.pending.items()
                           if all(objects.has_object(repo, oid) for oid in pending[1])}
    with contextlib.suppress(Exception):
        checkpoints.commit(prune=False)


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


def image_opener(spec: str, manifest: Manifest, limits: Limits = DEFAULT_LIMITS, *,
                 insecure_registries: tuple[str, ...] = ()) -> ImageOpener:
    """The image source named by a skopeo-style transport (``--from``)."""
    if spec.startswith(REGISTRY_TRANSPORT):
        from sync.image.registry import open_registry_image, source_reference

        named = source_reference(spec)
        return lambda downloads: open_registry_image(
            manifest, named, insecure=insecure_registries, limits=limits, progress=downloads)
    if spec.startswith(ARCHIVE_TRANSPORTS):
        from sync.image.archive import open_archive

        return lambda _downloads: open_archive(spec, manifest.platform, limits)
    if spec.startswith(DAEMON_TRANSPORT):
        reference = spec[len(DAEMON_TRANSPORT):]
        if reference:
            raise ConfigError(f"--from {spec}: the image is named by the manifest; "
                              "use plain --from docker-daemon:")
        return lambda downloads: _daemon_image(manifest, downloads)
    raise ConfigError(f"--from {spec}: unknown transport",
                      hint="use docker-daemon:, docker://[REF], docker-archive:PATH, "
                           "oci-archive:PATH or oci:DIR")


@contextmanager
def _daemon_image(manifest: Manifest, downloads: Downloads | None) -> Iterator[OpenedImage]:
    from sync.image.daemon import open_daemon_image

    with open_daemon_image(manifest, progress=downloads) as opened:
        yield opened
