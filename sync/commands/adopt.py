"""`sync adopt`: start managing an existing repository: an upstream branch and patches/.

Arguments -> ``sync.series.adopt`` (the plan, checked in memory, then written) -> the summary
and --json. Refused before anything is written: an existing upstream branch or ``patches/``, a
history with a merge or an upstream re-import (``--group commit``), a file over 100 MiB.
"""

from __future__ import annotations

import argparse

from sync import program
from sync.errors import ConfigError
from sync.git import repo as gitrepo
from sync.importer import image_opener, image_tree, refuse_checked_out
from sync.series.adopt import (
    GROUPINGS,
    AdoptPlan,
    plan_from_history,
    plan_from_trees,
    refuse_existing,
    write_adopt,
)
from sync.series.load import PATCHES, SERIES
from sync.series.split import DEFAULT_MAX_PATCH_SIZE, parse_patch_size
from sync.ui import UI, short_oid
from sync.upstream import adopted_message
from sync.workspace import Workspace


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `adopt` and its options."""
    parser = subparsers.add_parser(
        "adopt", parents=[common], help="start managing an existing repository",
        description="Create the upstream branch and write patches/ + patches/series so that "
                    "upstream + series equals today's targets byte for byte. The upstream is "
                    "the targets of commit REV (--upstream-rev) or an image (--from).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--upstream-rev", metavar="REV",
                        help="a commit whose targets hold the pristine upstream")
    source.add_argument("--from", dest="source", metavar="TRANSPORT",
                        help="read the upstream from an image, as `pull --from` does "
                             "(docker-daemon:, docker://[REF], docker-archive:PATH, ...)")
    parser.add_argument("--group", choices=GROUPINGS, default=None,
                        help="one patch per community commit (default with --upstream-rev), "
                             "per changed file (default with --from) or per top-level folder")
    parser.add_argument("--max-patch-size", type=parse_patch_size,
                        default=DEFAULT_MAX_PATCH_SIZE, metavar="SIZE",
                        help="split changes so that no patch exceeds SIZE (default 50M)")
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                        help="allow plain HTTP to registry HOST[:PORT] for docker://")
    parser.set_defaults(handler=run, needs_workspace=True)


def run(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """CLI adapter."""
    group = args.group or ("commit" if args.upstream_rev else "file")
    if group == "commit" and not args.upstream_rev:
        raise ConfigError("--group commit needs --upstream-rev: an image has no history",
                          hint="use --group file or --group folder with --from")
    return adopt(workspace, ui, rev=args.upstream_rev, source=args.source, group=group,
                 max_size=args.max_patch_size,
                 insecure_registries=tuple(args.insecure_registry))


def adopt(workspace: Workspace, ui: UI, *, rev: str | None, source: str | None, group: str,
          max_size: int = DEFAULT_MAX_PATCH_SIZE,
          insecure_registries: tuple[str, ...] = ()) -> int:
    """Plan (refusing what cannot be replayed), then write patches/ and the upstream branch."""
    workspace.refuse_if_rebasing()
    repo, manifest = workspace.repo, workspace.manifest
    refuse_existing(repo, manifest.branch)
    refuse_checked_out(repo, manifest.branch)
    with workspace.lock():
        snap = workspace.snapshot()
        plan = _plan(workspace, ui, rev, source, group, snap.tree, max_size, insecure_registries)
        write_adopt(repo, plan, manifest.branch)
    ui.emit_json({"upstream": plan.upstream_commit, "branch": manifest.branch, "group": group,
                  "patches": [{"name": item.name, "subject": item.subject,
                               "files": list(item.paths), "bytes": len(item.text)}
                              for item in plan.patches]})
    ui.print(f"branch {manifest.branch} created at {short_oid(plan.upstream_commit)}; "
             f"{len(plan.patches)} patches written to {SERIES}", markup=False, soft_wrap=True)
    for item in plan.patches:
        ui.print(f"  {PATCHES}/{item.name}", markup=False)
    ui.hint(f"next: {program.command('check')}, then git add {PATCHES}/ && git commit")
    return 0


def _plan(workspace: Workspace, ui: UI, rev: str | None, source: str | None, group: str,
          today: str, max_size: int, insecure_registries: tuple[str, ...]) -> AdoptPlan:
    repo, manifest = workspace.repo, workspace.manifest
    if rev is not None:
        commit = workspace.commit(rev, "--upstream-rev")
        message = adopted_message(manifest, str(commit.id))
        if group == "commit":
            head = gitrepo.head_commit(repo)
            if head is None:
                raise ConfigError("HEAD has no commit: nothing to replay")
            snap = workspace.snapshot()
            if snap.uncommitted or any(path for path in snap.untracked):
                raise ConfigError("--group commit replays commits, but the targets have "
                                  "uncommitted changes; nothing was written",
                                  hint="commit or stash them first, or use --group file")
            return plan_from_history(repo, commit, head, manifest.paths, message,
                                     max_size=max_size, warn=ui.warn)
        upstream = str(commit.tree_id)
    else:
        assert source is not None
        opener = image_opener(source, manifest, insecure_registries=insecure_registries)
        with opener(None) as opened:
            upstream, message = image_tree(repo, manifest, opened, warn=ui.warn)
    who = gitrepo.signature(repo)
    return plan_from_trees(repo, upstream, today, manifest.paths, group,  # type: ignore[arg-type]
                           f"{who.name} <{who.email}>", message, max_size=max_size,
                           warn=ui.warn)
