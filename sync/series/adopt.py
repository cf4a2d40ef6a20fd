"""`sync adopt`: start managing an existing repository (an upstream branch + a patch series).

Given the pristine upstream as a tree (the targets of a commit ``--upstream-rev`` names, or an
image read as `pull` reads it) and the targets as they are today, ``plan_adopt`` computes the
patches that turn the one into the other, grouped:

- ``commit``: one patch per community commit since the upstream commit that touched the targets,
  keeping author, date and subject as format-patch headers (the history maintainers know);
- ``file``: one patch per changed file; ``folder``: one per top-level folder under each target.

A history that cannot be replayed as a series (a merge commit; a commit that re-imports
upstream) is refused naming the commit. The plan is checked before anything is written: the
series applied in memory to the upstream tree must give today's targets exactly. ``write_adopt``
then writes ``patches/`` (patch files first, the series last) and creates the upstream branch.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Literal

from sync import program
from sync.config.manifest import PathMapping
from sync.errors import DiskFault, PatchError
from sync.git import Commit, Repository, objects, worktree
from sync.git import repo as gitrepo
from sync.git.trees import Entry, StoredBlobs, TreeSource, update_tree, write_blob
from sync.image.gitfiles import Dropped, drop_git_special
from sync.image.selection import EXCLUDED, Selection
from sync.series.capture import new_patch
from sync.series.engine import apply_series
from sync.series.load import PATCHES, SERIES, SeriesPatch
from sync.series.model import MODE_FILE
from sync.series.parse import parse_patch
from sync.series.seriesfile import SeriesEntry, empty_series
from sync.series.split import DEFAULT_MAX_PATCH_SIZE, split_changes
from sync.series.verify import drift_between
from sync.upstream import TRAILER_IMAGE, with_dropped

Grouping = Literal["commit", "file", "folder"]
GROUPINGS: tuple[Grouping, ...] = ("commit", "file", "folder")
# a commit whose subject says it (re-)imports or updates upstream is an upstream snapshot
REIMPORT = re.compile(r"\b(re-?import|import|update|sync|bump)\w*\b.*\bupstream\b|"
                      r"^upstream\b", re.IGNORECASE)


@dataclass(frozen=True)
class PlannedPatch:
    """One patch of the adopted series: its file name, subject, text and the paths it changes."""

    name: str
    subject: str
    text: bytes
    paths: tuple[str, ...]


@dataclass(frozen=True)
class AdoptPlan:
    """What adopt writes: the upstream commit (not yet on a branch) and the series on top."""

    upstream_commit: str
    patches: tuple[PlannedPatch, ...]


def targets_tree(repo: Repository, tree: str, targets: Sequence[str]) -> str:
    """``tree`` reduced to the targets, as `pull` stores upstream (nothing else in it)."""
    changes = worktree.changes_between(repo, None, tree, targets)
    return update_tree(repo, None, {change.path: change.entry for change in changes
                                    if change.entry is not None})


def without_excluded(repo: Repository, tree: str, mappings: Sequence[PathMapping]) -> str:
    """``tree`` (targets only) minus what the manifest's excludes drop: `pull`'s normalization,
    for an upstream taken from a commit rather than read from an image."""
    selection = Selection(mappings)
    dropped: dict[str, Entry | None] = {}
    for change in worktree.changes_between(repo, None, tree, [m.target for m in mappings]):
        mapping = next((m for m in mappings if worktree.under(change.path, (m.target,))), None)
        if mapping is None:
            continue
        relative = change.path[len(mapping.target) + 1:]
        image_path = f"{mapping.source.strip('/')}/{relative}"
        if selection.select(image_path, False) == EXCLUDED:
            dropped[change.path] = None
    return update_tree(repo, tree, dropped) if dropped else tree


def without_git_special(repo: Repository, tree: str) -> tuple[str, list[Dropped]]:
    """``tree`` without the git-special files `pull` drops (``sync.image.gitfiles``), and
    which; other entries (gitlinks too) are left as they are."""
    nested = objects.read_tree(repo, tree)
    before = {path for path, _leaf in nested.walk()}
    dropped = drop_git_special(nested, StoredBlobs(repo))
    if not dropped:
        return tree, []
    gone = before - {path for path, _leaf in nested.walk()}
    return update_tree(repo, tree, dict.fromkeys(gone)), dropped


def _pull_normalized(repo: Repository, tree: str, mappings: Sequence[PathMapping],
                     message: str, warn: Callable[[str], None]) -> tuple[str, str]:
    """The upstream tree and message for targets ``tree`` taken from a commit: what `pull`
    keeps (excludes and git-special files dropped, each dropped file warned and recorded)."""
    upstream, dropped = without_git_special(repo, without_excluded(repo, tree, mappings))
    for item in dropped:
        warn(item.warning)
    return upstream, with_dropped(message, dropped)


def community_commits(repo: Repository, rev: Commit, head: Commit) -> list[Commit]:
    """The commits after ``rev`` up to ``head``, oldest first; a merge or a foreign history
    refuses (exit 2, naming the commit)."""
    found: list[Commit] = []
    current = head
    while str(current.id) != str(rev.id):
        parents = current.parents
        if len(parents) > 1:
            raise PatchError(f"commit {str(current.id)[:12]} ({current.message.splitlines()[0]})"
                             " is a merge: its history cannot be replayed as a patch series; "
                             "nothing was written",
                             hint="use --group file or --group folder")
        if not parents:
            raise PatchError(f"--upstream-rev {str(rev.id)[:12]} is not an ancestor of HEAD",
                             hint="name a commit of the current branch's history")
        found.append(current)
        current = parents[0]
    return list(reversed(found))


def _refuse_reimport(commit: Commit) -> None:
    subject = commit.message.splitlines()[0] if commit.message else ""
    if TRAILER_IMAGE in gitrepo.trailers(commit.message) or REIMPORT.search(subject):
        raise PatchError(f"commit {str(commit.id)[:12]} ({subject}) re-imports upstream: the "
                         "history cannot be replayed as a patch series; nothing was written",
                         hint="name that commit with --upstream-rev, or use --group file or "
                              "--group folder")


def _date(commit: Commit) -> str:
    zone = timezone(timedelta(minutes=commit.author.offset))
    return format_datetime(datetime.fromtimestamp(commit.author.time, zone))


def slug(subject: str) -> str:
    """The file-name part format-patch derives from a subject."""
    text = re.sub(r"[^A-Za-z0-9._]+", "-", subject).strip("-.")
    return text[:52].rstrip("-.") or "change"


class _Numbered:
    """Patch names numbered in series order: ``0001-subject.patch``."""

    def __init__(self) -> None:
        self.patches: list[PlannedPatch] = []

    def add(self, subject: str, text: bytes, paths: tuple[str, ...]) -> None:
        name = f"{len(self.patches) + 1:04d}-{slug(subject)}.patch"
        self.patches.append(PlannedPatch(name, subject, text, paths))


def _add_split(numbered: _Numbered, repo: Repository, before: str, after: str,
               targets: Sequence[str], subject: str, author: str, description: str,
               date: str | None, max_size: int, warn: Callable[[str], None]) -> None:
    """The change ``before`` -> ``after``, as one patch or several when over ``max_size``."""
    changes = worktree.changes_between(repo, before, after, targets)
    parts = split_changes(repo, changes, max_size, warn=warn)
    tree = before
    for index, part in enumerate(parts, start=1):
        next_tree = update_tree(repo, tree, {change.path: change.entry for change in part})
        shown = subject if len(parts) == 1 else f"{subject} (part {index} of {len(parts)})"
        note = description if len(parts) == 1 else (
            f"{description}\n\n" if description else "") + (
            f"Split in {len(parts)} patches to stay under the patch size limit.")
        text = new_patch(repo, tree, next_tree, targets, subject=shown, author=author,
                         description=note, date=date)
        if text is not None:
            numbered.add(shown, text, tuple(change.path for change in part))
        tree = next_tree


def plan_from_history(repo: Repository, rev: Commit, head: Commit,
                      mappings: Sequence[PathMapping], upstream_message: str, *,
                      max_size: int = DEFAULT_MAX_PATCH_SIZE,
                      warn: Callable[[str], None] = lambda _m: None) -> AdoptPlan:
    """One patch per commit since ``rev`` that touched the targets (``--group commit``); the
    files of ``rev`` the manifest excludes come first, in a patch of their own."""
    targets = [mapping.target for mapping in mappings]
    commits = community_commits(repo, rev, head)
    numbered = _Numbered()
    previous = targets_tree(repo, str(rev.tree_id), targets)
    upstream, upstream_message = _pull_normalized(repo, previous, mappings, upstream_message,
                                                  warn)
    if upstream != previous:
        _add_split(numbered, repo, upstream, previous, targets,
                   "Keep the files pull leaves out of upstream", "simapp-sync adopt "
                   "<simapp-sync@localhost>", f"They were in commit {str(rev.id)[:12]}.", None,
                   max_size, warn)
    for commit in commits:
        tree = targets_tree(repo, str(commit.tree_id), targets)
        if tree == previous:
            continue
        _refuse_reimport(commit)
        subject, _, body = commit.message.strip().partition("\n")
        author = f"{commit.author.name} <{commit.author.email}>"
        _add_split(numbered, repo, previous, tree, targets, subject.strip(), author,
                   body.strip(), _date(commit), max_size, warn)
        previous = tree
    return _checked(repo, upstream, previous, targets, upstream_message, numbered.patches)


def plan_from_trees(repo: Repository, upstream: str, today: str,
                    mappings: Sequence[PathMapping], grouping: Grouping, author: str,
                    upstream_message: str, *, max_size: int = DEFAULT_MAX_PATCH_SIZE,
                    warn: Callable[[str], None] = lambda _m: None) -> AdoptPlan:
    """One patch per changed file (``file``) or per top-level folder of a target (``folder``)."""
    targets = [mapping.target for mapping in mappings]
    upstream, upstream_message = _pull_normalized(repo, targets_tree(repo, upstream, targets),
                                                  mappings, upstream_message, warn)
    today = targets_tree(repo, today, targets)
    groups: dict[str, list[str]] = {}
    for change in worktree.changes_between(repo, upstream, today, targets):
        groups.setdefault(_group_key(change.path, targets, grouping), []).append(change.path)
    numbered = _Numbered()
    tree = upstream
    source = TreeSource(repo, today)
    for key, paths in groups.items():
        after = update_tree(repo, tree, {path: source.entry(path) for path in paths})
        verb = "Change" if grouping == "folder" else _verb(repo, tree, after, paths[0])
        _add_split(numbered, repo, tree, after, targets, f"{verb} {key}", author, "", None,
                   max_size, warn)
        tree = after
    return _checked(repo, upstream, today, targets, upstream_message, numbered.patches)


def _group_key(path: str, targets: Sequence[str], grouping: Grouping) -> str:
    if grouping == "file":
        return path
    target = next(t for t in targets if worktree.under(path, (t,)))
    rest = path[len(target) + 1:]
    first, slash, _ = rest.partition("/")
    return f"{target}/{first}" if slash else target


def _verb(repo: Repository, before: str, after: str, path: str) -> str:
    if TreeSource(repo, before).entry(path) is None:
        return "Add"
    return "Remove" if TreeSource(repo, after).entry(path) is None else "Change"


def _checked(repo: Repository, upstream: str, today: str, targets: Sequence[str],
             message: str, planned: Sequence[PlannedPatch]) -> AdoptPlan:
    """Refuse a plan whose series, applied to ``upstream``, would not give ``today`` exactly."""
    parsed = [SeriesPatch(SeriesEntry(item.name),
                          parse_patch(item.text, f"{PATCHES}/{item.name}", targets=targets))
              for item in planned]
    applied = apply_series(repo, parsed, upstream, base=upstream)
    drift = () if applied.stop is not None else drift_between(repo, applied.tree, today,
                                                              targets)
    if applied.stop is not None or drift:
        where = (applied.stop.report.name if applied.stop is not None
                 else ", ".join(item.path for item in drift[:12]))
        raise PatchError(f"the adopted series would not reproduce the targets ({where}); "
                         "nothing was written", hint="report this; meanwhile try --group file")
    commit = gitrepo.create_commit(repo, upstream, [], message)
    return AdoptPlan(commit, tuple(planned))


def refuse_existing(repo: Repository, branch: str) -> None:
    """Adopt starts from nothing: no upstream branch, no ``patches/``."""
    if gitrepo.branch_tip(repo, branch) is not None:
        raise PatchError(f"branch {branch!r} already exists: this repository is already managed",
                         hint=f"use `{program.command('pull')}` and "
                              f"`{program.command('rebase-patches')}` instead")
    top = gitrepo.work_tree(repo)
    if (top / PATCHES).exists():
        raise PatchError(f"{PATCHES}/ already exists; adopt writes a new series there",
                         hint=f"move {PATCHES}/ away first (nothing was written)")


def write_adopt(repo: Repository, plan: AdoptPlan, branch: str) -> None:
    """Write the patch files, then ``patches/series``, then create the upstream branch."""
    series = empty_series().with_base(plan.upstream_commit)
    for item in plan.patches:
        series = series.with_entry(SeriesEntry(item.name))
    changes = [worktree.Change(f"{PATCHES}/{item.name}",
                               Entry(MODE_FILE, write_blob(repo, item.text)))
               for item in plan.patches]
    changes.append(worktree.Change(SERIES, Entry(MODE_FILE, write_blob(repo, series.format()))))
    try:
        worktree.write_changes(repo, changes, (PATCHES,))
        gitrepo.move_branch(repo, branch, plan.upstream_commit, None,
                            reflog_message="simapp-sync adopt")
    except DiskFault:  # patches/ did not exist before (the plan checked): it goes again
        shutil.rmtree(gitrepo.work_tree(repo) / PATCHES, ignore_errors=True)
        raise
