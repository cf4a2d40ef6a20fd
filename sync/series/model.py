"""What a parsed patch file is: a mail header and file sections made of hunks.

Everything here is immutable and holds bytes exactly as they appear in the patch file, so that a
patch can be applied, compared and written back without any re-encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

from sync.errors import PatchError
from sync.git.mapped import let_go
from sync.series.binary import BinaryProblem, decode_block
from sync.series.textlines import Text

MODE_FILE = 0o100644
MODE_EXECUTABLE = 0o100755
MODE_SYMLINK = 0o120000
MODE_TREE = 0o040000


class Change(str, Enum):
    """What a file section does to its file."""

    MODIFY = "modify"
    ADD = "add"
    DELETE = "delete"
    RENAME = "rename"
    COPY = "copy"


@dataclass(frozen=True)
class Hunk:
    """One ``@@ -a,b +c,d @@`` block.

    ``before`` and ``after`` are the preimage and postimage lines, each with its line terminator
    (the last one lacks it when the hunk says "\\ No newline at end of file"). The first
    ``leading`` and the last ``trailing`` lines of both are context.
    """

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    before: tuple[bytes, ...]
    after: tuple[bytes, ...]
    leading: int
    trailing: int
    line: int  # 1-based line of the @@ header in the patch file
    added: int = 0  # number of '+' lines
    removed: int = 0  # number of '-' lines

    @property
    def expected_index(self) -> int:
        """0-based index of the preimage's first line in the file the patch was made on."""
        return self.old_start if self.old_count == 0 else self.old_start - 1

    @property
    def title(self) -> str:
        return f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"


@dataclass(frozen=True)
class BinaryHunk:
    """One half of a ``GIT binary patch``: the full new content, or a delta against the old.

    Parsed lazily: only the method, the declared size and where the base85 lines stand in the
    patch text are kept; ``data`` decodes them on each use (a literal whose content is already in
    the repository, named by the ``index`` line, is never decoded).
    """

    method: str  # "literal" or "delta"
    size: int  # declared size of the inflated data
    text: Text = field(repr=False, compare=False)  # the patch file's text
    start: int  # byte span of the base85 lines in ``text``
    end: int
    line: int  # 1-based line of "literal N" / "delta N"
    patch: str = ""  # the patch file's name, for messages

    @property
    def data(self) -> bytes:
        """The inflated data: the content (literal) or git delta instructions (delta).

        Raises PatchError naming the patch and line when the data is corrupt.
        """
        encoded = self.text[self.start:self.end]  # a copy: the mapped pages can go
        let_go(self.text)
        try:
            return decode_block(encoded, self.line + 1, self.size)
        except BinaryProblem as problem:
            raise PatchError(f"{self.patch}:{problem.line or self.line}: corrupt binary patch: "
                             f"{problem}",
                             hint="fix or regenerate the patch, then run the command again"
                             ) from None


@dataclass(frozen=True)
class BinaryPatch:
    """A ``GIT binary patch`` section: the forward hunk, and the reverse one git adds."""

    forward: BinaryHunk
    reverse: BinaryHunk | None
    line: int


@dataclass(frozen=True)
class FilePatch:
    """One file section (``diff --git`` or plain ``---``/``+++``)."""

    change: Change
    old_path: str | None  # None for a new file
    new_path: str | None  # None for a deleted file
    old_mode: int | None
    new_mode: int | None
    old_oid: str | None  # from the ``index`` line; may be abbreviated
    new_oid: str | None
    hunks: tuple[Hunk, ...]
    binary: BinaryPatch | None
    line: int  # 1-based line where the section starts
    binary_without_data: bool = False  # "Binary files ... differ": cannot be applied
    span: tuple[int, int] = (0, 0)  # byte offsets of the section in the patch text

    @property
    def path(self) -> str:
        """The path the section leaves behind (or removes)."""
        path = self.new_path if self.new_path is not None else self.old_path
        assert path is not None
        return path

    @property
    def added(self) -> int:
        return sum(hunk.added for hunk in self.hunks)

    @property
    def removed(self) -> int:
        return sum(hunk.removed for hunk in self.hunks)


@dataclass(frozen=True)
class PatchMeta:
    """What the header says about the patch: mail headers and DEP-3 fields."""

    subject: str | None = None
    author: str | None = None
    date: str | None = None
    description: str = ""
    fields: tuple[tuple[str, str], ...] = ()  # DEP-3 fields in file order, names as written

    def field(self, name: str) -> str | None:
        """A DEP-3 field by case-insensitive name (``Forwarded``, ``Origin``...)."""
        wanted = name.lower()
        return next((value for key, value in self.fields if key.lower() == wanted), None)


@dataclass(frozen=True)
class Patch:
    """A whole patch file: ``preamble`` (mail header and description) then file sections."""

    name: str
    text: Text  # bytes, or a mapping of the patch file (its pages let go once read)
    preamble: bytes
    files: tuple[FilePatch, ...]
    meta: PatchMeta
    strip: int = 1

    @property
    def added(self) -> int:
        return sum(file.added for file in self.files)

    @property
    def removed(self) -> int:
        return sum(file.removed for file in self.files)

    @cached_property
    def sections(self) -> tuple[memoryview, ...]:
        """Each file section's text (its ``span``) as a view of ``text``, made once: a refresh
        that reuses a binary section reuses this very view, and knows it unchanged by identity
        without reading it (the pages of a mapped text stay unread)."""
        view = memoryview(self.text)
        return tuple(view[file.span[0]:file.span[1]] for file in self.files)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path the patch reads or writes, in section order, without duplicates."""
        seen: dict[str, None] = {}
        for file in self.files:
            for path in (file.old_path, file.new_path):
                if path is not None:
                    seen.setdefault(path, None)
        return tuple(seen)
