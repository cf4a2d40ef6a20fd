"""The image's files that git treats specially: which ones pull drops, and why.

An upstream image is not under the maintainer's control, so a pull that refused such a file
would refuse forever. Instead the file is left out, named in a warning, in ``--json`` and in an
``Upstream-Dropped`` trailer of the commit, and everything else is kept. What is dropped, at any
depth and under every spelling git takes for the name (any case, NTFS short names such as
``gitmod~1``, trailing dots and spaces, characters HFS+ ignores), is what would make the
upstream branch fail ``git fsck --strict``, fail to check out, or change what git checks out:

- ``.gitmodules``: a symlink or a folder, one over ``MAX_GITMODULES`` bytes, and one holding a
  submodule name, url, path or update setting that fsck refuses (``gitmodulesName``, ...). The
  file is read in a plain subset of git's config syntax, where our reading provably matches
  git's; anything outside it (quotes, escapes, continued lines) is dropped as unreadable. A
  valid ``.gitmodules`` is kept: without gitlinks, which an image never yields, it does nothing.
- ``.gitattributes``: every one. Attributes would change the bytes git checks out (``text``,
  ``eol``, ``ident``, ``working-tree-encoding``, ``filter=``) and so what `git status` shows and
  what `sync build` copies into the image, and would run the ``diff=``/``merge=``/``filter=``
  drivers the maintainer configured (git-lfs); which ones change bytes cannot be told from the
  file alone (macros come from the maintainer's own attributes).
- ``.gitignore`` and ``.mailmap`` that are symlinks: fsck flags them, and git (2.32 on) does not
  follow them anyway. (A symlinked ``.gitmodules`` is worse: git refuses to check it out.)

The rules are pure: blob contents come through a ``BlobReader`` the caller provides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote_to_bytes

from sync.filetree import MODE_SYMLINK, Leaf, Tree
from sync.image.safety import HFS_IGNORABLE, display
from sync.untrusted import path_bytes

_HFS_IGNORABLE_CHARS = frozenset(chr(code) for code in HFS_IGNORABLE)
MAX_GITMODULES = 1 << 20  # larger ones are dropped unread (git's limit is far higher)

# git's names for the special files, with the prefix of their NTFS fall-back short names
_SPECIAL = {"gitmodules": "gi7eba", "gitattributes": "gi7d29", "gitignore": "gi250a",
            "mailmap": "maba30"}

REASONS = {
    "gitmodulesSymlink": ".gitmodules is a symbolic link (git refuses to check it out)",
    "gitmodulesBlob": "a folder named .gitmodules (git expects a file)",
    "gitmodulesLarge": f".gitmodules over {MAX_GITMODULES // 1024} KiB, too large to check",
    "gitmodulesParse": ".gitmodules not in the plain config syntax simapp-sync can check "
                       "(quotes, escapes or continued lines)",
    "gitmodulesName": "a submodule name git refuses (empty, or a '..' component)",
    "gitmodulesUrl": "a submodule url git refuses (an option, a newline, or '../' escaping "
                     "its root)",
    "gitmodulesPath": "a submodule path git refuses (it looks like an option)",
    "gitmodulesUpdate": "a submodule update command ('!...') git refuses",
    "gitattributes": "attributes would change how git checks out, compares and merges the "
                     "imported files",
    "gitattributesSymlink": ".gitattributes is a symbolic link (fsck flags it, git does not "
                            "follow it)",
    "gitattributesBlob": "a folder named .gitattributes (git expects a file)",
    "gitignoreSymlink": ".gitignore is a symbolic link (fsck flags it, git does not follow it)",
    "mailmapSymlink": ".mailmap is a symbolic link (fsck flags it, git does not follow it)",
}


class BlobReader(Protocol):
    """Reads back blobs the flattener wrote (the git adapter implements it)."""

    def size(self, oid: str) -> int:
        """The size in bytes of blob ``oid``."""
        ...

    def read(self, oid: str) -> bytes:
        """The content of blob ``oid``."""
        ...


@dataclass(frozen=True)
class Dropped:
    """A file (or folder) left out of the upstream tree: its repository path and why.

    ``reason`` is git's fsck message id where there is one (``gitmodulesUrl``), else
    ``gitattributes``; ``files`` and ``bytes`` are what it held.
    """

    path: str
    reason: str
    files: int = 1
    bytes: int = 0

    @property
    def detail(self) -> str:
        """The reason in words."""
        return REASONS[self.reason]

    @property
    def warning(self) -> str:
        """The line `pull` warns with."""
        return f"{shown(self.path)}: dropped, {self.detail} [{self.reason}]"


def shown(path: str) -> str:
    """``path`` as is when printable, else quoted (no control character reaches a terminal)."""
    return path if path.isprintable() else display(path)


def drop_git_special(tree: Tree, blobs: BlobReader, prefix: str = "") -> list[Dropped]:
    """Remove from ``tree`` (in place) the git-special files described above; say which."""
    dropped: list[Dropped] = []
    for name in sorted(tree.children):
        node = tree.children[name]
        reason = None
        for kind in special_kinds(name):  # usually none
            reason = reason or _verdict(kind, node, blobs)
        if reason is not None:
            files, size = _contents(node, blobs)
            dropped.append(Dropped(f"{prefix}{name}", reason, files, size))
            del tree.children[name]
        elif type(node) is Tree:
            dropped.extend(drop_git_special(node, blobs, f"{prefix}{name}/"))
    return dropped


def _verdict(kind: str, node: Tree | Leaf, blobs: BlobReader) -> str | None:
    symlink = isinstance(node, Leaf) and node.mode == MODE_SYMLINK
    if kind == "gitattributes":
        return ("gitattributesBlob" if isinstance(node, Tree) else
                "gitattributesSymlink" if symlink else "gitattributes")
    if kind == "gitmodules":
        if isinstance(node, Tree):
            return "gitmodulesBlob"
        if symlink:
            return "gitmodulesSymlink"
        if blobs.size(node.oid) > MAX_GITMODULES:
            return "gitmodulesLarge"
        return gitmodules_problem(blobs.read(node.oid))
    return f"{kind}Symlink" if symlink else None


def _contents(node: Tree | Leaf, blobs: BlobReader) -> tuple[int, int]:
    leaves = list(_leaves(node))
    return len(leaves), sum(blobs.size(leaf.oid) for leaf in leaves if leaf.mode != MODE_SYMLINK)


def _leaves(node: Tree | Leaf) -> Iterator[Leaf]:
    if isinstance(node, Leaf):
        yield node
        return
    for child in node.children.values():
        yield from _leaves(child)


# -- names: git's is_hfs_dot<name>() and is_ntfs_dot<name>() ----------------------------------


def special_kinds(name: str) -> tuple[str, ...]:
    """Which of git's special files (``"gitmodules"``, ``"gitattributes"``, ``"gitignore"``,
    ``"mailmap"``) git takes ``name`` for on some file system: usually none, a few short names
    such as ``~1234567`` are all four."""
    if not name or (name[0] not in ".gGmM~" and name[0] not in _HFS_IGNORABLE_CHARS):
        return ()  # the cheap common case: every spelling starts so
    raw = path_bytes(name)
    return tuple(kind for kind, short in _SPECIAL.items()
                 if _is_hfs_dot(name, kind) or _is_ntfs_dot(raw, kind.encode(), short.encode()))


def _is_hfs_dot(name: str, needle: str) -> bool:
    """HFS+: ".needle" once the ignorable code points are gone, ASCII case folded."""
    folded = name.translate(HFS_IGNORABLE)
    return folded.isascii() and folded.lower() == f".{needle}"


def _is_ntfs_dot(name: bytes, needle: bytes, short: bytes) -> bool:
    """NTFS: ".needle", its 6-letter short name "needle~N" (N 1-4) or the hashed fall-back
    short name ("gi7eba~N"), each followed only by spaces and dots (or an ":stream")."""
    lowered = name.lower()  # bytes.lower() folds ASCII only, as git's strncasecmp does
    if lowered.startswith(b"." + needle):
        return _only_spaces_and_dots(name[len(needle) + 1:])
    if lowered[:6] == needle[:6] and name[6:7] == b"~" and name[7:8] in (b"1", b"2", b"3", b"4"):
        return _only_spaces_and_dots(name[8:])
    match = re.match(rb"([^~]{0,6})~[1-9][0-9]*", name[:8])
    if match is None or match.end() != 8:
        return False
    stem = match.group(1)
    return stem.isascii() and stem.lower() == short[:len(stem)] and \
        _only_spaces_and_dots(name[8:])


def _only_spaces_and_dots(rest: bytes) -> bool:
    return rest.split(b":", 1)[0].strip(b" .") == b""


# -- .gitmodules: what git's fsck_gitmodules_fn() refuses --------------------------------------

_HEADER = re.compile(r'\[([A-Za-z0-9-]+)(?:[ \t]+"([^"\\]*)")?\][ \t]*(?:[#;].*)?')
_ENTRY = re.compile(r"([A-Za-z][A-Za-z0-9-]*)[ \t]*(?:=(.*))?")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def gitmodules_problem(data: bytes) -> str | None:
    """The fsck message id (``gitmodulesUrl``, ...) that makes git refuse ``.gitmodules``
    content ``data``, ``gitmodulesParse`` when it is not in the subset read here, else None."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return "gitmodulesParse"
    section: str | None = None
    subsection: str | None = None
    for line in text.split("\n"):
        line = line.removesuffix("\r").lstrip(" \t")
        if not line or line[0] in "#;":
            continue
        if _CONTROL.search(line):
            return "gitmodulesParse"
        if (header := _HEADER.fullmatch(line)) is not None:
            section, subsection = header.group(1).lower(), header.group(2)
            if section == "submodule" and subsection is not None and not _valid_name(subsection):
                return "gitmodulesName"
            continue
        entry = _ENTRY.fullmatch(line)
        if entry is None or section is None or '"' in line or "\\" in line:
            return "gitmodulesParse"
        if section != "submodule" or subsection is None or entry.group(2) is None:
            continue
        problem = _entry_problem(entry.group(1).lower(), _value(entry.group(2)))
        if problem is not None:
            return problem
    return None


