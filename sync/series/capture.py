"""A new patch from edits that no patch explains (quilt ``new`` + ``refresh``): `patches new`.

The patch is the difference, under the targets, between what upstream + series gives and the
tree holding the maintainer's edits, written in the same canonical form as a refreshed patch: a
fixed ``From`` line, ``From:`` and ``Subject:`` headers, the description, ``---``, then the diff
as ``sync.git.diff`` produces it (so a later rebase rewrites nothing that did not change).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sync import program
from sync.errors import DiskFault, PatchError
from sync.git import Repository, worktree
from sync.git.diff import diff_text
from sync.git.trees import Entry, TreeSource, update_tree, write_blob
from sync.series.engine import apply_series
from sync.series.load import PATCHES, SERIES, LoadedSeries, SeriesPatch
from sync.series.model import MODE_FILE, Patch
from sync.series.parse import parse_patch
from sync.series.paths import PathProblem, check_path
from sync.series.refresh import FIXED_FROM, render_patch
from sync.series.seriesfile import SeriesEntry
from sync.series.split import DEFAULT_MAX_PATCH_SIZE, split_changes
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
                  message: str | None = None, author: str,
                  max_size: int = DEFAULT_MAX_PATCH_SIZE,
                  warn: Callable[[str], None] = lambda _m: None) -> tuple[Captured, ...]:
    """Write the edits in ``tree`` that ``upstream`` (commit, tree) + series does not explain as
    ``patches/NAME`` and append it to the series (the patch files first, the series last: a
    crash in between leaves unlisted files only). Nothing is ever overwritten. Edits larger
    than ``max_size`` are split across ``NAME-1.patch``, ``NAME-2.patch``, ..."""
    check_patch_name(name)
    where = f"upstream {upstream[0][:7]}"
    applied = expected_tree(repo, loaded, upstream[1])
    if applied.stop is not None:
        raise PatchError(f"{applied.stop.report.name} does not apply to {where}: cannot tell "
                         "which edits are new",
                         hint=f"run `{program.command('rebase-patches')}` first")
    subject, description = subject_of(name, message)
    changes = worktree.changes_between(repo, applied.tree, tree, targets)
    if not changes:
        raise PatchError(f"nothing to capture: {', '.join(targets)} equal {where} + series",
                         hint="edit files under the targets first, then run this again")
    parts = split_changes(repo, changes, max_size, warn=warn)
    names = [name] if len(parts) == 1 else [_numbered(name, number)
                                            for number in range(1, len(parts) + 1)]
    for each in names:
        _refuse_existing(repo, loaded, tree, each)
    captured: list[SeriesPatch] = []
    subjects: list[str] = []
    before = applied.tree
    for number, (each, part) in enumerate(zip(names, parts, strict=True), start=1):
        after = update_tree(repo, before, {change.path: change.entry for change in part})
        shown, note = subject, description
        if len(parts) > 1:
            shown = f"{subject} (part {number} of {len(parts)})"
            note = (f"{description}\n\n" if description else "") + (
                f"Split in {len(parts)} patches to stay under the patch size limit "
                f"({max_size} bytes).")
        text = new_patch(repo, before, after, targets, subject=shown, author=author,
                         description=note)
        assert text is not None  # every part holds at least one change
        captured.append(SeriesPatch(SeriesEntry(each), _parsed(text, each, targets)))
        subjects.append(shown)
        before = after
    _round_trip(repo, loaded, captured, upstream[1], tree, targets)
    series = loaded.series
    files = []
    for item in captured:
        series = series.with_entry(item.entry)
        files.append(worktree.Change(f"{PATCHES}/{item.entry.name}",
                                     Entry(MODE_FILE, write_blob(repo, bytes(item.patch.text)))))
    files.append(worktree.Change(SERIES, Entry(MODE_FILE, write_blob(repo, series.format()))))
    try:
        worktree.write_changes(repo, files, (PATCHES,))
    except DiskFault:  # the series is written last: remove the new patch files written before
        with contextlib.suppress(Exception):
            worktree.write_changes(repo, [worktree.Change(change.path, None)
                                          for change in files[:-1]], (PATCHES,))
        raise
    first = len(loaded.patches) + 1
    return tuple(Captured(item.entry.name, shown, item.patch, first + offset)
                 for offset, (item, shown) in enumerate(zip(captured, subjects, strict=True)))


def _numbered(name: str, number: int) -> str:
    for suffix in (".patch", ".diff"):
        if name.endswith(suffix):
            return f"{name.removesuffix(suffix)}-{number}{suffix}"
    return f"{name}-{number}"


def _refuse_existing(repo: Repository, loaded: LoadedSeries, tree: str, name: str) -> None:
    if any(item.entry.name == name for item in loaded.patches) or \
            TreeSource(repo, tree).entry(f"{PATCHES}/{name}") is not None or \
            (Path(worktree.workdir(repo)) / PATCHES / name).exists():
        raise PatchError(f"{PATCHES}/{name}: already exists",
                         hint="choose another name (patches are never overwritten)")


def _parsed(text: bytes, name: str, targets: Sequence[str]) -> Patch:
    try:
        return parse_patch(text, f"{PATCHES}/{name}", targets=targets)
    except PatchError as error:
        raise PatchError(f"{PATCHES}/{name}: the edits cannot be written as a patch this tool "
                         f"reads back ({error.message}); nothing was written",
                         hint="rename the file, or move it out of the targets; capture the "
                              "other edits separately") \
            from None


def _round_trip(repo: Repository, loaded: LoadedSeries, new: Sequence[SeriesPatch],
                upstream: str, tree: str, targets: Sequence[str]) -> None:
    """Refuse patches that, applied after the series, would not give ``tree`` back exactly."""
    applied = apply_series(repo, [*loaded.patches, *new], upstream,
                           base=base_tree(repo, loaded))
    drift = () if applied.stop is not None else drift_between(repo, applied.tree, tree,
                                                              targets)
    if applied.stop is not None or drift:
        where = ", ".join(item.path for item in drift[:12]) or "the patch"
        raise PatchError(f"{PATCHES}/{new[0].entry.name}: the written patch would not re-apply "
                         f"to the same files ({where}); nothing was written",
                         hint="report this; meanwhile capture the other edits separately")
