"""`sync patches list|show|new|range-diff`: look at the series, grow it, review a rebase.

- ``list``: one row per patch, with its status against the tip of the upstream branch as
  ``apply_series`` reports it (fuzz 0; after a conflict the later patches are "not tried").
- ``show NAME``: the header (mail and DEP-3 fields), then the diff, highlighted; paged on a tty.
- ``new NAME [-m MESSAGE]``: the edits in the targets that upstream + series does not explain
  become a new patch at the end of the series (written like a refreshed patch; the patch file
  first, then ``patches/series``, each atomically).
- ``range-diff [OLD_REV]``: each patch in OLD_REV against the work tree's version. OLD_REV
  defaults to HEAD when ``patches/`` has uncommitted changes (a rebase not yet committed), else
  to the parent of the last commit that changed ``patches/`` (the series before the last
  rebase or edit).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from sync import program
from sync.commands.range_diff import range_diff_command
from sync.git import repo as gitrepo
from sync.series.capture import capture_patch, check_patch_name
from sync.series.load import PATCHES, SERIES, SeriesPatch
from sync.series.split import DEFAULT_MAX_PATCH_SIZE, parse_patch_size
from sync.series.verify import statuses
from sync.ui import UI, short_oid
from sync.untrusted import shown_path
from sync.workspace import Workspace

if TYPE_CHECKING:
    from rich.text import Text


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `patches` and its subcommands (each takes the common options)."""
    parser = subparsers.add_parser("patches", help="list, show, add and review the patch series",
                                   description="Look at the patch series, capture edits into "
                                               "a new patch, review what a rebase changed.")
    commands = parser.add_subparsers(dest="patches_command", metavar="SUBCOMMAND", required=True)
    listing = commands.add_parser("list", parents=[common], help="one row per patch, with its "
                                  "status against the current upstream")
    listing.set_defaults(handler=run_list, needs_workspace=True)
    show = commands.add_parser("show", parents=[common], help="a patch's header and diff")
    show.add_argument("name", metavar="NAME", help="patch file name (or its number)")
    show.set_defaults(handler=run_show, needs_workspace=True)
    new = commands.add_parser("new", parents=[common], help="capture uncaptured edits in the "
                              "targets into a new patch at the end of the series")
    new.add_argument("name", metavar="NAME", help="file name of the new patch in patches/")
    new.add_argument("-m", "--message", default=None,
                     help="subject (first line) and description (default: from NAME)")
    new.add_argument("--max-patch-size", type=parse_patch_size, default=DEFAULT_MAX_PATCH_SIZE,
                     metavar="SIZE", help="split the edits across NAME-1, NAME-2, ... so that "
                     "no patch exceeds SIZE (default 50M; a file over 100M is refused)")
    new.set_defaults(handler=run_new, needs_workspace=True)
    review = commands.add_parser("range-diff", parents=[common], help="what each patch's "
                                 "change became since OLD_REV (an interdiff per patch)")
    review.add_argument("old", metavar="OLD_REV", nargs="?", default=None,
                        help="the commit holding the series before (default: HEAD when "
                             "patches/ has uncommitted changes, else the parent of the last "
                             "commit that changed patches/)")
    review.add_argument("--changed-only", action="store_true",
                        help="leave out the patches whose change did not change")
    review.set_defaults(handler=run_range_diff, needs_workspace=True)


