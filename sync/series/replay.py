"""What a finished rebase did, computed again from its two ends (for ``sync report``).

A rebase keeps its per-patch report only while it is stopped; once it finished, the series
before it (patches and recorded base) and the series after it (the maintainer's resolutions
included) are all there is. Replaying the same engine, with the same inputs as
``rebase-patches`` (the recorded base's tree for 3-way merges, upstream's renames), gives the same
rows: a conflict the series after the rebase resolves is taken as resolved by hand (``--continue``
with the file contents that patch gives), one it lacks as skipped (``--skip``), and an absorbed
patch it lacks as dropped (``--drop-merged``).

With no series after (``sync report --from A --to B``), the replay is a dry run: it stops at the
first conflict, as ``rebase-patches`` would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sync.errors import PatchError
from sync.git import Repository
from sync.git.trees import DirectBlobWriter, TreeSource
from sync.series.apply import apply_patch
from sync.series.engine import PatchReport, Rebase, Stop, upstream_renames
from sync.series.load import SeriesPatch
from sync.series.model import Patch
from sync.series.outcome import Status
from sync.series.overlay import Overlay


@dataclass(frozen=True)
class Replay:
    """The rows a rebase of ``patches`` gives, and where it stopped (dry runs only)."""

    reports: tuple[PatchReport, ...]
    stop: Stop | None


def replay(repo: Repository, patches: Sequence[SeriesPatch], base_tree: str | None,
           onto_tree: str, after: Mapping[str, Patch] | None = None, *,
           fuzz: int = 0) -> Replay:
    """Rebase ``patches`` from tree ``base_tree`` onto tree ``onto_tree`` in memory.

    ``after``: the series the real rebase produced (name -> patch), to follow its resolutions;
    None for a dry run that stops at the first conflict.
    """
    engine = Rebase(repo, patches, Overlay(TreeSource(repo, onto_tree)),
                    Overlay(TreeSource(repo, base_tree)) if base_tree else None,
                    DirectBlobWriter(repo), fuzz=fuzz,
                    renames=upstream_renames(repo, base_tree, onto_tree, patches))
    start = 0
    while (stop := engine.run(start)) is not None:
        if after is None:
            return Replay(tuple(engine.reports), stop)
        resolved = after.get(stop.report.name)
        if resolved is None:
            engine.skip(stop.index)
        else:
            _resolve(engine, stop, resolved)
        start = stop.index + 1
    reports = list(engine.reports)
    if after is not None:
        for report in reports:
            if report.name not in after and report.status.absorbed:
                report.dropped = True
    return Replay(tuple(reports), None)


def _resolve(engine: Rebase, stop: Stop, resolved: Patch) -> None:
    """Take the series-after version of the conflicting patch as the maintainer's resolution:
    it was refreshed against exactly the tree the rebase had reached at that patch."""
    scratch = Overlay(engine.new.source)
    scratch.update(engine.new.changes)
    try:
        outcome = apply_patch(resolved, scratch)
    except PatchError:
        outcome = None
    if outcome is not None and outcome.status is not Status.CONFLICT:
        engine.resolve(stop.index, dict(outcome.after))
        return
    # edited further since: count it from its own text, without moving the chain
    engine.reports.append(PatchReport(stop.index + 1, stop.report.name, Status.RESOLVED,
                                      len(resolved.files), resolved.added, resolved.removed,
                                      evidence=("resolved by hand (--continue)",)))


def absorbed(replayed: Replay) -> frozenset[str]:
    """The patches upstream contains now ("already upstream" or "empty" in the replay)."""
    return frozenset(report.name for report in replayed.reports if report.status.absorbed)
