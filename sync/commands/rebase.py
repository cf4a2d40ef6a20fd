"""`sync rebase-patches`: arguments -> one ``RebaseSession`` action -> the report and --json.

The session (``sync.series.session``) does the work and keeps its own on-disk state; this module
only translates the options, shows progress, and prints the outcome: a table (one row per
patch), the evidence for every patch that did not land clean, and what to do next. The --json
document (one object, see ``outcome_json``) is this command's output schema, independent of
the state format.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sync import program
from sync.series.resolve import ALL_RULES, RULES, RuleSet
from sync.ui import UI, ConsoleDisplay, short_oid
from sync.untrusted import shown_path

if TYPE_CHECKING:  # the session and its engine are imported when a rebase runs, not for --help
    from rich.text import Text

    from sync.series.engine import PatchReport
    from sync.series.session import Outcome
    from sync.workspace import Workspace

ACTIONS = ("start", "continue", "skip", "abort")


def conflict_hints(conflicts: Sequence[str]) -> list[str]:
    """What to run after a stop, as git's rebase says it: resolve, then continue, skip or abort."""
    files = " ".join(map(shown_path, sorted(conflicts))) or "the files of the patch"
    return [f"resolve the conflicts (git status, git diff, git mergetool), then: git add {files}",
            f"then: {program.command('rebase-patches --continue')}",
            f"or drop this patch: {program.command('rebase-patches --skip')}",
            f"or give up and restore everything: {program.command('rebase-patches --abort')}"]


def done_hints(targets: Sequence[str]) -> list[str]:
    """What to run after a rebase that finished: render, review, commit."""
    paths = " ".join(f"{target}/" for target in targets)
    return [f"next: {program.command('render')} (the Dockerfiles from the rebased series)",
            f"review: {program.command('patches range-diff')} · "
            f"{program.command('report --format html -o review.html')}",
            f"then commit: git add -A patches/ {paths} and the rendered files"]


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `rebase-patches` and its options."""
    parser = subparsers.add_parser(
        "rebase-patches", parents=[common],
        help="re-apply patches/series onto the upstream branch (3-way, resumable)",
        description="Apply the patch series onto the tip of the upstream branch (or --onto), "
                    "refresh the patches, record the new base and write the targets.")
    parser.add_argument("--onto", metavar="REV", default=None,
                        help="the upstream commit to rebase onto (default: the manifest's branch)")
    parser.add_argument("--fuzz", type=_fuzz, default=0, metavar="N",
                        help="ignore up to N context lines at each end of a hunk (default 0; "
                             "always reported)")
    parser.add_argument("--keep-absorbed", action="store_true",
                        help="keep patches that upstream now contains (absorbed) or that became "
                             "empty in the series (default: remove them, listed; git am and "
                             "quilt cannot apply them)")
    parser.add_argument("--drop-merged", action="store_true",
                        help="remove absorbed and empty patches (the default; kept for scripts)")
    parser.add_argument("--no-rule", action="append", default=[], metavar="RULE",
                        choices=[*RULES, "all"],
                        help="turn a merge rule off (repeatable; 'all' leaves git's plain "
                             f"3-way merge): {', '.join(RULES)}")
    parser.add_argument("--force", action="store_true",
                        help="start even with uncommitted changes in the targets or patches/")
    actions = parser.add_mutually_exclusive_group()
    for action, text in (("continue", "go on after resolving the conflicts"),
                         ("skip", "drop the conflicting patch from the series and go on"),
                         ("abort", "restore patches/ and the targets as they were")):
        actions.add_argument(f"--{action}", dest="action", action="store_const", const=action,
                             help=text)
    parser.set_defaults(handler=run, needs_workspace=True, action="start")


def run(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """CLI adapter."""
    return rebase_patches(workspace, ui, onto=args.onto, fuzz=args.fuzz,
                          drop_merged=not args.keep_absorbed, force=args.force,
                          action=args.action,
                          rules=RuleSet.without(args.no_rule))


def _fuzz(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fuzz needs a number, not {text!r}") from None
    if not 0 <= value <= 10:
        raise argparse.ArgumentTypeError("--fuzz must be between 0 and 10")
    return value


def rebase_patches(workspace: Workspace, ui: UI, *, onto: str | None = None, fuzz: int = 0,
                   drop_merged: bool = True, force: bool = False, action: str = "start",
                   rules: RuleSet = ALL_RULES) -> int:
    """Rebase ``patches/series`` onto ``onto`` (default: the upstream branch); 0 done, 1 conflict.

    ``action`` is "start", or "continue", "skip", "abort" for a stopped rebase.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    from sync.series.state import still_in_progress

    started = time.monotonic()
    display = ConsoleDisplay(ui)
    session = workspace.session(display)
    with workspace.lock():
        if action == "start":
            outcome = session.start(onto, fuzz=fuzz, drop_merged=drop_merged, force=force,
                                    rules=rules)
        else:  # a disk fault leaves the rebase in progress, and the hint says so
            with still_in_progress():
                outcome = session.abort() if action == "abort" else \
                    session.resume(skip=action == "skip")
    if ui.json_mode:
        ui.emit_json(outcome_json(outcome, time.monotonic() - started, display.warnings))
    else:
        _report(outcome, ui, session.targets)  # the rebase's own (the manifest may be newer)
    return 1 if outcome.stopped else 0


