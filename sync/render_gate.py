"""The render gate: Dockerfiles are rendered and images built only from "upstream + series".

Shared by `render` and `build`. Before anything is written or built:

0. no rebase-patches may be stopped (``RebaseInProgress``, exit 1: the series is not settled);
1. the series is applied, in memory, to the tip of the upstream branch (fuzz 0: fuzz can
   misapply silently, so a patch that needs it is not clean); a conflict refuses, naming the
   patch and its files;
2. the work tree's targets must equal that result (the comparison `sync check` makes against
   the recorded base, shared in ``sync.series.verify``); any drifting file refuses, named.

Both refusals are ``CheckFailed`` (exit 1). The gate reads the work tree and the object database
only; the blobs it stores on the way are unreferenced and harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sync import program
from sync.build_context import check_declared, check_sources, copy_sources
from sync.config.manifest import MANIFEST_NAME, Manifest
from sync.config.variants import Variant
from sync.config.version import VERSION_NAME, read_version_info
from sync.errors import CheckFailed, GitError
from sync.git import Repository, worktree
from sync.git import repo as gitrepo
from sync.git.trees import TreeSource
from sync.render import TEMPLATE_NAME, RenderedFile, dockerfile_path, render_all
from sync.series.engine import PatchReport
from sync.series.load import PATCHES, load_series
from sync.series.outcome import Status
from sync.series.state import StateStore
from sync.series.verify import drift_lines, inexact_lines, verify
from sync.upstream import Upstream


@dataclass(frozen=True)
class GateResult:
    """The gate passed: what the images get labelled with, and how each patch landed."""

    upstream: Upstream
    reports: tuple[PatchReport, ...]

    def summary(self) -> str:
        """One line for the command's output, e.g. "3 patches apply to upstream 1a2b3c4 ..."."""
        counts: dict[str, int] = {}
        for report in self.reports:
            counts[report.status.value] = counts.get(report.status.value, 0) + 1
        detail = ", ".join(f"{count} {status}" for status, count in counts.items())
        patches = f"{len(self.reports)} patch{'es' if len(self.reports) != 1 else ''}"
        return (f"series: {patches} apply to upstream {self.upstream.commit[:7]}"
                f"{f' ({detail})' if detail else ''}; the work tree matches")


@dataclass(frozen=True)
class Rendering:
    """A gated rendering (nothing written yet): what `render` writes and `build` builds."""

    variants: tuple[Variant, ...]  # the selected ones
    declared: tuple[Variant, ...]  # all of them
    version: str
    files: tuple[RenderedFile, ...]
    gate: GateResult


def render_in_memory(repo: Repository, root: Path, manifest: Manifest,
                     names: list[str] | None) -> Rendering:
    """Validate the inputs, pass the gate, render (writing nothing), check the build context
    (``sync.build_context``: declared image files, COPY sources, .dockerignore)."""
    declared = manifest.declared_variants
    selected = manifest.select_variants(names)
    version = read_version_info(root / VERSION_NAME)
    shown = manifest.path.name if manifest.path is not None else MANIFEST_NAME
    check_declared(root, manifest.image_files, shown)
    gate = render_gate(repo, manifest)
    files = render_all(root / TEMPLATE_NAME, selected, declared, version.version, gate.upstream,
                       manifest.platform, name=TEMPLATE_NAME, version_info=version.info)
    dockerfiles = {dockerfile_path(variant.name) for variant in selected}
    sources = [source for file in files if file.path in dockerfiles
               for source in copy_sources(file.path, file.text)]
    check_sources(root, sources, manifest.image_files, shown)
    return Rendering(selected, declared, version.version, files, gate)


def render_gate(repo: Repository, manifest: Manifest) -> GateResult:
    """Pass (returning the upstream identity) or raise ``CheckFailed`` naming what is wrong."""
    tip = gitrepo.branch_tip(repo, manifest.branch)
    if tip is None:
        raise GitError(f"branch {manifest.branch!r} does not exist: nothing to render from",
                       hint=f"run `{program.command('pull')}` first")
    StateStore(gitrepo.git_dir(repo)).refuse_if_in_progress()
    # a branch made by hand records no image: label with what the manifest asks for
    upstream = Upstream.of(tip).labelled_as(manifest)
    snap = worktree.snapshot(repo, (*manifest.targets, PATCHES))
    loaded = load_series(TreeSource(repo, snap.tree), manifest.targets)
    checked = verify(repo, loaded, str(tip.tree_id), snap.tree, manifest.targets)
    applied = checked.applied
    where = f"upstream {upstream.commit[:7]}"
    if applied.stop is not None:
        raise CheckFailed(
            f"the patch series does not apply cleanly to {where}:\n"
            + _patch_lines([*applied.reports, applied.stop.report])
            + "\n  (later patches were not tried)",
            hint=f"run `{program.command('rebase-patches')}`, resolve the conflicts, commit, then "
                 "try again")
    if checked.inexact or checked.markers:
        lines = [inexact_lines(checked.inexact, where)] if checked.inexact else []
        if checked.markers:
            lines.append(f"  conflict markers in: {', '.join(checked.markers)}")
        raise CheckFailed(
            "the patch series does not apply exactly:\n" + "\n".join(lines),
            hint=f"run `{program.command('rebase-patches')}` to refresh the series, resolve "
                 "what it reports, commit, then try again")
    if checked.drift:
        raise CheckFailed(
            f"the work tree's targets differ from {where} + series:\n"
            + drift_lines(checked.drift),
            hint=f"capture intended edits with `{program.command('patches new NAME')}`, or run "
                 f"`{program.command('rebase-patches')}` to rewrite the targets "
                 f"(`{program.command('check')}` shows the drift)")
    return GateResult(upstream, applied.reports)


def _patch_lines(reports: Sequence[PatchReport]) -> str:
    lines = []
    for report in reports:
        if report.status in (Status.CONFLICT, Status.FUZZ):
            files = ", ".join(report.conflicts) or "the patch"
            lines.append(f"  {report.name}: {report.status.value} in {files}")
    return "\n".join(lines)
