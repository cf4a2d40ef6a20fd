"""`sync patches range-diff [OLD_REV]`: what each patch's change became since OLD_REV.

Each patch of OLD_REV's series against the work tree's (``sync.series.rangediff``): a summary
line (unchanged / changed / added / dropped / absorbed), one line per patch, then the interdiffs,
paged like git. Absorbed patches are found as the rebase found them: the old series replayed
onto the new series' upstream (``sync.series.replay``), the same rows ``report`` shows.
"""

from __future__ import annotations

from sync.errors import SyncError
from sync.series.history import last_series_change
from sync.series.load import LoadedSeries
from sync.series.model import Patch
from sync.series.rangediff import Kind, range_diff, summary_counts, summary_line
from sync.series.replay import absorbed, replay
from sync.ui import UI, short_oid
from sync.workspace import Workspace


def range_diff_command(workspace: Workspace, ui: UI, *, old: str | None = None,
                       changed_only: bool = False) -> int:
    """Each patch of OLD_REV's series against the work tree's: unchanged, moved or interdiff;
    a summary line first; absorbed patches (upstream contains them now) said so."""
    _tree, loaded = workspace.work_series()
    old_commit = workspace.commit(old, "OLD_REV") if old else last_series_change(workspace.repo)
    before = workspace.series_at(str(old_commit.tree_id))
    after = {item.entry.name: item.patch for item in loaded.patches}
    deltas = range_diff({item.entry.name: item.patch for item in before.patches}, after,
                        _absorbed(workspace, before, after))
    counts = summary_counts(deltas)
    shown = [delta for delta in deltas if not changed_only or delta.kind not in
             (Kind.UNCHANGED, Kind.MOVED)]
    ui.emit_json({"old": str(old_commit.id), "new": "work tree", "summary": counts,
                  "patches": [delta.as_json() for delta in shown]})
    if ui.json_mode:
        return 0
    from rich.text import Text

    with ui.paged():
        ui.print(f"patches/ in {short_oid(old_commit.id)} → the work tree: "
                 f"{summary_line(counts)}", markup=False)
        width = max((len(delta.name) for delta in shown), default=0)
        for delta in shown:
            line = Text(f"  {delta.name.ljust(width)}  ")
            line.append(delta.summary, style=_STYLE[delta.kind])
            if delta.interdiff and delta.kind not in (Kind.NEW, Kind.DROPPED):
                line.append("  [diff]", style="dim")
            ui.print(line, soft_wrap=True)
        for delta in shown:
            if delta.interdiff and delta.kind not in (Kind.NEW, Kind.DROPPED):
                ui.print(Text(f"\n{delta.name}: {delta.summary}", style="bold"), soft_wrap=True)
                ui.diff(delta.interdiff)
    return 0


def _absorbed(workspace: Workspace, before: LoadedSeries,
              after: dict[str, Patch]) -> frozenset[str]:
    """The old series replayed onto the new base, as the rebase ran: what upstream absorbed."""
    try:
        onto = workspace.base_of(workspace.work_series()[1]).tree
        old_base = before.series.base and workspace.commit(before.series.base, "base")
    except SyncError:
        return frozenset()  # nothing to replay onto: nothing is known to be absorbed
    old_tree = str(old_base.tree_id) if old_base else None
    return absorbed(replay(workspace.repo, before.patches, old_tree, onto, after))


_STYLE = {Kind.UNCHANGED: "green", Kind.MOVED: "green", Kind.DESCRIPTION: "cyan",
          Kind.CONTEXT: "yellow", Kind.CHANGED: "yellow", Kind.REVIEW: "bold red",
          Kind.NEW: "cyan", Kind.DROPPED: "magenta", Kind.ABSORBED: "cyan"}
