"""Consoles that cannot be steered by what they print: control characters are shown, not sent.

Paths, patch names, references and messages come from images, registries and patches. Printed
raw, an escape sequence in one of them could move the cursor, retitle the terminal, hide a line
or fake a success; ``:name:`` could turn into an emoji. ``SafeConsole`` shows every control
character as an escape (``\\x1b``, as git quotes such bytes in paths) in everything it prints —
strings, Text, table cells, progress descriptions — while rich's own styling still works.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

# C0 but tab and newline, DEL, C1, the Unicode line and paragraph separators, and the raw bytes
# of a file name that is not UTF-8 (surrogate escapes, shown as git's octal: \351)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]")


def visible(text: str) -> str:
    """``text`` with each control character written as an escape (``\\x1b``, ``\\u2028``)."""
    return _CONTROL.sub(lambda match: _escaped(match.group()), text)


def _escaped(char: str) -> str:
    """One character as it is shown: a raw file-name byte as git's ``\\351``, else ``\\x1b``."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\{code - 0xDC00:03o}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape_unencodable(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: what a stream cannot encode (a raw file-name byte) as ``_escaped``."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(map(_escaped, error.object[error.start:error.end])), error.end


# the errors= name for text written outside a console (stdout, stderr, the pager, report -o)
OCTAL_ESCAPES = "simapp-sync-octal"
codecs.register_error(OCTAL_ESCAPES, _escape_unencodable)


class SafeConsole(Console):
    """A rich Console that escapes control characters in what it renders and draws no emoji."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(emoji=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        # escaped before rich measures it, so a table cell is as wide as what it shows
        return super().render_str(visible(text), **kwargs)

    def render(self, renderable: RenderableType,
               options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):  # Text built by hand, too
            if segment.control is None and _CONTROL.search(segment.text):
                yield Segment(visible(segment.text), segment.style)
            else:
                yield segment
