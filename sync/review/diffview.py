"""Interdiffs as HTML tables, unified and side by side, highlighted on two levels.

An interdiff is a diff of two patches, so each of its lines carries two markers: the first says
whether the line left or entered the patch (row background), the second what the line does in
the patch itself: added, removed, context, hunk header, file header (text colour).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from sync.review.highlight import Highlighter

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_META = ("diff --git ", "index ", "--- ", "+++ ", "new file mode", "deleted file mode",
         "rename from", "rename to", "similarity index", "old mode", "new mode",
         "Subject:", "From:", "Date:")


@dataclass(frozen=True)
class Line:
    """One interdiff line: its kind ("ctx", "add", "del", "hunk", "meta") and numbers."""

    kind: str
    text: str  # without the outer marker
    old: int | None = None
    new: int | None = None
    path: str | None = None  # the file of the patch this line belongs to, when known


def parse(interdiff: bytes, path: str | None = None) -> list[Line]:
    """The interdiff's lines, numbered on both sides (the patch file's own line numbers).

    ``path``: the patch's file until a ``diff --git`` or ``+++`` line inside names another.
    """
    lines: list[Line] = []
    old = new = 0
    for raw in interdiff.decode("utf-8", "replace").splitlines():
        path = _named(raw[1:]) or path
        if raw in ("--- old", "+++ new"):  # the file header of each diff in the interdiff
            lines.append(Line("meta", raw))
            continue
        match = _HUNK.match(raw)
        if match:
            old, new = int(match.group(1)), int(match.group(2))
            lines.append(Line("hunk", raw))
        elif raw.startswith("-"):
            lines.append(Line("del", raw[1:], old=old, path=path))
            old += 1
        elif raw.startswith("+"):
            lines.append(Line("add", raw[1:], new=new, path=path))
            new += 1
        elif raw.startswith("\\"):
            lines.append(Line("meta", raw))
        else:
            lines.append(Line("ctx", raw[1:], old=old, new=new, path=path))
            old, new = old + 1, new + 1
    return lines


def _named(text: str) -> str | None:
    """The file a patch line starts: ``diff --git a/X b/Y`` or ``+++ b/Y`` name Y."""
    if text.startswith("diff --git ") and " b/" in text:
        return text.rpartition(" b/")[2]
    if text.startswith("+++ b/"):
        return text[len("+++ b/"):]
    return None


def unified(lines: list[Line], colours: Highlighter | None = None) -> str:
    """One table: old and new line numbers, the outer marker, the highlighted line."""
    colours = colours or Highlighter()
    rows = []
    for line in lines:
        if line.kind in ("meta", "hunk"):
            rows.append(f'<tr class="{line.kind}"><td class="ln"></td><td class="ln"></td>'
                        f'<td class="op"></td><td class="code">{escape(line.text)}</td></tr>')
            continue
        marker = {"add": "+", "del": "-", "ctx": " "}[line.kind]
        rows.append(f'<tr class="{line.kind}"><td class="ln">{_number(line.old)}</td>'
                    f'<td class="ln">{_number(line.new)}</td><td class="op">{marker}</td>'
                    f'<td class="code">{inner(line.text, line.path, colours)}</td></tr>')
    return f'<div class="diff unified"><table>{"".join(rows)}</table></div>'


def side_by_side(lines: list[Line], colours: Highlighter | None = None) -> str:
    """Two columns: the patch before on the left, after on the right; changes paired."""
    colours = colours or Highlighter()
    rows: list[str] = []
    dels: list[Line] = []
    adds: list[Line] = []

    def flush() -> None:
        for index in range(max(len(dels), len(adds))):
            left = dels[index] if index < len(dels) else None
            right = adds[index] if index < len(adds) else None
            rows.append(f"<tr>{_half(left, 'old', colours)}{_half(right, 'new', colours)}</tr>")
        dels.clear()
        adds.clear()

    for line in lines:
        if line.kind == "del":
            if adds:
                flush()
            dels.append(line)
        elif line.kind == "add":
            adds.append(line)
        else:
            flush()
            if line.kind in ("meta", "hunk"):
                rows.append(f'<tr class="{line.kind}"><td class="code" colspan="4">'
                            f"{escape(line.text)}</td></tr>")
            else:
                rows.append(f"<tr>{_half(line, 'old', colours)}{_half(line, 'new', colours)}"
                            "</tr>")
    flush()
    return f'<div class="diff split"><table>{"".join(rows)}</table></div>'


def _half(line: Line | None, side: str, colours: Highlighter) -> str:
    if line is None:
        return '<td class="ln empty"></td><td class="empty split-old"></td>' if side == "old" \
            else '<td class="ln empty"></td><td class="empty"></td>'
    number = line.old if side == "old" else line.new
    tint = {"add": "add", "del": "del"}.get(line.kind, "")
    style = f' style="background:var(--{tint}-bg)"' if tint else ""
    border = " split-old" if side == "old" else ""
    return (f'<td class="ln"{style}>{_number(number)}</td>'
            f'<td class="code{border}"{style}>{inner(line.text, line.path, colours)}</td>')


def inner(text: str, path: str | None = None, colours: Highlighter | None = None) -> str:
    """A patch line: its marker coloured by what the line does inside the patch, its code
    coloured by the language of ``path``."""
    if text.startswith("@@"):
        return f'<span class="in-hunk">{escape(text)}</span>'
    if text.startswith(_META):
        return f'<span class="in-meta">{escape(text)}</span>'
    kind = {"+": "in-add", "-": "in-del", " ": "in-ctx"}.get(text[:1])
    if kind is None:
        return escape(text)
    code = (colours or Highlighter()).code(path, text[1:])
    return (f'<span class="{kind}">{escape(text[:1])}</span>'
            f'<span class="hl">{_defused(code)}</span>')


def escape(text: str) -> str:
    """HTML-escaped text in which no address reads as a link to follow (the page names no
    external URL, even in the patches' own text; the word break is invisible)."""
    return _defused(html.escape(text, quote=True))


def _defused(markup: str) -> str:
    return markup.replace("://", ":<wbr>//")


def _number(value: int | None) -> str:
    return "" if value is None else str(value)
