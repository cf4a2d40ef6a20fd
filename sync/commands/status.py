"""`sync status`: where this checkout stands and what to run next (the command to run when lost).

Read-only, like ``git status``: the upstream branch and the image its tip records, the
manifest's image (and whether the two differ), the series (how many patches, the upstream it is
based on), a stopped rebase (the patch, its conflicted files and which are resolved), whether
the rendered files are up to date, and files under the targets git does not track. Then the
commands to run next, in order. Exit 0 whatever it finds (it reports, it does not check).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from typing import Any

from sync import program
from sync.commands.rebase import conflict_hints
from sync.errors import SyncError
from sync.git import index as gitindex
from sync.git import worktree
from sync.render import stale_files
from sync.render_gate import render_in_memory
from sync.series.state import RebaseState
from sync.ui import UI, short_oid
from sync.untrusted import shown_path
from sync.upstream import Upstream
from sync.workspace import Workspace

SHOWN = 10  # untracked or changed paths listed by name; the rest are counted


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `status`."""
    parser = subparsers.add_parser(
        "status", parents=[common], help="where this checkout stands and what to run next",
        description="Show the upstream branch and the image it records, the manifest's image, "
                    "the patch series, a stopped rebase, whether the rendered files are stale "
                    "and untracked files under the targets; then what to run next.")
    parser.set_defaults(handler=run, needs_workspace=True)