def _value(raw: str) -> str:
    """A config value without quotes or escapes as git reads it: up to a comment, trimmed."""
    return re.split(r"[#;]", raw, maxsplit=1)[0].strip(" \t")


def _entry_problem(key: str, value: str) -> str | None:
    if key == "url" and not _valid_url(value):
        return "gitmodulesUrl"
    if key == "path" and value.startswith("-"):
        return "gitmodulesPath"
    if key == "update" and value.startswith("!"):
        return "gitmodulesUpdate"
    return None


def _valid_name(name: str) -> bool:
    """git's check_submodule_name(): not empty, no ".." between '/' or '\\' separators."""
    return bool(name) and ".." not in re.split(r"[/\\]", name)


def _valid_url(url: str) -> bool:
    """git's check_submodule_url()."""
    if url.startswith("-"):
        return False
    if _dot_slash(url) or _dot_dot_slash(url) or url.startswith("git://"):
        if b"\n" in unquote_to_bytes(url):
            return False
        rest, climbs = url, 0
        while True:
            if _dot_dot_slash(rest):
                rest, climbs = rest[3:], climbs + 1
            elif _dot_slash(rest):
                rest = rest[2:]
            else:
                break
        return not (climbs and rest[:1] in (":", "/"))
    for prefix in ("http::", "https::", "ftp::", "ftps::"):
        if url.startswith(prefix):
            return _valid_curl_url(url[len(prefix):])
    if url.startswith(("http://", "https://", "ftp://", "ftps://")):
        return _valid_curl_url(url)
    return True


def _dot_slash(text: str) -> bool:
    return text[:1] == "." and text[1:2] in ("/", "\\")  # a separator on Windows too


def _dot_dot_slash(text: str) -> bool:
    return text[:1] == "." and _dot_slash(text[1:])


def _valid_curl_url(url: str) -> bool:
    """git's credential_from_url_gently() succeeds and finds a host (no newline anywhere)."""
    scheme_end = url.find("://")
    if scheme_end <= 0 or b"\n" in unquote_to_bytes(url):
        return False
    rest = url[scheme_end + 3:]
    at = rest.find("@")  # user name and password: checked with the whole url above
    slash = min((index for index in (rest.find(c) for c in "/?#") if index >= 0),
                default=len(rest))
    return slash > (0 if at < 0 or slash <= at else at + 1)  # a host
