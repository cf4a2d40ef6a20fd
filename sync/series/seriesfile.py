"""``patches/series``: quilt's format, plus the upstream base in a comment quilt and git ignore.

Each non-blank, non-comment line names a patch file (relative to ``patches/``), optionally
followed by ``-pN``. Rewriting keeps every other line (comments, blank lines) byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sync.errors import PatchError
from sync.series.paths import PathProblem, check_path

BASE_PREFIX = "# upstream: "
_BASE = re.compile(r"^#\s*upstream:\s*([0-9a-f]{40}|[0-9a-f]{64})\s*$")
_STRIP = re.compile(r"^-p(\d+)$")


@dataclass(frozen=True)
class SeriesEntry:
    """One patch of the series."""

    name: str
    strip: int = 1
    line: int = 0  # 1-based line in the series file (0 when added in memory)


@dataclass(frozen=True)
class _Line:
    """One line of the series file: a patch entry, the upstream record, or anything else."""

    text: str  # the line without its terminator
    entry: SeriesEntry | None = None
    base: str | None = None


@dataclass(frozen=True)
class Series:
    """The parsed series file; ``format()`` gives it back, changed only where asked."""

    lines: tuple[_Line, ...]
    newline_at_end: bool = True
    filename: str = "patches/series"

    @property
    def entries(self) -> tuple[SeriesEntry, ...]:
        return tuple(line.entry for line in self.lines if line.entry is not None)

    @property
    def base(self) -> str | None:
        """The upstream commit the series was last refreshed against, if recorded."""
        return next((line.base for line in self.lines if line.base is not None), None)

    def with_base(self, commit: str) -> Series:
        """Record ``commit`` as the base: replace the comment, or add it as the first line."""
        new = _Line(BASE_PREFIX + commit, base=commit)
        if self.base is None:
            return replace(self, lines=(new, *self.lines))
        return replace(self, lines=tuple(new if line.base is not None else line
                                         for line in self.lines))

    def without(self, names: set[str] | frozenset[str]) -> Series:
        """The series minus the entries named ``names``."""
        return replace(self, lines=tuple(line for line in self.lines
                                         if line.entry is None or line.entry.name not in names))

    def with_entry(self, entry: SeriesEntry) -> Series:
        """Replace the entry of the same name (e.g. to drop its -pN), else append it."""
        text = entry.name if entry.strip == 1 else f"{entry.name} -p{entry.strip}"
        new = _Line(text, entry=entry)
        if any(line.entry is not None and line.entry.name == entry.name for line in self.lines):
            return replace(self, lines=tuple(
                new if line.entry is not None and line.entry.name == entry.name else line
                for line in self.lines))
        return replace(self, lines=(*self.lines, new))

    def format(self) -> bytes:
        text = "\n".join(line.text for line in self.lines)
        if self.lines and self.newline_at_end:
            text += "\n"
        return text.encode("utf-8", "surrogateescape")


def parse_series(data: bytes, filename: str = "patches/series") -> Series:
    """Parse a series file; PatchError naming the file and line for anything malformed."""
    text = data.decode("utf-8", "surrogateescape")
    raw_lines = text.split("\n")
    newline_at_end = text.endswith("\n")
    if newline_at_end:
        raw_lines.pop()
    lines = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_lines, 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            match = _BASE.match(stripped)
            lines.append(_Line(raw, base=match.group(1) if match else None))
            continue
        words = stripped.split("#", 1)[0].split()
        name, options = words[0], words[1:]
        strip = 1
        for option in options:
            match = _STRIP.match(option)
            if not match:
                raise PatchError(f"{filename}:{number}: unsupported option {option!r} for "
                                 f"{name}", hint="only -pN is supported after a patch name")
            strip = int(match.group(1))
        try:
            check_path(name, None)
        except PathProblem as problem:
            raise PatchError(f"{filename}:{number}: patch name {problem}") from None
        if name in seen:
            raise PatchError(f"{filename}:{number}: {name} is listed twice "
                             f"(first on line {seen[name]})")
        seen[name] = number
        lines.append(_Line(raw, entry=SeriesEntry(name, strip, number)))
    return Series(lines=tuple(lines), newline_at_end=newline_at_end, filename=filename)


def empty_series(filename: str = "patches/series") -> Series:
    return Series(lines=(), filename=filename)