def run(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """CLI adapter."""
    return status(workspace, ui)


@dataclass
class Standing:
    """Everything ``status`` found; ``as_json`` is its --json document."""

    branch: str
    upstream: dict[str, Any] | None
    manifest: dict[str, Any]
    manifest_differs: str | None  # why the manifest asks for another image than recorded
    patches: int
    base: str | None  # the upstream commit patches/series records
    behind: bool  # the series is based on an older upstream commit than the branch tip
    rebase: dict[str, Any] | None
    rendered: dict[str, Any]
    untracked: list[str]
    changed: list[str]
    next: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def status(workspace: Workspace, ui: UI) -> int:
    """Report the checkout's standing; always 0."""
    standing = gather(workspace)
    ui.emit_json(standing.as_json())
    if not ui.json_mode:  # which prints nothing else (and loads no rich)
        _print(standing, workspace, ui)
    return 0


def gather(workspace: Workspace) -> Standing:
    """Read everything ``status`` shows (nothing is written but unreferenced blobs)."""
    manifest = workspace.manifest
    tip = workspace.upstream_tip()
    upstream = Upstream.of(tip) if tip is not None else None
    _tree, loaded = workspace.work_series()
    base = loaded.series.base
    untracked, changed = worktree.untracked_and_changed(workspace.repo, workspace.roots)
    standing = Standing(
        branch=manifest.branch,
        upstream=None if upstream is None else {
            "commit": upstream.commit, "image": upstream.image, "tag": upstream.tag,
            "digest": upstream.digest, "image_id": upstream.image_id,
            "created": upstream.created},
        manifest={"image": manifest.image, "tag": manifest.tag, "digest": manifest.digest,
                  "reference": manifest.reference},
        manifest_differs=_differs(upstream, workspace) if upstream else None,
        patches=len(loaded.patches), base=base,
        behind=upstream is not None and base is not None and base != upstream.commit,
        rebase=_rebase(workspace), rendered=_rendered(workspace),
        untracked=untracked, changed=changed)
    standing.next = _next(standing)
    return standing


def _differs(upstream: Upstream, workspace: Workspace) -> str | None:
    manifest = workspace.manifest
    if not upstream.has_record:
        return None
    recorded = upstream.image or ""
    name = recorded.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    if name != manifest.image:
        return f"the manifest names {manifest.image}, the branch records {name}"
    if manifest.digest:
        if upstream.digest != manifest.digest:
            return f"the manifest pins {manifest.digest}, the branch records " \
                   f"{upstream.digest or 'no digest'}"
        return None
    wanted = manifest.tag or "latest"
    if upstream.tag != wanted:
        return f"the manifest asks for tag {wanted}, the branch records " \
               f"{upstream.tag or upstream.image}"
    return None


def _rebase(workspace: Workspace) -> dict[str, Any] | None:
    state: RebaseState | None = workspace.rebase_state.load()
    if state is None:
        return None
    unmerged = gitindex.unmerged_paths(workspace.repo)
    stopped = state.stopped
    conflicts = [{"path": record.path, "resolved": record.path not in unmerged}
                 for record in state.conflicts]
    return {"phase": state.phase, "onto": state.onto,
            "stopped_at": stopped.name if stopped else None,
            "index": stopped.index if stopped else None,
            "conflicts": conflicts,
            "patches": [{"index": record.index, "name": record.name, "status": record.status}
                        for record in state.reports]}


def _rendered(workspace: Workspace) -> dict[str, Any]:
    """Up to date, stale (which files), or unknown (why: the gate refused, no upstream...)."""
    try:
        rendering = render_in_memory(workspace.repo, workspace.root, workspace.manifest, None)
    except SyncError as refused:
        return {"state": "unknown", "stale": [], "reason": refused.message.splitlines()[0]}
    stale = [item.path for item in stale_files(workspace.root, rendering.files)]
    return {"state": "stale" if stale else "up to date", "stale": stale, "reason": None}


def _next(standing: Standing) -> list[str]:
    """The commands to run, most urgent first."""
    if standing.rebase is not None:
        unresolved = [item["path"] for item in standing.rebase["conflicts"]
                      if not item["resolved"]]
        if unresolved:
            return conflict_hints(unresolved)
        return [f"{program.command('rebase-patches --continue')} (the conflicts are resolved)"]
    if standing.upstream is None:
        return [program.command("pull")]
    steps = []
    if standing.manifest_differs:
        steps.append(program.command("pull"))
    if standing.behind or standing.manifest_differs:
        steps.append(program.command("rebase-patches"))
    if steps or standing.rendered["state"] == "stale":
        steps.append(program.command("render"))
    elif standing.rendered["state"] == "unknown":
        steps.append(f"{program.command('check')} (why the series does not render)")
    return steps


def _print(standing: Standing, workspace: Workspace, ui: UI) -> None:
    from rich.text import Text

    rows: list[tuple[str, str]] = []
    upstream = standing.upstream
    if upstream is None:
        rows.append(("upstream", f"branch {standing.branch!r} does not exist yet"))
    else:
        digest = upstream["digest"] or upstream["image_id"] or "no digest"
        created = f", created {upstream['created']}" if upstream["created"] else ""
        rows.append(("upstream", f"{standing.branch} {short_oid(upstream['commit'])}: "
                                 f"{upstream['image'] or 'no image recorded'} "
                                 f"({digest}{created})"))
    same = "differs: " + standing.manifest_differs if standing.manifest_differs else \
        "the image the branch records" if upstream else "not pulled yet"
    rows.append(("manifest", f"{standing.manifest['reference']} ({same})"))
    based = f"based on upstream {short_oid(standing.base)}" if standing.base else \
        "no upstream base recorded"
    if standing.behind:
        based += ", behind the branch tip"
    rows.append(("patches", f"{standing.patches} in patches/series, {based}"))
    if standing.rebase is not None:
        rows.append(("rebase", _rebase_line(standing.rebase)))
    rendered = standing.rendered
    rows.append(("rendered", rendered["state"] if rendered["state"] == "up to date" else
                 f"stale: {', '.join(rendered['stale'])}" if rendered["state"] == "stale" else
                 f"cannot tell: {rendered['reason']}"))
    targets = ", ".join(f"{target}/" for target in workspace.manifest.targets)
    rows.append(("untracked", _paths(standing.untracked) + f" (under {targets}, patches/)"))
    if standing.changed:
        rows.append(("changed", _paths(standing.changed) + " (uncommitted)"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        line = Text(f"{label.ljust(width)}  ", style="bold")
        line.append(value, style="")
        ui.print(line, soft_wrap=True)
    if standing.next:
        ui.print(Text("next:", style="bold"))
        for step in standing.next:
            ui.print(f"  {step}", markup=False, soft_wrap=True)
    else:
        ui.print("nothing to do: upstream, series and rendered files agree", markup=False)


def _rebase_line(rebase: dict[str, Any]) -> str:
    if rebase["stopped_at"] is None:
        return f"interrupted while {rebase['phase']}: finish it with --continue"
    conflicts = ", ".join(
        f"{shown_path(item['path'])} ({'resolved' if item['resolved'] else 'unresolved'})"
        for item in rebase["conflicts"]) or "the patch"
    return f"stopped at {rebase['stopped_at']} (patch {rebase['index']}): {conflicts}"


def _paths(paths: list[str]) -> str:
    if not paths:
        return "none"
    shown = ", ".join(map(shown_path, paths[:SHOWN]))
    return f"{len(paths)}: {shown}" + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN
                                        else "")
