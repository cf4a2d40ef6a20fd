"""The review as one self-contained HTML page: inline CSS and JavaScript, no network at all.

Everything is rendered here, so the page reads complete without JavaScript; the script (package
data, ``assets/review.js``) adds the status filter, the search box, keyboard navigation between
patches (j/k or n/p) and the unified / side-by-side switch. A Content-Security-Policy forbids
every fetch, so nothing can load from anywhere even if a patch's text tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from sync import program
from sync.review.diffview import escape, parse, side_by_side, unified
from sync.review.highlight import Highlighter, style_sheet
from sync.review.model import PatchRow, Review
from sync.untrusted import shown_path
from sync.upstream import Upstream

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data:; base-uri 'none'; form-action 'none'")
NEEDS_REVIEW = ("fuzz", "merged", "partly upstream", "resolved", "conflict", "dropped", "new",
                "absorbed", "empty", "not tried")


def render_page(review: Review) -> str:
    """The whole page."""
    assets = resources.files("sync.review").joinpath("assets")
    css = assets.joinpath("review.css").read_text("utf-8")
    script = assets.joinpath("review.js").read_text("utf-8")
    title = f"simapp-sync review: {review.title}"
    colours = Highlighter()
    body = "\n".join([
        f"<h1>{escape(title)}</h1>",
        _overview(review),
        _toolbar(review),
        _index(review.patches),
        *(_section(row, colours) for row in review.patches),
        f"<footer>written by <code>{escape(program.command('report --format html'))}</code>"
        "</footer>",
    ])
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>\n{css}{style_sheet()}</style>\n</head>\n"
            f"<body>\n<main>\n{body}\n</main>\n<script>\n{script}</script>\n</body>\n</html>\n")


def _overview(review: Review) -> str:
    facts = ['<table class="facts"><tr><th></th><th>before</th><th>after</th></tr>']
    for label, key in (("image", "image"), ("digest", "digest"), ("created", "created"),
                       ("upstream commit", "commit")):
        facts.append(f"<tr><th>{label}</th><td>{_fact(review.old, key)}</td>"
                     f"<td>{_fact(review.new, key)}</td></tr>")
    facts.append("</table>")
    targets = ['<table class="grid"><tr><th>target</th><th class="num">added</th>'
               '<th class="num">removed</th><th class="num">changed</th>'
               '<th class="num">lines</th></tr>']
    for target in review.targets:
        targets.append(f"<tr><td><code>{escape(target.target)}/</code></td>"
                       f'<td class="num">{target.added:,}</td>'
                       f'<td class="num">{target.removed:,}</td>'
                       f'<td class="num">{target.changed:,}</td>'
                       f'<td class="num">+{target.insertions:,} −{target.deletions:,}</td></tr>')
    targets.append("</table>")
    parts = ['<div class="overview">',
             f"<div><h3>Upstream</h3>{''.join(facts)}</div>",
             f"<div><h3>Upstream changes</h3>{''.join(targets)}{_rendered(review)}</div>",
             "</div>"]
    if review.stopped_at:
        files = ", ".join(f"<code>{escape(shown_path(path))}</code>"
                          for path in review.conflicts)
        parts.append(f'<p class="warning"><strong>rebase-patches stopped at '
                     f"<code>{escape(review.stopped_at)}</code></strong>: conflicts in "
                     f"{files or 'the patch'}</p>")
    parts += [f'<p class="note">{escape(note)}</p>' for note in review.notes]
    return "\n".join(parts)


def _rendered(review: Review) -> str:
    if review.rendered is None:
        return ""
    if not review.rendered:
        return '<h3>Rendered files</h3><p class="note">none changed</p>'
    items = "".join(f"<li><code>{escape(item.path)}</code> ({item.change})</li>"
                    for item in review.rendered)
    return f'<h3>Rendered files</h3><ul class="rendered">{items}</ul>'


def _fact(side: Upstream | None, key: str) -> str:
    value = getattr(side, key) if side is not None else None
    if not value:
        return "—"
    return f"<code>{escape(value[:12] if key == 'commit' else value)}</code>"


def _toolbar(review: Review) -> str:
    chips = [f'<label class="chip"><input type="checkbox" value="{escape(category)}" checked>'
             f'<span class="badge {_css(category)}">{escape(category)}</span>'
             f'<span class="n">{count}</span></label>'
             for category, count in review.count_by_status().items()]
    review_only = " ".join(NEEDS_REVIEW)
    return (f'<div class="toolbar"><span id="filters">{"".join(chips)}</span>'
            f'<button type="button" data-only="*">all</button>'
            f'<button type="button" data-only="{review_only}">needs review</button>'
            '<input type="search" id="search" placeholder="Search patches, files, lines (/)" '
            'aria-label="Search patches">'
            '<span class="views"><button type="button" id="view-unified" aria-pressed="true">'
            'Unified</button><button type="button" id="view-split" aria-pressed="false">'
            "Side by side</button></span>"
            f'<span id="shown">{len(review.patches)} of {len(review.patches)} patches shown'
            '</span><span class="keys"><kbd>j</kbd>/<kbd>k</kbd> next/previous, '
            "<kbd>/</kbd> search, <kbd>u</kbd>/<kbd>s</kbd> view, <kbd>o</kbd> fold</span>"
            "</div>")


def _index(rows: Sequence[PatchRow]) -> str:
    lines = ['<table class="grid" id="index"><tr><th class="num">#</th><th>patch</th>'
             '<th>status</th><th class="num">files</th><th class="num">lines</th>'
             "<th>the patch itself</th></tr>"]
    for row in rows:
        files, added, removed = row.counts
        summary = row.delta.summary if row.delta else "—"
        lines.append(f'<tr data-patch="{_anchor(row)}"><td class="num">{row.index}</td>'
                     f'<td><a href="#{_anchor(row)}"><code>{escape(row.name)}</code></a></td>'
                     f'<td><span class="badge {_css(row.category)}">'
                     f"{escape(row.status_text)}</span></td>"
                     f'<td class="num">{files}</td><td class="num">+{added} −{removed}</td>'
                     f"<td>{escape(summary)}</td></tr>")
    lines.append("</table>")
    return "".join(lines)


def _section(row: PatchRow, colours: Highlighter) -> str:
    files, added, removed = row.counts
    summary = row.delta.summary if row.delta else (
        "not tried: the rebase stopped before it" if row.category == "not tried" else "")
    evidence = row.report.evidence if row.report else ()
    conflicts = row.report.conflicts if row.report else ()
    head = (f'<header><h2><span class="idx">{row.index}</span>'
            f"<code>{escape(row.name)}</code>"
            f'<span class="badge {_css(row.category)}">{escape(row.status_text)}</span>'
            f'<span class="counts">{files} file{"s" if files != 1 else ""} '
            f"+{added} −{removed}</span></h2>"
            + (f'<p class="summary">the patch itself: {escape(summary)}</p>' if row.delta
               else f'<p class="summary">{escape(summary)}</p>' if summary else "")
            + _evidence(evidence, conflicts) + "</header>")
    if row.changed:
        assert row.delta is not None
        lines = parse(row.delta.interdiff, row.paths[0] if row.paths else None)
        body = (f"<details open><summary>interdiff: what changed in the patch</summary>"
                f"{unified(lines, colours)}{side_by_side(lines, colours)}</details>")
    else:
        body = ""
    return (f'<section class="patch" id="{_anchor(row)}" data-status="{escape(row.category)}" '
            f'data-name="{escape(row.name)}" tabindex="-1">{head}'
            f'<div class="body">{body}</div></section>')


def _evidence(evidence: Sequence[str], conflicts: Sequence[str]) -> str:
    items = [f"<li>{escape(line)}</li>" for line in evidence]
    items += [f"<li>conflict in <code>{escape(shown_path(path))}</code></li>"
              for path in conflicts]
    return f'<ul class="evidence">{"".join(items)}</ul>' if items else ""


def _anchor(row: PatchRow) -> str:
    return f"p-{row.index}"


def _css(category: str) -> str:
    return "s-" + category.replace(" ", "-")
