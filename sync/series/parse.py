"""Patch files -> ``Patch``: ``git format-patch`` mails and plain unified diffs.

Strict where it matters (hunk line counts, binary data, paths) so that a damaged patch is an error
naming its line instead of a silently different result; lenient about text between sections,
as ``patch`` and ``git apply`` are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import repeat

from sync.errors import PatchError
from sync.git.mapped import Told, count, let_go
from sync.series.binary import over_cap
from sync.series.mail import parse_meta
from sync.series.model import BinaryHunk, BinaryPatch, Change, FilePatch, Hunk, Patch
from sync.series.paths import PathProblem, check_path, strip_components, unquote
from sync.series.textlines import Lines, Text, split_lines

_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_INDEX = re.compile(rb"^index ([0-9a-fA-F]+)\.\.([0-9a-fA-F]+)(?: ([0-7]+))?\s*$")
_BINARY = re.compile(rb"^(literal|delta) (\d+)\s*$")
_SIGNATURES = (b"-- \n", b"--\n", b"-- \r\n")
_BLANK = re.compile(rb"\n[ \t\r]*(?:\n|$)")


def parse_patch(data: Text, name: str, *, strip: int = 1,
                targets: Sequence[str] | None = None,
                progress: Told | None = None) -> Patch:
    """Parse a patch file; ``name`` is used in messages, ``targets`` confine every path.

    ``data`` may be a mapping of the patch file: the pages read are let go after each file
    section, so a 100 MB mail is never resident whole (the patch keeps it, as spans).
    ``progress(bytes parsed, bytes in all)`` is told after each file section.

    Raises PatchError naming ``name`` and the line for anything malformed or unsafe.
    """
    return _Parser(data, name, strip, targets, progress).parse()


class _Parser:
    def __init__(self, data: Text, name: str, strip: int, targets: Sequence[str] | None,
                 progress: Told | None = None) -> None:
        self.data = data
        self.progress = progress
        self.name = name
        self.strip = strip
        self.targets = targets
        self.lines = Lines(data)  # cut as they are reached: base85 lines are never cut
        self.i = 0

    # --- errors ------------------------------------------------------------------------------
    def error(self, index: int, message: str) -> PatchError:
        return PatchError(f"{self.name}:{index + 1}: {message}",
                          hint="fix or regenerate the patch, then run the command again")

    # --- whole file --------------------------------------------------------------------------
    def parse(self) -> Patch:
        start = self._first_section()
        if start == len(self.lines):  # no file section: hunks here would be silently ignored
            for index in range(len(self.lines)):
                if _HUNK.match(self.lines[index]):
                    raise self.error(index, "hunk without a file header (--- / +++ lines)")
        preamble = self.data[:self._offset(start)]
        self.i = start
        files: list[FilePatch] = []
        after_hunk = False
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line in _SIGNATURES:
                break
            if line.startswith(b"diff --git "):
                files.append(self._git_section())
                after_hunk = bool(files[-1].hunks)
            elif self._plain_start(self.i) is not None:
                files.append(self._plain_section())
                after_hunk = True
            elif line.startswith(b"@@"):
                raise self.error(self.i, "hunk without a file header (--- / +++ lines)")
            elif after_hunk and line[:1] in (b"+", b"-", b" ") and line.strip(b" \r\n"):
                # a blank context line past the count is ignored, as GNU patch does
                raise self.error(self.i, "malformed hunk: more lines than its @@ header says")
            else:
                after_hunk = False
                self.i += 1
                continue
            let_go(self.data)  # a section read: its pages are not needed in memory
            if self.progress is not None:
                self.progress(self._offset(self.i), len(self.data))
        paths_seen: dict[str, int] = {}
        for number, file in enumerate(files):
            if file.path in paths_seen and not _type_change(files[number - 1], file):
                raise PatchError(f"{self.name}:{file.line}: {file.path} appears twice in the "
                                 f"patch (first at line {paths_seen[file.path]})")
            paths_seen[file.path] = file.line
        return Patch(name=self.name, text=self.data, preamble=preamble, files=tuple(files),
                     meta=parse_meta(preamble), strip=self.strip)

    def _first_section(self) -> int:
        for index in range(len(self.lines)):
            line = self.lines[index]
            if line.startswith(b"diff --git ") or (
                    line[:1] in (b"I", b"d", b"-") and self._plain_start(index) is not None):
                return index
        return len(self.lines)

    def _plain_start(self, index: int) -> int | None:
        """Index of the ``---`` line when a plain unified-diff section starts at ``index``."""
        lines = self.lines
        if index < len(lines) and lines[index].startswith(b"Index: "):
            index += 1
            if index < len(lines) and lines[index].startswith(b"===="):
                index += 1
        elif index < len(lines) and lines[index].startswith(b"diff ") and not lines[
                index].startswith(b"diff --git "):
            index += 1
        if (index + 2 < len(lines) and lines[index].startswith(b"--- ")
                and lines[index + 1].startswith(b"+++ ") and lines[index + 2].startswith(b"@@ -")):
            return index
        return None

    # --- sections ----------------------------------------------------------------------------
    def _git_section(self) -> FilePatch:
        start = self.i
        header = self.lines[start].rstrip(b"\r\n")[len(b"diff --git "):]
        begin = self._offset(start)
        self.i += 1
        change = Change.MODIFY
        old_mode = new_mode = None
        old_oid = new_oid = None
        old_name: str | None = None
        new_name: str | None = None
        where = {"old": start, "new": start}  # the line naming each path, for messages
        while self.i < len(self.lines):
            line = self.lines[self.i].rstrip(b"\r\n")
            if line.startswith(b"old mode "):
                old_mode = self._mode(line[9:])
            elif line.startswith(b"new mode "):
                new_mode = self._mode(line[9:])
            elif line.startswith(b"deleted file mode "):
                change, old_mode = Change.DELETE, self._mode(line[18:])
            elif line.startswith(b"new file mode "):
                change, new_mode = Change.ADD, self._mode(line[14:])
            elif line.startswith((b"rename from ", b"copy from ")):
                change = Change.RENAME if line.startswith(b"rename") else Change.COPY
                old_name = self._path(line.split(b" ", 2)[2], self.i, strip=0)
                where["old"] = self.i
            elif line.startswith((b"rename to ", b"copy to ")):
                new_name = self._path(line.split(b" ", 2)[2], self.i, strip=0)
                where["new"] = self.i
            elif line.startswith((b"similarity index ", b"dissimilarity index ")):
                pass
            elif line.startswith(b"index "):
                match = _INDEX.match(line)
                if not match:
                    raise self.error(self.i, "malformed index line")
                old_oid, new_oid = match.group(1).decode(), match.group(2).decode()
                if match.group(3):
                    mode = self._mode(match.group(3))
                    old_mode = old_mode or mode
                    new_mode = new_mode or mode
            else:
                break
            self.i += 1
        hunks: tuple[Hunk, ...] = ()
        binary = None
        without_data = False
        line = self.lines[self.i] if self.i < len(self.lines) else b""
        if line.startswith(b"--- "):
            dashes = self.i
            minus, plus = self._file_lines()
            if change not in (Change.RENAME, Change.COPY):
                old_name = minus if minus is not None else old_name
                new_name = plus if plus is not None else new_name
                where = {"old": dashes, "new": dashes + 1}
            # an empty file added or deleted: libgit2 writes ---/+++ without a hunk
            empty = change in (Change.ADD, Change.DELETE) and not (
                self.i < len(self.lines) and self.lines[self.i].startswith(b"@@"))
            hunks = () if empty else self._hunks()
        elif line.startswith(b"GIT binary patch"):
            binary = self._binary()
        elif line.startswith(b"Binary files "):
            without_data = True
            self.i += 1
        if old_name is None and change not in (Change.ADD,) or (
                new_name is None and change not in (Change.DELETE,)):
            both = self._header_names(header, start)
            old_name = old_name or both
            new_name = new_name or both
        if change is Change.ADD:
            old_name = None
        elif change is Change.DELETE:
            new_name = None
        elif change is Change.MODIFY and old_name != new_name:
            old_name = new_name  # a plain edit; the --- side may name a backup copy
            where["old"] = where["new"]
        for name, side in ((old_name, "old"), (new_name, "new")):
            if name is not None:
                self._confine(name, where[side])
        return FilePatch(change=change, old_path=old_name, new_path=new_name, old_mode=old_mode,
                         new_mode=new_mode, old_oid=old_oid, new_oid=new_oid, hunks=hunks,
                         binary=binary, line=start + 1, binary_without_data=without_data,
                         span=(begin, self._offset(min(self.i, len(self.lines)))))

    def _plain_section(self) -> FilePatch:
        start = self.i
        dashes = self._plain_start(self.i)
        assert dashes is not None
        self.i = dashes
        old_name, new_name = self._file_lines()
        hunks = self._hunks()
        if old_name is None and new_name is None:
            raise self.error(dashes, "both file names are /dev/null")
        if old_name is None:
            change = Change.ADD
        elif new_name is None:
            change = Change.DELETE
        else:
            change = Change.MODIFY
            old_name = new_name
        for name, index in ((old_name, dashes), (new_name, dashes + 1)):
            if name is not None:
                self._confine(name, index)
        return FilePatch(change=change, old_path=old_name, new_path=new_name, old_mode=None,
                         new_mode=None, old_oid=None, new_oid=None, hunks=hunks, binary=None,
                         line=start + 1)

    def _file_lines(self) -> tuple[str | None, str | None]:
        minus = self._file_name(self.lines[self.i][4:], self.i)
        self.i += 1
        if self.i >= len(self.lines) or not self.lines[self.i].startswith(b"+++ "):
            raise self.error(self.i, "expected a +++ line after the --- line")
        plus = self._file_name(self.lines[self.i][4:], self.i)
        self.i += 1
        return minus, plus

    def _file_name(self, raw: bytes, index: int) -> str | None:
        raw = raw.rstrip(b"\r\n")
        if not raw.startswith(b'"'):
            raw = raw.split(b"\t", 1)[0]  # GNU diff appends a tab and a timestamp
        if raw == b"/dev/null":
            return None
        return self._path(raw, index, strip=self.strip)

    def _header_names(self, header: bytes, index: int) -> str:
        """The file name of ``diff --git a/NAME b/NAME`` when the section says nothing else."""
        if header.startswith(b'"'):
            end = _closing_quote(header)
            first, second = header[:end + 1], header[end + 2:]
            candidates = [(first, second)]
        else:
            candidates = [(header[:k], header[k + 1:]) for k, char in enumerate(header)
                          if char == 0x20]
        for first, second in candidates:
            try:
                a = strip_components(first, self.strip)
                b = strip_components(second, self.strip)
            except PathProblem:
                continue
            if a == b:
                return self._path(first, index, strip=self.strip)
        raise self.error(index, "cannot tell the file name from the diff --git line")

    def _path(self, raw: bytes, index: int, *, strip: int) -> str:
        try:
            return strip_components(raw.rstrip(b"\r\n"), strip)
        except PathProblem as problem:
            raise self.error(index, str(problem)) from None

    def _confine(self, path: str, index: int) -> None:
        try:
            check_path(path, self.targets)
        except PathProblem as problem:
            raise self.error(index, str(problem)) from None

    def _mode(self, raw: bytes) -> int:
        try:
            mode = int(raw.strip(), 8)
        except ValueError:
            raise self.error(self.i, f"bad file mode {raw.strip().decode('latin-1')!r}") from None
        if mode not in (0o100644, 0o100755, 0o120000, 0o100664):
            raise self.error(self.i, f"unsupported file mode {mode:o}")
        return 0o100644 if mode == 0o100664 else mode

    # --- hunks -------------------------------------------------------------------------------
    def _hunks(self) -> tuple[Hunk, ...]:
        hunks = []
        while self.i < len(self.lines) and self.lines[self.i].startswith(b"@@"):
            hunks.append(self._hunk())
        if not hunks:
            raise self.error(self.i, "file header without any hunk")
        return tuple(hunks)

    def _hunk(self) -> Hunk:
        start = self.i
        match = _HUNK.match(self.lines[start])
        if not match:
            raise self.error(start, "malformed hunk header")
        old_start, new_start = int(match.group(1)), int(match.group(3))
        old_count = int(match.group(2)) if match.group(2) is not None else 1
        new_count = int(match.group(4)) if match.group(4) is not None else 1
        self.i += 1
        before: list[bytes] = []
        after: list[bytes] = []
        kinds = bytearray()  # b" ", b"-" or b"+" per body line
        old_left, new_left = old_count, new_count
        index, total = self.i, len(self.lines)
        window, first = self.lines.window(index)  # the lines in hand, read without a call each
        markers = False
        if not old_count or not new_count:
            # a new file's text or a deleted file's (most of a series' lines): all "+" or all
            # "-", taken a window at a time; a line of any other shape is left to the loop
            # below (which refuses it)
            sign, side, left = (b"+", after, new_left) if not old_count else \
                (b"-", before, old_left)
            while left and index < total:
                if index - first >= len(window):
                    window, first = self.lines.window(index)
                at = index - first
                taken = window[at:at + left]
                # (every line but the text's last ends with a newline: only the last is looked
                # at)
                if not (all(map(bytes.startswith, taken, repeat(sign))) and taken
                        and taken[-1].endswith(b"\n")):
                    break
                side += [line[1:] for line in taken]
                kinds += sign * len(taken)
                index, left = index + len(taken), left - len(taken)
            old_left, new_left = (old_left, left) if not old_count else (left, new_left)
        while old_left or new_left or (index < total and self.lines[index][:1] == b"\\"):
            if index >= total:
                self.i = index
                raise self.error(index - 1, f"malformed hunk at line {start + 1}: the patch "
                                 f"ends {old_left} preimage / {new_left} postimage lines early")
            if index - first >= len(window):
                window, first = self.lines.window(index)
            line = window[index - first]
            kind = line[0] if line else 0
            if kind == 0x0A or line == b"\r\n":  # an empty context line whose space was lost
                kind, line = 0x20, b" " + line
            if kind == 0x5C:  # "\ No newline at end of file"
                if not kinds:
                    self.i = index
                    raise self.error(index, "no-newline marker before any line")
                _drop_newline(kinds[-1], before, after)
                markers = True
                index += 1
                continue
            body = line[1:] if line[-1:] == b"\n" else line[1:] + b"\n"
            if kind == 0x20 and old_left and new_left:
                before.append(body)
                after.append(body)
                old_left -= 1
                new_left -= 1
            elif kind == 0x2D and old_left:
                before.append(body)
                old_left -= 1
            elif kind == 0x2B and new_left:
                after.append(body)
                new_left -= 1
            else:
                self.i = index
                raise self.error(index, f"malformed hunk at line {start + 1}: unexpected "
                                 f"{line[:40].decode('utf-8', 'replace').rstrip()!r} "
                                 f"({old_left} preimage / {new_left} postimage lines left)")
            kinds.append(kind)
            index += 1
        self.i = index
        if markers:
            for side in (before, after):
                if any(not item.endswith(b"\n") for item in side[:-1]):
                    raise self.error(start, "no-newline marker in the middle of a hunk")
        leading = len(kinds) - len(kinds.lstrip(b" "))
        trailing = 0 if leading == len(kinds) else len(kinds) - len(kinds.rstrip(b" "))
        return Hunk(old_start=old_start, old_count=old_count, new_start=new_start,
                    new_count=new_count, before=tuple(before), after=tuple(after),
                    leading=leading, trailing=trailing, line=start + 1,
                    added=kinds.count(0x2B), removed=kinds.count(0x2D))

    # --- binary ------------------------------------------------------------------------------
    def _binary(self) -> BinaryPatch:
        start = self.i
        self.i += 1
        forward = self._binary_hunk()
        reverse = None
        if self.i < len(self.lines) and _BINARY.match(self.lines[self.i]):
            reverse = self._binary_hunk()
        return BinaryPatch(forward=forward, reverse=reverse, line=start + 1)

    def _binary_hunk(self) -> BinaryHunk:
        start = self.i
        match = _BINARY.match(self.lines[start]) if start < len(self.lines) else None
        if not match:
            raise self.error(start, "expected 'literal N' or 'delta N' in a binary patch")
        # the base85 lines run to the first blank line: found by searching the text, not by
        # walking the lines (a series holds millions of them; they are decoded only if needed)
        begin = self._offset(start + 1)
        blank = _BLANK.search(self.data, begin - 1) if begin else _BLANK.search(self.data)
        end = blank.start() + 1 if blank is not None else len(self.data)
        self.i = start + 1 + count(self.data, b"\n", begin, end) + 1  # past the blank line
        if blank is not None and self.i < len(self.lines):
            self.lines.skip_to(self.i, blank.end())
        if begin == end:
            raise self.error(start + 1, "corrupt binary patch: no data after the header")
        problem = over_cap(int(match.group(2)), f"'{match.group(1).decode()}' data")
        if problem is not None:  # refused before anything is decoded
            raise self.error(start, problem)
        return BinaryHunk(method=match.group(1).decode(), size=int(match.group(2)),
                          text=self.data, start=begin, end=end, line=start + 1, patch=self.name)

    def _offset(self, index: int) -> int:
        """Byte offset of line ``index`` in the text."""
        return self.lines.offset(index)


def _type_change(first: FilePatch, second: FilePatch) -> bool:
    """git writes a file <-> symlink change as the deletion and the creation of one path."""
    return (first.change is Change.DELETE and second.change is Change.ADD
            and first.path == second.path)


def _drop_newline(kind: int, before: list[bytes], after: list[bytes]) -> None:
    sides = {0x20: (before, after), 0x2D: (before,), 0x2B: (after,)}[kind]
    for side in sides:
        if side and side[-1].endswith(b"\n"):
            side[-1] = side[-1][:-1]


def _closing_quote(text: bytes) -> int:
    index = 1
    while index < len(text):
        if text[index] == 0x5C:
            index += 2
            continue
        if text[index] == 0x22:
            return index
        index += 1
    return len(text) - 1


__all__ = ["parse_patch", "split_lines", "unquote"]