def run_list(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    return list_patches(workspace, ui)


def run_show(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    return show_patch(workspace, ui, args.name)


def run_new(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    return new_patch_command(workspace, ui, args.name, message=args.message,
                             max_size=args.max_patch_size)


def run_range_diff(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    return range_diff_command(workspace, ui, old=args.old, changed_only=args.changed_only)


# --- list --------------------------------------------------------------------------------------
def list_patches(workspace: Workspace, ui: UI) -> int:
    """The series as a table (or --json), statuses against the upstream branch's tip."""
    _tree, loaded = workspace.work_series()
    tip = workspace.upstream_tip()
    found: list[tuple[str | None, str | None]] = [(None, None)] * len(loaded.patches)
    if tip is None:
        ui.warn(f"branch {workspace.manifest.branch!r} does not exist: no statuses "
                f"(run `{program.command('pull')}` first)")
    else:
        found = [*statuses(workspace.repo, loaded, str(tip.tree_id))]
    rows = [_row(number, item, status)
            for number, (item, status) in enumerate(zip(loaded.patches, found, strict=True), 1)]
    ui.emit_json({"upstream": str(tip.id) if tip else None, "base": loaded.series.base,
                  "patches": rows})
    if rows and not ui.json_mode:  # the table is built (with rich) only to be shown
        ui.print(_table(rows), soft_wrap=True)
    where = f"upstream {short_oid(tip.id)}" if tip else "no upstream"
    ui.print(f"{len(rows)} patch{'es' if len(rows) != 1 else ''}; statuses against {where}",
             markup=False)
    return 0


def _row(number: int, item: SeriesPatch,
         status: tuple[str | None, str | None]) -> dict[str, Any]:
    patch = item.patch
    return {"index": number, "name": item.entry.name, "subject": patch.meta.subject,
            "files": len(patch.files), "added": patch.added, "removed": patch.removed,
            "status": status[0], "status_text": status[1],
            "forwarded": patch.meta.field("Forwarded")}


def _table(rows: list[dict[str, Any]]) -> Text:
    """Aligned by hand, as the rebase report is: rich's Table lays out every cell on its own,
    which takes seconds for a series of a thousand patches."""
    from rich.text import Text

    cells = [("#", "patch", "subject", "files", "±lines", "status", "forwarded")]
    for row in rows:
        cells.append((str(row["index"]), row["name"], _cut(row["subject"] or "", 50),
                      str(row["files"]), f"+{row['added']} −{row['removed']}",
                      row["status_text"] or "—", row["forwarded"] or "—"))
    widths = [max(len(cell[column]) for cell in cells) for column in range(7)]
    lines = []
    for number, cell in enumerate(cells):
        line = Text(style="bold" if number == 0 else "")
        parts = [cell[0].rjust(widths[0]), cell[1].ljust(widths[1]), cell[2].ljust(widths[2]),
                 cell[3].rjust(widths[3]), cell[4].rjust(widths[4])]
        line.append("  ".join(parts) + "  ")
        style = _STATUS_STYLE.get(cell[5].split(" ")[0], "") if number else ""
        line.append(cell[5].ljust(widths[5]), style=style)
        line.append("  " + cell[6])
        lines.append(line)
    return Text("\n").join(lines)


_STATUS_STYLE = {"clean": "green", "offset": "green", "fuzz": "yellow", "merged": "yellow",
                 "partly": "cyan", "already": "cyan", "empty": "cyan", "conflict": "bold red",
                 "not": "dim"}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- show --------------------------------------------------------------------------------------
def show_patch(workspace: Workspace, ui: UI, name: str) -> int:
    """Header and highlighted diff of patch ``name`` (its file name, or its number)."""
    _tree, loaded = workspace.work_series()
    item = loaded.find(name)
    patch = item.patch
    meta = patch.meta
    diff = patch.text[len(patch.preamble):]
    ui.emit_json({"name": item.entry.name, "subject": meta.subject, "author": meta.author,
                  "date": meta.date, "description": meta.description,
                  "fields": [list(field) for field in meta.fields], "files": len(patch.files),
                  "added": patch.added, "removed": patch.removed,
                  "diff": diff.decode("utf-8", "replace")})
    if ui.json_mode:
        return 0
    from rich.text import Text

    header = Text()
    header.append(f"{item.entry.name}\n", style="bold")
    for label, value in (("Subject", meta.subject), ("Author", meta.author),
                         ("Date", meta.date)):
        if value:
            header.append(f"{label}: ", style="bold")
            header.append(f"{value}\n")
    for key, value in meta.fields:
        if key.lower() not in ("subject", "from", "date"):
            header.append(f"{key}: ", style="bold")
            header.append(f"{value}\n")
    if meta.description:
        header.append(f"\n{meta.description}\n")
    header.append(f"\n{_files(len(patch.files))}, +{patch.added} −{patch.removed}\n")
    with ui.paged():
        ui.print(header)
        ui.diff(diff)
    return 0


# --- new ---------------------------------------------------------------------------------------
def new_patch_command(workspace: Workspace, ui: UI, name: str, *,
                      message: str | None = None,
                      max_size: int = DEFAULT_MAX_PATCH_SIZE) -> int:
    """Capture the uncaptured edits in the targets as patch ``name``, appended to the series."""
    workspace.refuse_if_rebasing()
    check_patch_name(name)
    with workspace.lock():
        tree, loaded = workspace.work_series()
        upstream = workspace.base_of(loaded)
        who = gitrepo.signature(workspace.repo)
        captured = capture_patch(workspace.repo, loaded, tree, (upstream.commit, upstream.tree),
                                 workspace.manifest.targets, name, message=message,
                                 author=f"{who.name} <{who.email}>", max_size=max_size,
                                 warn=ui.warn)
    documents = [{"name": item.name, "subject": item.subject,
                  "files": [f.path for f in item.patch.files], "added": item.patch.added,
                  "removed": item.patch.removed, "index": item.index} for item in captured]
    ui.emit_json({**documents[0], "patches": documents})
    for item in captured:
        patch = item.patch
        ui.print(f"{PATCHES}/{item.name}: {_files(len(patch.files))}, +{patch.added} "
                 f"−{patch.removed}, appended to {SERIES} as patch {item.index}",
                 markup=False, soft_wrap=True)
        for file in patch.files:
            ui.print(f"  {shown_path(file.path)}", markup=False)
    if len(captured) > 1:
        ui.print(f"split in {len(captured)} patches to stay under {max_size} bytes each",
                 markup=False)
    ui.hint(f"next: git add {PATCHES}/ && git commit (the series now explains these edits)")
    return 0


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"
