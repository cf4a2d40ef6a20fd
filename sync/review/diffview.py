"""Interdiffs as HTML tables, unified and side by side, highlighted on two levels.

An interdiff is a diff of two patches, so each of its lines carries two markers: the first says
whether the line left or entered the patch (row background), the second what the line does in
the patch itself: added, removed, context, hunk header, file header (text colour).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

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


def parse(interdiff: bytes) -> list[Line]:
    """The interdiff's lines, numbered on both sides (the patch file's own line numbers)."""
    lines: list[Line] = []
    old = new = 0
    for raw in interdiff.decode("utf-8", "replace").splitlines():
        if raw in ("--- old", "+++ new"):  # the file header of each diff in the interdiff
            lines.append(Line("meta", raw))
            continue
        match = _HUNK.match(raw)
        if match:
            old, new = int(match.group(1)), int(match.group(2))
            lines.append(Line("hunk", raw))
        elif raw.startswith("-"):
            lines.append(Line("del", raw[1:], old=old))
            old += 1
        elif raw.startswith("+"):
            lines.append(Line("add", raw[1:], new=new))
            new += 1
        elif raw.startswith("\\"):
            lines.append(Line("meta", raw))
        else:
            lines.append(Line("ctx", raw[1:], old=old, new=new))
            old, new = old + 1, new + 1
    return lines


def unified(lines: list[Line]) -> str:
    """One table: old and new line numbers, the outer marker, the highlighted line."""
    rows = []
    for line in lines:
        if line.kind in ("meta", "hunk"):
            rows.append(f'<tr class="{line.kind}"><td class="ln"></td><td class="ln"></td>'
                        f'<td class="op"></td><td class="code">{escape(line.text)}</td></tr>')
            continue
        marker = {"add": "+", "del": "-", "ctx": " "}[line.kind]
        rows.append(f'<tr class="{line.kind}"><td class="ln">{_number(line.old)}</td>'
                    f'<td class="ln">{_number(line.new)}</td><td class="op">{marker}</td>'
                    f'<td class="code">{inner(line.text)}</td></tr>')
    return f'<div class="diff unified"><table>{"".join(rows)}</table></div>'


def side_by_side(lines: list[Line]) -> str:
    """Two columns: the patch before on the left, after on the right; changes paired."""
    rows: list[str] = []
    dels: list[Line] = []
    adds: list[Line] = []

    def flush() -> None:
        for index in range(max(len(dels), len(adds))):
            left = dels[index] if index < len(dels) else None
            right = adds[index] if index < len(adds) else None
            rows.append(f"<tr>{_half(left, 'old')}{_half(right, 'new')}</tr>")
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
                rows.append(f"<tr>{_half(line, 'old')}{_half(line, 'new')}</tr>")
    flush()
    return f'<div class="diff split"><table>{"".join(rows)}</table></div>'


def _half(line: Line | None, side: str) -> str:
    if line is None:
        return '<td class="ln empty"></td><td class="empty split-old"></td>' if side == "old" \
            else '<td class="ln empty"></td><td class="empty"></td>'
    number = line.old if side == "old" else line.new
    tint = {"add": "add", "del": "del"}.get(line.kind, "")
    style = f' style="background:var(--{tint}-bg)"' if tint else ""
    border = " split-old" if side == "old" else ""
    return (f'<td class="ln"{style}>{_number(number)}</td>'
            f'<td class="code{border}"{style}>{inner(line.text)}</td>')


def inner(text: str) -> str:
    """A patch line, coloured by what it does inside the patch."""
    if text.startswith("@@"):
        kind = "in-hunk"
    elif text.startswith(_META):
        kind = "in-meta"
    elif text.startswith("+"):
        kind = "in-add"
    elif text.startswith("-"):
        kind = "in-del"
    else:
        return escape(text)
    return f'<span class="{kind}">{escape(text)}</span>'


def escape(text: str) -> str:
    """HTML-escaped text in which no address reads as a link to follow (the page names no
    external URL, even in the patches' own text; the word break is invisible)."""
    return html.escape(text, quote=True).replace("://", ":<wbr>//")


def _number(value: int | None) -> str:
    return "" if value is None else str(value)
