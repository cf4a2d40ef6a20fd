"""What cannot be shown as it is: control characters written as escapes, not sent.

Paths, patch names, references and messages come from images, registries and patches. Printed
raw, an escape sequence in one of them could move the cursor, retitle the terminal, hide a line
or fake a success. ``visible`` is the one spelling of such a character (``\\x1b``, as git quotes
such bytes in paths; a raw file-name byte as git's octal ``\\351``): ``sync.console.SafeConsole``
applies it to everything the consoles print, and ``OCTAL_ESCAPES`` (a codec error handler) to
text written outside a console (stdout, stderr, the pager, report -o). No rich here: a run
that draws nothing does not load it.
"""

from __future__ import annotations

import codecs
import re

# C0 but tab and newline, DEL, C1, the Unicode line and paragraph separators, and the raw bytes
# of a file name that is not UTF-8 (surrogate escapes, shown as git's octal: \351)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]")


def visible(text: str) -> str:
    """``text`` with each control character written as an escape (``\\x1b``, ``\\u2028``)."""
    return CONTROL.sub(lambda match: _escaped(match.group()), text)


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
