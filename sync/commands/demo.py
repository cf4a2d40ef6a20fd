"""`sync demo`: the whole maintainer workflow on the built-in sample, in seconds.

No Docker, no network and no checkout: two versions of the sample upstream image
(``sync.sample``) are written as docker-archive tarballs, a throw-away repository gets the
project's template, VERSION and variants (package data) and a short community series that
meets every interesting case on the way from version 1 to version 2 — one patch clean, one
moved by an offset, one needing the 3-way merge, one already upstream — and the real commands
run in order, each printing its own report: pull v1, rebase-patches (the series on v1), pull
--check (there is news), pull v2, rebase-patches, render, report (the review page and the PR
body, beside the repository). ``--keep DIR`` leaves the repository there for exploring.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sync import program
from sync.build_context import summarize_dockerfile
from sync.commands.pull import check, pull
from sync.commands.rebase import rebase_patches
from sync.commands.render import render
from sync.commands.report import report
from sync.config.manifest import MANIFEST_NAME
from sync.config.version import VERSION_NAME
from sync.console import SafeConsole
from sync.errors import ConfigError, SyncError
from sync.git import Repository, worktree
from sync.git import index as gitindex
from sync.git import repo as gitrepo
from sync.git.diff import diff_text
from sync.git.trees import Entry, TreeSource, write_blob
from sync.image.current import current_image
from sync.importer import image_opener
from sync.render import DEFAULT_PREFIX, TEMPLATE_NAME, image_tag
from sync.review.collect import review_last_rebase
from sync.sample import SAMPLE_MANIFEST, demo_project, write_sample
from sync.sample.demo_project import SERIES, DemoPatch
from sync.series.refresh import render_patch
from sync.ui import UI
from sync.watch import watch_upstream
from sync.workspace import Workspace

BRANCH = "main"


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `demo` and its options."""
    parser = subparsers.add_parser(
        "demo", parents=[common], help="run the whole workflow on a built-in sample (no Docker)",
        description="Create a throw-away repository, pull two versions of a built-in sample "
                    "image, carry a small patch series across and render the Dockerfiles, "
                    "printing each step's report. Needs neither Docker nor the network.")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="create everything in DIR (new or empty) and leave it there")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: UI) -> int:
    """CLI adapter: pick the folder, then call ``demo``."""
    if args.keep is None:
        with tempfile.TemporaryDirectory(prefix="simapp-sync-demo-") as scratch:
            return demo(Path(scratch), ui, keep=False)
    folder = Path(args.keep)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"--keep {folder}: exists and is not an empty folder",
                          hint="name a new or empty folder")
    return demo(folder, ui, keep=True)


def demo(folder: Path, ui: UI, *, keep: bool) -> int:
    """Run the workflow in ``folder``; 0 when every step succeeded, else the failing code."""
    started = time.monotonic()
    steps = _Steps(ui)
    images = folder / "images"
    archives = {version_: write_sample(images, version_) for version_ in (1, 2)}
    root = folder / "simapp"
    repo = gitrepo.init_repository(root, initial_head=BRANCH)
    manifest_path = root / MANIFEST_NAME
    manifest_path.write_text(f"{SAMPLE_MANIFEST}\n{demo_project.variants()}", encoding="utf-8")
    (root / TEMPLATE_NAME).write_bytes(demo_project.template())
    (root / VERSION_NAME).write_bytes(demo_project.version())
    demo_project.write_image_files(root)  # what the template copies besides the bundle
    steps.commit(repo, "Track the sample image; the project's template and version")

    def opened() -> Workspace:  # afresh for each step: the manifest changes on the way
        return Workspace.open(root)

    def pull_step(number: int) -> int:
        checkout = opened()
        spec = f"docker-archive:{archives[number]}"
        return pull(checkout, image_opener(spec, checkout.manifest), steps.ui)

    def check_step(number: int) -> int:
        checkout = opened()
        current = current_image(f"docker-archive:{archives[number]}", checkout.manifest)
        moved = check(watch_upstream(repo, checkout.manifest, current), steps.ui)
        return 0 if moved == 1 else 1  # the demo expects news here: up to date is a failure

    def report_step(fmt: str) -> int:
        review = review_last_rebase(repo, opened().manifest)
        return report(review, steps.ui, fmt=fmt, output=folder / f"review.{fmt}")

    prog = program.name()
    code = (
        steps.run(f"{prog} pull --from docker-archive:{archives[1].relative_to(folder)}",
                  lambda: pull_step(1))
        or steps.write_series(repo, root)
        or steps.run(f"{prog} rebase-patches   # the series on version 1",
                     lambda: rebase_patches(opened(), steps.ui))
        or steps.commit(repo, "bundle = upstream v1 + series")
        or steps.bump_tag(repo, manifest_path)
        or steps.run(f"{prog} pull --check --from docker-archive:"
                     f"{archives[2].relative_to(folder)}   # exit 1: there is news",
                     lambda: check_step(2))
        or steps.run(f"{prog} pull --from docker-archive:{archives[2].relative_to(folder)}",
                     lambda: pull_step(2))
        or steps.run(f"{prog} rebase-patches   # onto version 2",
                     lambda: rebase_patches(opened(), steps.ui))
        or steps.commit(repo, "Rebase the series onto upstream v2")
        or steps.run(f"{prog} render",
                     lambda: render(opened(), steps.ui))
        or steps.show_rendered(root)
        or steps.commit(repo, "Render the Dockerfiles")
        or steps.run(f"{prog} report --format html -o ../review.html",
                     lambda: report_step("html"))
        or steps.run(f"{prog} report -o ../review.md   # the pull request's body",
                     lambda: report_step("md"))
    )
    seconds = time.monotonic() - started
    ui.emit_json({"directory": str(root) if keep else None, "kept": keep, "exit_code": code,
                  "steps": steps.done, "seconds": round(seconds, 3)})
    if code == 0:
        ui.print(f"\ndemo finished in {seconds:.1f} s")
    if keep:
        ui.print(f"the repository is in {root}: try `git -C {root} log --oneline --all`, "
                 f"`git -C {root} show HEAD~1 -- patches/` (what the rebase refreshed), "
                 f"`{program.command(f'-C {root} render --check')}`", markup=False)
    return code


