"""`sync check [--rev REV]`: are the targets exactly upstream + the series? CI runs this.

The series is applied in memory (fuzz 0, 3-way from the recorded base) onto the upstream commit
recorded in ``patches/series`` (``# upstream: <commit>``; without a record, the tip of the
upstream branch), and the result is compared with the targets of the work tree, or of commit
``--rev``. Exit 0 when they are equal; 1 naming each drifting file (modified, missing,
unexplained), or the patch that does not apply; 2 on bad input (no such commit, malformed
series). Nothing is written but unreferenced blobs in the object database.
"""

from __future__ import annotations

import argparse
from typing import Any

from sync import program
from sync.series.outcome import NOT_TRIED
from sync.series.verify import DriftKind, Verification, inexact_lines, verify
from sync.ui import UI, short_oid
from sync.untrusted import shown_path
from sync.workspace import Workspace


def _hint() -> str:
    return (f"capture intended edits with `{program.command('patches new NAME')}`, or restore "
            "the files with `git restore`")


_STYLE = {DriftKind.MODIFIED: "yellow", DriftKind.MISSING: "red",
          DriftKind.UNEXPLAINED: "magenta"}


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `check`."""
    parser = subparsers.add_parser(
        "check", parents=[common], help="verify that the targets equal upstream + series",
        description="Verify that the targets in the work tree (or in commit REV) equal the "
                    "recorded upstream base with the patch series applied. Exit 1 naming "
                    "each drifting file.")
    parser.add_argument("--rev", metavar="REV", default=None,
                        help="check the targets and patches/ of this commit instead of the "
                             "work tree")
    parser.set_defaults(handler=run, needs_workspace=True)


def run(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """CLI adapter."""
    return check(workspace, ui, rev=args.rev)


def check(workspace: Workspace, ui: UI, *, rev: str | None = None) -> int:
    """0 when the targets (of the work tree, or of ``rev``) equal upstream + series, else 1."""
    if rev is None:  # a commit's series is settled whatever the work tree is doing
        workspace.refuse_if_rebasing()
        tree, loaded = workspace.work_series()
    else:
        tree = str(workspace.commit(rev).tree_id)
        loaded = workspace.series_at(tree)
    upstream = workspace.base_of(loaded)
    targets = workspace.manifest.targets
    result = verify(workspace.repo, loaded, upstream.tree, tree, targets)
    where = rev if rev is not None else "the work tree"
    ui.emit_json(_as_json(result, upstream.commit, upstream.recorded, rev,
                          [item.entry.name for item in loaded.patches]))
    _report(result, ui, where, upstream.commit, ", ".join(f"{t}/" for t in targets))
    return 0 if result.clean else 1


def _as_json(result: Verification, upstream: str, recorded: bool, rev: str | None,
             names: list[str]) -> dict[str, Any]:
    stop = result.applied.stop
    reports = [*result.applied.reports, *([stop.report] if stop else [])]
    found = [report.status.value for report in reports]
    found += [NOT_TRIED] * (len(names) - len(found))
    return {"clean": result.clean, "rev": rev, "upstream": upstream,
            "upstream_recorded": recorded, "patches": len(names),
            "statuses": [{"index": number, "name": name, "status": status}
                         for number, (name, status) in enumerate(zip(names, found,
                                                                     strict=True), 1)],
            "drift": [item.as_json() for item in result.drift],
            "inexact": [item.as_json() for item in result.inexact],
            "markers": list(result.markers),
            "conflict": None if stop is None else {
                "patch": stop.report.name, "files": list(stop.report.conflicts),
                "evidence": list(stop.report.evidence)}}


def _report(result: Verification, ui: UI, where: str, upstream: str, targets: str) -> None:
    where_up = f"upstream {short_oid(upstream)}"
    base = f"{where_up} + series"
    stop = result.applied.stop
    if stop is not None:
        files = ", ".join(map(shown_path, stop.report.conflicts)) or "the patch"
        ui.print(f"{stop.report.name} does not apply to {where_up}: {files}", markup=False,
                 soft_wrap=True)
        for line in stop.report.evidence:
            ui.print(f"  {line}", markup=False, soft_wrap=True)
        ui.print(f"  refresh the series with `{program.command('rebase-patches')}`", markup=False)
        return
    if result.inexact or result.markers:
        _report_series(result, ui, where_up)
    if not result.drift:
        if result.inexact or result.markers:
            return
        patches = _count(len(result.applied.reports), "patch", "patches")
        ui.print(f"{targets} in {where} = {base} ({patches}): no drift", markup=False,
                 soft_wrap=True)
        return
    ui.print(f"{_count(len(result.drift), 'file', 'files')} in {where} "
             f"differ from {base}:", markup=False, soft_wrap=True)
    from rich.text import Text  # here: a --json run prints nothing and loads no rich

    width = max(len(kind.value) for kind in DriftKind)
    for item in result.drift:
        row = Text("  ")
        row.append(item.kind.value.ljust(width), style=_STYLE[item.kind])
        row.append(f"  {shown_path(item.path)}")
        ui.print(row, soft_wrap=True)
    ui.print(f"  {_hint()}", markup=False, soft_wrap=True)


def _report_series(result: Verification, ui: UI, where_up: str) -> None:
    """Patches that do not apply exactly, and files the series leaves conflict markers in."""
    if result.inexact:
        ui.print(inexact_lines(result.inexact, where_up), markup=False, soft_wrap=True)
        ui.print(f"  refresh the series with `{program.command('rebase-patches')}` (it rewrites "
                 "each such patch so that git apply and quilt push --fuzz=0 take it as is)",
                 markup=False, soft_wrap=True)
    if result.markers:
        ui.print(f"conflict markers the series writes into: {', '.join(result.markers)}",
                 markup=False, soft_wrap=True)
        ui.print("  an unresolved conflict was captured in a patch: resolve it and refresh the "
                 "patch", markup=False, soft_wrap=True)


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"
