"""A new patch from edits that no patch explains (quilt ``new`` + ``refresh``): `patches new`.

The patch is the difference, under the targets, between what upstream + series gives and the
tree holding the maintainer's edits, written in the same canonical form as a refreshed patch: a
fixed ``From`` line, ``From:`` and ``Subject:`` headers, the description, ``---``, then the diff
as ``sync.git.diff`` produces it (so a later rebase rewrites nothing that did not change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sync import program
from sync.errors import PatchError
from sync.git import Repository, worktree
from sync.git.diff import diff_text
from sync.git.trees import Entry, TreeSource, write_blob
from sync.series.engine import apply_series
from sync.series.load import PATCHES, SERIES, LoadedSeries, SeriesPatch
from sync.series.model import MODE_FILE, Patch
from sync.series.parse import parse_patch
from sync.series.paths import PathProblem, check_path
from sync.series.refresh import FIXED_FROM, render_patch
from sync.series.seriesfile import SeriesEntry
from sync.series.verify import base_tree, drift_between, expected_tree


def header(subject: str, author: str, description: str = "", date: str | None = None) -> bytes:
    """The mail header of a new patch: ``git am`` takes author, date and subject from it."""
    body = f"\n{description.strip()}\n" if description.strip() else ""
    dated = f"Date: {date}\n" if date else ""
    text = f"From: {author}\n{dated}Subject: [PATCH] {subject.strip()}\n{body}\n---\n"
    return FIXED_FROM + text.encode("utf-8")


def uncaptured_diff(repo: Repository, expected: str, actual: str,
                    targets: Sequence[str]) -> bytes:
    """The canonical diff from tree ``expected`` to tree ``actual`` under ``targets``."""
    changes = worktree.changes_between(repo, expected, actual, targets)
    source = TreeSource(repo, expected)
    before = {change.path: source.entry(change.path) for change in changes}
    after = {change.path: change.entry for change in changes}
    return diff_text(repo, before, after) if changes else b""


def new_patch(repo: Repository, expected: str, actual: str, targets: Sequence[str], *,
              subject: str, author: str, description: str = "",
              date: str | None = None) -> bytes | None:
    """The text of a patch turning ``expected`` into ``actual``; None when they are equal."""
    diff = uncaptured_diff(repo, expected, actual, targets)
    if not diff:
        return None
    return render_patch(header(subject, author, description, date), diff)


@dataclass(frozen=True)
class Captured:
    """A patch ``capture_patch`` wrote and appended to the series."""

    name: str
    subject: str
    patch: Patch
    index: int  # 1-based position in the series


def check_patch_name(name: str) -> None:
    """Refuse a name that is not a plain, safe file name for ``patches/``."""
    try:
        check_path(name, None)
    except PathProblem as problem:
        raise PatchError(f"patch name {problem}") from None
    if "/" in name or name == "series" or name.startswith((".", "-")) or \
            any(char.isspace() or char == "#" for char in name):
        raise PatchError(f"{name}: not a usable patch name",
                         hint="use a plain file name such as 0006-fix-redis.patch")


def subject_of(name: str, message: str | None) -> tuple[str, str]:
    """Subject and description: from ``message`` (first line, rest), else from ``name``."""
    if message and message.strip():
        subject, _, description = message.strip().partition("\n")
        return subject.strip(), description.strip()
    stem = name.removesuffix(".patch").removesuffix(".diff")
    words = stem.split("-")
    if words and words[0].isdigit():
        words = words[1:]
    subject = " ".join(word for word in words if word) or stem
    return subject[:1].upper() + subject[1:], ""


def capture_patch(repo: Repository, loaded: LoadedSeries, tree: str,
                  upstream: tuple[str, str], targets: Sequence[str], name: str, *,
                  message: str | None = None, author: str) -> Captured:
    """Write the edits in ``tree`` that ``upstream`` (commit, tree) + series does not explain as
    ``patches/NAME`` and append it to the series (the patch file first, the series last: a
    crash in between leaves an unlisted file only). Nothing is ever overwritten."""
    check_patch_name(name)
    if any(item.entry.name == name for item in loaded.patches) or \
            TreeSource(repo, tree).entry(f"{PATCHES}/{name}") is not None or \
            (Path(worktree.workdir(repo)) / PATCHES / name).exists():
        raise PatchError(f"{PATCHES}/{name}: already exists",
                         hint="choose another name (patches are never overwritten)")
    where = f"upstream {upstream[0][:7]}"
    applied = expected_tree(repo, loaded, upstream[1])
    if applied.stop is not None:
        raise PatchError(f"{applied.stop.report.name} does not apply to {where}: cannot tell "
                         "which edits are new",
                         hint=f"run `{program.command('rebase-patches')}` first")
    subject, description = subject_of(name, message)
    text = new_patch(repo, applied.tree, tree, targets, subject=subject, author=author,
                     description=description)
    if text is None:
        raise PatchError(f"nothing to capture: {', '.join(targets)} equal {where} + series",
                         hint="edit files under the targets first, then run this again")
    entry = SeriesEntry(name)
    patch = _round_trip(repo, loaded, SeriesPatch(entry, _parsed(text, name, targets)),
                        upstream[1], tree, targets)
    series = loaded.series.with_entry(entry)
    worktree.write_changes(repo, [
        worktree.Change(f"{PATCHES}/{name}", Entry(MODE_FILE, write_blob(repo, text))),
        worktree.Change(SERIES, Entry(MODE_FILE, write_blob(repo, series.format())))],
        (PATCHES,))
    return Captured(name, subject, patch, len(loaded.patches) + 1)


def _parsed(text: bytes, name: str, targets: Sequence[str]) -> Patch:
    try:
        return parse_patch(text, f"{PATCHES}/{name}", targets=targets)
    except PatchError as error:
        raise PatchError(f"{PATCHES}/{name}: the edits cannot be written as a patch this tool "
                         f"reads back ({error.message}); nothing was written",
                         hint="rename the file, or move it out of the targets; capture the "
                              "other edits separately") \
            from None


def _round_trip(repo: Repository, loaded: LoadedSeries, new: SeriesPatch, upstream: str,
                tree: str, targets: Sequence[str]) -> Patch:
    """Refuse a patch that, applied after the series, would not give ``tree`` back exactly."""
    applied = apply_series(repo, [*loaded.patches, new], upstream,
                           base=base_tree(repo, loaded))
    drift = () if applied.stop is not None else drift_between(repo, applied.tree, tree,
                                                              targets)
    if applied.stop is not None or drift:
        where = ", ".join(item.path for item in drift[:12]) or "the patch"
        raise PatchError(f"{PATCHES}/{new.entry.name}: the written patch would not re-apply to "
                         f"the same files ({where}); nothing was written",
                         hint="report this; meanwhile capture the other edits separately")
    return new.patch