# --- --json ------------------------------------------------------------------------------------
def outcome_json(outcome: Outcome, seconds: float, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The --json document: the action, its status ("done", "conflict", "aborted"), one row
    per patch (``patch_json``), where it stopped, what it wrote, and the warnings shown."""
    status = "aborted" if outcome.aborted else "conflict" if outcome.stopped else "done"
    rows = outcome.reports + ([outcome.stopped] if outcome.stopped else [])
    return {
        "action": outcome.action, "status": status, "onto": outcome.onto,
        "base": outcome.base, "patches": [patch_json(report) for report in rows],
        "stopped_at": outcome.stopped.name if outcome.stopped else None,
        "conflicts": list(outcome.stopped.conflicts) if outcome.stopped else [],
        "dropped": [report.name for report in outcome.reports if report.dropped],
        "rewritten": [report.name for report in outcome.reports if report.rewritten],
        "files_written": outcome.written, "files_removed": outcome.removed,
        "staged_outside_patch": outcome.staged_outside,
        "left_untracked": outcome.left_untracked, "warnings": list(warnings),
        "seconds": round(seconds, 3),
    }


def patch_json(report: PatchReport) -> dict[str, Any]:
    """One patch's row in the --json document."""
    return {"index": report.index, "name": report.name, "status": report.status.value,
            "files": report.files, "added": report.added, "removed": report.removed,
            "offset": report.offset, "fuzz": report.fuzz, "evidence": list(report.evidence),
            "rewritten": report.rewritten,
            "dropped": report.dropped, "conflicts": list(report.conflicts),
            "renamed": [{"from": old, "to": new} for old, new in report.renamed],
            "rules": dict(report.rules)}


def _list(paths: Sequence[str], limit: int = 12) -> str:
    ordered = sorted(paths)
    shown = ", ".join(map(shown_path, ordered[:limit]))
    return shown + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")


# --- output ------------------------------------------------------------------------------------
# by the name of each ``Status`` (the domain's enum is imported when a rebase runs)
_STYLE = {"CLEAN": "green", "OFFSET": "green", "FUZZ": "yellow", "MERGED": "yellow",
          "PARTLY_UPSTREAM": "cyan", "ALREADY_UPSTREAM": "cyan", "EMPTY": "cyan",
          "RESOLVED": "yellow", "SKIPPED": "magenta", "CONFLICT": "bold red"}


def _table(rows: Sequence[PatchReport]) -> Text:
    """One row per patch. Aligned here rather than with rich's Table, which lays out every
    cell on its own and takes seconds for a series of a thousand patches."""
    from rich.text import Text

    from sync.series.outcome import Status

    cells = [("#", "patch", "status", "files", "±lines")]
    for report in rows:
        absorbed = report.status in (Status.ALREADY_UPSTREAM, Status.EMPTY, Status.SKIPPED)
        # the row the rebase stopped at shouts, as git's CONFLICT lines do
        status = report.status_text
        if report.status is Status.CONFLICT:
            status = "CONFLICT" + status.removeprefix(Status.CONFLICT.value)
        cells.append((str(report.index), report.name, status,
                      "—" if absorbed else str(report.files),
                      "—" if absorbed else f"+{report.added} −{report.removed}"))
    widths = [max(len(row[column]) for row in cells) for column in range(5)]
    lines = []
    for number, row in enumerate(cells):
        line = Text(style="bold" if number == 0 else "")
        line.append(row[0].rjust(widths[0]) + "  " + row[1].ljust(widths[1]) + "  ")
        style = _STYLE[rows[number - 1].status.name] if number else ""
        line.append(row[2].ljust(widths[2]), style=style)
        line.append("  " + row[3].rjust(widths[3]) + "  " + row[4].rjust(widths[4]))
        lines.append(line)
    return Text("\n").join(lines)


def _report(result: Outcome, ui: UI, targets: Sequence[str]) -> None:
    from sync.series.outcome import Status

    if result.aborted:
        ui.print(f"rebase aborted: patches/ and the targets are back as they were "
                 f"({result.written} files restored, {result.removed} removed)")
        return
    rows = result.reports + ([result.stopped] if result.stopped else [])
    if rows:
        ui.print(_table(rows), soft_wrap=True)
    if result.staged_outside:
        ui.print(f"taken into the resolved patch because they were staged (outside its files): "
                 f"{_list(result.staged_outside)}", markup=False, soft_wrap=True)
    if result.left_untracked:
        ui.print(f"left untracked, not part of any patch: {_list(result.left_untracked)}",
                 markup=False, soft_wrap=True)
    for report in rows:
        if report.status not in (Status.CLEAN, Status.OFFSET) or report.dropped \
                or report.renamed:
            for line in report.evidence:
                ui.print(f"  {report.name}: {line}", markup=False, soft_wrap=True)
    if result.stopped is not None:
        ui.print(f"stopped at {result.stopped.name}: "
                 f"{_list(result.stopped.conflicts) or 'the patch'} has conflicts", markup=False,
                 soft_wrap=True)
        for line in conflict_hints(result.stopped.conflicts):
            ui.hint(line)
        return
    base = f"{short_oid(result.base)} → " if result.base else ""
    rewritten = sum(1 for report in result.reports if report.rewritten)
    dropped = [report.name for report in result.reports if report.dropped]
    ui.print(f"series rebased onto upstream {base}{short_oid(result.onto)}: "
             f"{len(result.reports)} patches, {rewritten} refreshed, {len(dropped)} dropped; "
             f"{result.written} files written, {result.removed} removed", markup=False,
             soft_wrap=True)
    absorbed = [report.name for report in result.reports
                if report.dropped and report.status.absorbed]
    if absorbed:
        ui.print(f"  REMOVED from the series, nothing of them left to apply (absorbed by upstream "
                 f"or empty): {', '.join(absorbed)}; their files are gone from patches/, and the "
                 "commit you make keeps them in history", markup=False, soft_wrap=True)
    if dropped:
        ui.print(f"  dropped from the series: {', '.join(dropped)}", markup=False,
                 soft_wrap=True)
    for line in done_hints(targets):
        ui.hint(line)


