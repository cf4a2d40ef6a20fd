"""`sync report`: the review of the last pull + rebase, as a PR body or as one HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path

from sync.errors import ConfigError
from sync.render import atomic_write
from sync.review.collect import review_last_rebase, review_range
from sync.review.markdown import render_markdown
from sync.review.model import Review
from sync.review.page import render_page
from sync.terminal import OCTAL_ESCAPES
from sync.ui import UI
from sync.workspace import Workspace

FORMATS = ("md", "html")


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `report` and its options."""
    parser = subparsers.add_parser(
        "report", parents=[common], help="the review of the last pull + rebase (markdown for a "
                                         "PR body, or one self-contained HTML page)",
        description="What the last upstream bump changed: both images, the files changed "
                    "upstream per target, one row per patch with its status and interdiff, and "
                    "the rendered files that changed.")
    parser.add_argument("--format", choices=FORMATS, default="md",
                        help="md (a GitHub PR body, under 65,000 characters) or html (one "
                             "file, no network)")
    parser.add_argument("-o", "--output", metavar="FILE", default=None,
                        help="write to FILE instead of stdout")
    parser.add_argument("--from", dest="from_rev", metavar="REV", default=None,
                        help="review the work tree's series carried from upstream commit REV "
                             "(a dry run; needs --to)")
    parser.add_argument("--to", dest="to_rev", metavar="REV", default=None,
                        help="... onto upstream commit REV")
    parser.add_argument("--old", metavar="REV", default=None,
                        help="the commit holding the series before the rebase (default: as "
                             "`patches range-diff`)")
    parser.add_argument("--fuzz", type=int, default=0, metavar="N",
                        help="the --fuzz the rebase was run with (default 0)")
    parser.add_argument("--html-url", metavar="URL", default=None,
                        help="where the HTML review will be (markdown links to it)")
    parser.set_defaults(handler=run, needs_workspace=True)


def run(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """CLI adapter: gather the review, then write it."""
    if (args.from_rev is None) != (args.to_rev is None):
        raise ConfigError("--from and --to go together",
                          hint="give both upstream commits, or neither (the last rebase)")
    if args.from_rev and args.old:
        raise ConfigError("--old is for the last rebase; it does not go with --from/--to")
    repo, manifest = workspace.repo, workspace.manifest
    if args.from_rev:
        review = review_range(repo, manifest, args.from_rev, args.to_rev, fuzz=args.fuzz)
    else:
        review = review_last_rebase(repo, manifest, old_rev=args.old, fuzz=args.fuzz)
    return report(review, ui, fmt=args.format, output=Path(args.output) if args.output
                  else None, html_url=args.html_url)


def report(review: Review, ui: UI, *, fmt: str = "md", output: Path | None = None,
           html_url: str | None = None) -> int:
    """Write ``review`` as ``fmt`` to ``output`` (stdout when None); --json: the review's data."""
    text = render_page(review) if fmt == "html" else render_markdown(review, html_url=html_url)
    if output is not None:
        atomic_write(output, text.encode("utf-8", OCTAL_ESCAPES))  # no raw name byte
    ui.emit_json({**review.as_json(), "format": fmt,
                  "output": str(output) if output else None, "characters": len(text)})
    if ui.json_mode:
        return 0
    if output is None:
        ui.print(text, markup=False, soft_wrap=True, end="", highlight=False)
    else:
        counts = ", ".join(f"{n} {what}" for what, n in review.count_by_status().items())
        ui.print(f"{output}: the review of {review.title} ({len(review.patches)} patches"
                 f"{': ' + counts if counts else ''}; {len(text):,} characters)",
                 markup=False, soft_wrap=True)
    return 0
