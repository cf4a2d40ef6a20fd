"""The lines of a large text, cut a window at a time instead of all at once.

A grouped patch can be a 100 MB mail of which most is base85 data that the parser skips by
searching the text; splitting it whole into a list of lines costs seconds and several times its
size in memory. ``Lines`` looks like that list (``lines[i]``, ``len(lines)``) but only cuts the
lines around the ones asked for, and the parser moves past a binary block with ``skip_to``
without ever cutting its lines.

The text may be a read-only mapping of the patch file (``sync.git.mapped``) rather than bytes:
everything here reads it by slices, ``find`` and regular expressions, which both support.
"""

from __future__ import annotations

import mmap

from sync.git.mapped import count

# the text of a patch file: bytes, or a mapping of the file whose pages are let go once used
Text = bytes | mmap.mmap

WINDOW = 1 << 16  # bytes cut into lines at a time


def split_lines(data: bytes) -> list[bytes]:
    """Lines with their ``\\n`` kept; only ``\\n`` separates lines (``\\r`` is content)."""
    if b"\r" not in data:  # then bytes.splitlines cuts at "\n" only, in one pass
        return data.splitlines(keepends=True)
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


class Lines:
    """``split_lines(data)`` as a sequence whose items are cut on demand.

    The lines in hand are one window (``WINDOW`` bytes or so, ending at a line's end) and the
    one before it; asking for a line behind them starts again from the top (the parser only
    ever looks a few lines back).
    """

    __slots__ = ("_base", "_lines", "_previous", "data", "total")

    def __init__(self, data: Text) -> None:
        self.data = data
        self.total = count(data, b"\n") + (1 if len(data) and data[-1:] != b"\n" else 0)
        self._base = (0, 0)  # (index, byte offset) of the window's first line
        self._lines: list[bytes] = []
        self._previous: tuple[int, int, list[bytes]] = (0, 0, [])

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, index: int) -> bytes:
        first = self._base[0]
        if first <= index < first + len(self._lines):
            return self._lines[index - first]
        return self._find(index)[0]

    def window(self, index: int) -> tuple[list[bytes], int]:
        """The lines in hand from line ``index`` on, and the index of the list's first line
        (``index`` past the end: an empty list)."""
        if index >= self.total:
            return [], index
        _line, window, first, _start = self._find(index)
        return window, first

    def offset(self, index: int) -> int:
        """Byte offset in ``data`` where line ``index`` starts (``len(data)`` past the end)."""
        if index >= self.total:
            return len(self.data)
        line, window, first, start = self._find(index)
        return start + sum(map(len, window[:index - first]))

    def skip_to(self, index: int, offset: int) -> None:
        """Make line ``index``, known to start at byte ``offset``, the next window's first."""
        self._previous = (*self._base, self._lines)
        self._base, self._lines = (index, offset), []

    def _find(self, index: int) -> tuple[bytes, list[bytes], int, int]:
        """Line ``index`` and the window holding it (its lines, first index, first offset)."""
        if not 0 <= index < self.total:
            raise IndexError(index)
        first, start = self._base
        if index < first:
            back, back_start, lines = self._previous
            if back <= index < back + len(lines):
                return lines[index - back], lines, back, back_start
            self._previous = (0, 0, [])
            self._base, self._lines = (0, 0), []
            first, start = 0, 0
        while index >= first + len(self._lines):  # cut the following windows
            start += sum(map(len, self._lines))
            first += len(self._lines)
            self._previous = (*self._base, self._lines)
            self._base = (first, start)
            self._lines = split_lines(self.data[start:self._window_end(start)])
        return self._lines[index - first], self._lines, first, start

    def _window_end(self, start: int) -> int:
        newline = self.data.find(b"\n", start + WINDOW)
        return len(self.data) if newline < 0 else newline + 1
