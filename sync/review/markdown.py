"""The review as GitHub-flavoured markdown, sized for a pull request body.

GitHub refuses a body over 65,536 characters; this stays under ``LIMIT``. When the whole review
does not fit, it gives up detail in this order, and says so: the interdiffs that do not fit
(listed, with a pointer to the HTML page), then the rows of patches that need no attention
(clean or only moved), then every row (counts only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sync import program
from sync.review.model import PatchRow, Review
from sync.untrusted import shown_path
from sync.upstream import Upstream

LIMIT = 65_000
QUIET = frozenset({"clean", "offset"})  # rows a reviewer need not read when space is short
_FENCE = re.compile(r"`{3,}")


def render_markdown(review: Review, *, html_url: str | None = None,
                    limit: int = LIMIT) -> str:
    """The markdown text, at most ``limit`` characters."""
    head = _head(review)
    tail = _tail(review, html_url)
    for hide_quiet in (False, True):
        table = _table(review.patches, hide_quiet=hide_quiet)
        budget = limit - len(head) - len(table) - len(tail)
        if budget >= 0:
            return head + table + _interdiffs(review.patches, budget, html_url) + tail
    short = head + _counts_only(review, html_url) + tail
    return short if len(short) <= limit else short[:limit - 2] + "…\n"


def _head(review: Review) -> str:
    lines = [f"## simapp-sync review: {review.title}", ""]
    lines += ["| | before | after |", "|---|---|---|"]
    for label, key in (("image", "image"), ("digest", "digest"), ("created", "created"),
                       ("upstream commit", "commit")):
        lines.append(f"| {label} | {_value(review.old, key)} | {_value(review.new, key)} |")
    lines += ["", "### Upstream changes", ""]
    lines += ["| target | added | removed | changed | lines |", "|---|--:|--:|--:|--:|"]
    for target in review.targets:
        lines.append(f"| `{target.target}/` | {target.added:,} | {target.removed:,} | "
                     f"{target.changed:,} | +{target.insertions:,} −{target.deletions:,} |")
    counts = ", ".join(f"{count} {category}" for category, count
                       in review.count_by_status().items())
    lines += ["", f"### Patches: {len(review.patches)}" + (f" ({counts})" if counts else ""),
              ""]
    if review.stopped_at:
        files = ", ".join(f"`{shown_path(path)}`" for path in review.conflicts) or "the patch"
        lines += ["> [!WARNING]", f"> rebase-patches stopped at `{review.stopped_at}`: "
                  f"conflicts in {files}", ""]
    for note in review.notes:
        lines += [f"_{_cell(note)}_", ""]
    return "\n".join(lines) + "\n"


def _value(side: Upstream | None, key: str) -> str:
    value = getattr(side, key) if side is not None else None
    if not value:
        return "—"
    return f"`{value[:12]}`" if key == "commit" else f"`{value}`"


def _table(rows: Sequence[PatchRow], *, hide_quiet: bool) -> str:
    lines = ["| # | patch | status | files | lines | the patch itself |",
             "|--:|---|---|--:|--:|---|"]
    hidden = 0
    for row in rows:
        if hide_quiet and row.category in QUIET and not row.changed:
            hidden += 1
            continue
        files, added, removed = row.counts
        summary = row.delta.summary if row.delta else "—"
        lines.append(f"| {row.index} | `{_code(row.name)}` | {_cell(row.status_text)} | "
                     f"{files} | +{added} −{removed} | {_cell(summary)} |")
    if hidden:
        lines += ["", f"_{hidden} more patch{'es' if hidden != 1 else ''} applied clean or "
                      "with an offset and did not change (not listed to fit a PR body)._"]
    return "\n".join(lines) + "\n"


def _interdiffs(rows: Sequence[PatchRow], budget: int, html_url: str | None) -> str:
    changed = [row for row in rows if row.changed]
    if not changed:
        return ""
    header = "\n### What changed in each patch (interdiffs)\n\n"
    parts: list[str] = []
    left: list[str] = []
    used = len(header) + 200  # room for the "not shown" line
    for row in changed:
        assert row.delta is not None
        block = _details(row)
        if not left and used + len(block) <= budget:
            parts.append(block)
            used += len(block)
        else:
            left.append(row.name)
    if left:
        where = f"[the HTML review]({html_url})" if html_url else "the HTML review " \
                f"(`{program.command('report --format html')}`)"
        names = ", ".join(f"`{_code(name)}`" for name in left[:20])
        more = f" and {len(left) - 20} more" if len(left) > 20 else ""
        parts.append(f"_{len(left)} interdiff{'s' if len(left) != 1 else ''} too large for a "
                     f"PR body ({names}{more}): see {where}._\n")
    if len(header) + sum(len(part) for part in parts) > budget:
        return ""
    return header + "".join(parts)


def _details(row: PatchRow) -> str:
    assert row.delta is not None
    text = row.delta.interdiff.decode("utf-8", "replace")
    longest = max((len(run) for run in _FENCE.findall(text)), default=2)
    fence = "`" * max(3, longest + 1)
    return (f"<details><summary><code>{_html(row.name)}</code>: {_html(row.delta.summary)}"
            f"</summary>\n\n{fence}diff\n{text.rstrip()}\n{fence}\n\n</details>\n\n")


def _tail(review: Review, html_url: str | None) -> str:
    lines = [""]
    if review.rendered is not None:
        if review.rendered:
            lines += ["### Rendered files", ""]
            lines += [f"- `{item.path}` ({item.change})" for item in review.rendered]
        else:
            lines += ["### Rendered files", "", "_none changed_"]
        lines.append("")
    if html_url:
        lines += [f"The full review, with side-by-side interdiffs: [review.html]({html_url})",
                  ""]
    lines.append(f"<sub>written by <code>{program.command('report')}</code></sub>")
    return "\n".join(lines) + "\n"


def _counts_only(review: Review, html_url: str | None) -> str:
    where = f"[the HTML review]({html_url})" if html_url else "the HTML review"
    attention = [row for row in review.patches if row.category not in QUIET]
    names = ", ".join(f"`{_code(row.name)}` ({_cell(row.status_text)})"
                      for row in attention[:50])
    more = f" and {len(attention) - 50} more" if len(attention) > 50 else ""
    return (f"_The per-patch table is too large for a PR body: see {where}._\n\n"
            + (f"Patches to look at: {names}{more}.\n" if attention else ""))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return text.replace("`", "'")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
