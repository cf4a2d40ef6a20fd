"""Syntax colours for the code inside an interdiff, by the language of the file it belongs to.

Pygments (a dependency of rich, named in pyproject) lexes each line's code; a file whose name
it does not know, or a line too long to be worth it, is left plain. The colours are CSS classes
under ``.hl``, light and dark (``style_sheet``), inlined into the page like the rest.
"""

from __future__ import annotations

import html

from pygments import format as format_tokens
from pygments import lex
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.util import ClassNotFound

LIGHT_STYLE = "default"
DARK_STYLE = "monokai"
LONGEST = 2_000  # characters: a longer line (minified, generated) stays plain
_FORMATTER = HtmlFormatter(nowrap=True)


class Highlighter:
    """Colours code lines; one lexer per file name, looked up once."""

    def __init__(self) -> None:
        self._lexers: dict[str, Lexer | None] = {}

    def code(self, path: str | None, text: str) -> str:
        """``text`` (one line of ``path``) as HTML: escaped, coloured when the language is known."""
        lexer = self._lexer(path) if path else None
        if lexer is None or len(text) > LONGEST or not text.strip():
            return html.escape(text, quote=True)
        return str(format_tokens(lex(text, lexer), _FORMATTER)).rstrip("\n")

    def _lexer(self, path: str) -> Lexer | None:
        name = path.rsplit("/", 1)[-1]
        if name not in self._lexers:
            try:
                self._lexers[name] = get_lexer_for_filename(name, stripnl=False,
                                                            ensurenl=False)
            except ClassNotFound:
                self._lexers[name] = None
        return self._lexers[name]


def style_sheet() -> str:
    """The token colours, light by default and dark where the reader prefers it."""
    light = HtmlFormatter(style=LIGHT_STYLE).get_style_defs(".hl")
    dark = HtmlFormatter(style=DARK_STYLE).get_style_defs(".hl")
    return f"{_colours_only(light)}\n@media (prefers-color-scheme: dark) {{\n" \
           f"{_colours_only(dark)}\n}}\n"


def _colours_only(rules: str) -> str:
    """Token rules only: no backgrounds (the diff rows own those), no line-number rules."""
    kept = []
    for rule in rules.splitlines():
        if not rule.startswith(".hl .") or "linenos" in rule or "hll" in rule:
            continue
        kept.append(rule.replace("background-color", "--unused-background"))
    return "\n".join(kept)