class _Steps:
    """Runs the steps in order, prints them as the commands a maintainer would type."""

    def __init__(self, ui: UI) -> None:
        # in --json mode the steps' own reports are swallowed: one document, the summary
        self.ui = _silent() if ui.json_mode else ui
        self.done: list[dict[str, object]] = []

    def heading(self, command: str) -> None:
        self.ui.print(f"\n[bold]$ {command}[/bold]")

    def run(self, command: str, step: Callable[[], int]) -> int:
        self.heading(command)
        try:
            code = step()
        except SyncError as error:
            self.ui.error(error.message, error.hint)
            code = error.exit_code
        self.done.append({"command": command, "exit_code": code})
        return code

    def commit(self, repo: Repository, message: str) -> int:
        self.heading(f"git commit -qam {message!r}")
        _commit_all(repo, message)
        return 0

    def show_rendered(self, root: Path) -> int:
        """What the rendered Dockerfiles make: stages, entry point, tag (no file dumps)."""
        self.heading("# the rendered images (docker/Dockerfile.<variant>, docker-bake.json)")
        for path in sorted((root / "docker").glob("Dockerfile.*")):
            summary = summarize_dockerfile(path.read_text(encoding="utf-8"))
            tag = image_tag(DEFAULT_PREFIX, summary.labels.get("version", "?"),
                            path.name.removeprefix("Dockerfile."))
            self.ui.print(f"  {tag}  (docker/{path.name})", markup=False)
            for name, base in summary.stages:
                self.ui.print(f"    stage {name:<8} FROM {base}", markup=False)
            self.ui.print(f"    WORKDIR {summary.workdir}  ENTRYPOINT {summary.entrypoint}",
                          markup=False)
            self.ui.print(f"    CMD {summary.cmd}  LABEL version={summary.labels.get('version')}",
                          markup=False)
        return 0

    def bump_tag(self, repo: Repository, manifest_path: Path) -> int:
        """Upstream released version 2: point the manifest's tag at it."""
        self.heading(f"sed -i 's/^tag: v1$/tag: v2/' {MANIFEST_NAME}")
        text = manifest_path.read_text(encoding="utf-8")
        manifest_path.write_text(text.replace("\ntag: v1\n", "\ntag: v2\n"), encoding="utf-8")
        _commit_all(repo, "Follow upstream v2")
        return 0

    def write_series(self, repo: Repository, root: Path) -> int:
        """The community's patches, made against upstream v1 as `sync patches new` would."""
        self.heading("# the community's series, written against upstream v1")
        tip = gitrepo.branch_tip(repo, "upstream")
        assert tip is not None
        upstream = TreeSource(repo, str(tip.tree_id))
        names = []
        for patch in SERIES:
            path = f"bundle/{patch.path}"
            entry = upstream.entry(path)
            assert entry is not None, path
            before = upstream.read(entry.oid).decode()
            assert patch.old in before, f"the sample changed: {patch.name} no longer applies"
            after = write_blob(repo, before.replace(patch.old, patch.new, 1).encode())
            diff = diff_text(repo, {path: entry}, {path: Entry(entry.mode, after)})
            (root / "patches").mkdir(exist_ok=True)
            (root / "patches" / patch.name).write_bytes(render_patch(_preamble(patch), diff))
            names.append(patch.name)
            self.ui.print(f"  patches/{patch.name:<28} {patch.description}", markup=False)
        series = [f"# upstream: {tip.id}", *names]
        (root / "patches" / "series").write_text("\n".join(series) + "\n", encoding="utf-8")
        _commit_all(repo, "Add the community series")
        return 0


def _preamble(patch: DemoPatch) -> bytes:
    return (
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        "From: DeepRacer Community <community@example.org>\n"
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
        f"Subject: [PATCH] {patch.subject}\n\n"
        f"{patch.description}\n\nForwarded: not-needed\n---\n"
    ).encode()


def _commit_all(repo: Repository, message: str) -> None:
    """Commit the whole work tree on main (the demo's stand-in for `git commit -a`)."""
    root = gitrepo.work_tree(repo)
    roots = sorted(entry.name for entry in root.iterdir() if entry.name != ".git")
    snap = worktree.snapshot(repo, roots)
    tip = gitrepo.branch_tip(repo, BRANCH)
    parents = [str(tip.id)] if tip is not None else []
    commit = gitrepo.create_commit(repo, snap.tree, parents, message + "\n")
    gitrepo.move_branch(repo, BRANCH, commit, parents[0] if parents else None,
                        reflog_message=f"commit: {message}")
    files = [path for path, _ in TreeSource(repo, snap.tree).files()]
    tracked = gitindex.tracked_paths(repo)
    gitindex.stage(repo, files, sorted(tracked - set(files)))


def _silent() -> UI:
    sink = io.StringIO()
    return UI(json_mode=False, quiet=True, out=SafeConsole(file=sink),
              err=SafeConsole(file=sink))

