"""The index's tree from its own record of its folders' trees (git's cache-tree), read here.

git keeps, in the index file's "TREE" extension, the tree id of every folder whose entries did
not change since a tree was last written; ``git add`` marks only the added file's folders out of
date. libgit2's ``write_tree`` uses that record too, but then reads back every tree of the
result to rebuild it (a thousand tree objects at real size: most of the time it takes). Here
only the folders marked out of date are written, from their entries and their subfolders' ids.

Only what git's index format documents for versions 2 and 3 is read. Anything else answers None
and the caller asks libgit2: another version (4 compresses paths), an extension git requires
readers to understand (a split or sparse index), entries with extended flags (intent to add,
skip-worktree), unmerged entries, no record, a file whose checksum does not match, or more
than ``WRITTEN_AT_MOST`` folders out of date (libgit2 writes many faster).
"""

from __future__ import annotations

import bisect
import hashlib
import re
import struct
from pathlib import Path

import pygit2

from sync.git.objects import MODE_TREE, write_raw_tree

_HEADER = struct.Struct(">4sII")  # "DIRC", version, entry count
_ENTRY = struct.Struct(">24xI12x20sH")  # mode, object id, flags (ctime ... size skipped)
_EXTENDED = 0x4000
_STAGE = 0x3000
_NAME_LENGTH = 0xFFF


Folders = dict[bytes, tuple[int, bytes]]  # folder path (b"" or b"a/b/") -> entries, tree id
_NODE = re.compile(rb"([^\0]*)\0(-?[0-9]+) ([0-9]+)\n")


def index_tree(repo: pygit2.Repository) -> str | None:
    """The tree id of the repository's index file as it is on disk (``git write-tree``), the
    folders its record holds taken as they are; None when this module cannot tell (above)."""
    try:
        data = (Path(repo.path) / "index").read_bytes()
    except FileNotFoundError:
        return None
    try:
        parsed = _parse(data)
    except (struct.error, ValueError):  # a file whose checksum holds but whose body does not
        return None  # (libgit2 then refuses it, naming the index)
    if parsed is None:
        return None
    entries, folders = parsed
    try:
        return _Builder(repo, entries, folders).tree(b"", 0)[0]
    except _ManyOutOfDate:
        return None


class _ManyOutOfDate(Exception):
    """More folders to write than libgit2 would take to write them all (its C is faster)."""


WRITTEN_AT_MOST = 64


def _parse(data: bytes) -> tuple[list[tuple[bytes, int, bytes]], Folders] | None:
    """The entries (path, mode, id) and the record of folders; None as said above."""
    if len(data) < _HEADER.size + 20 or hashlib.sha1(data[:-20]).digest() != data[-20:]:
        return None
    signature, version, count = _HEADER.unpack_from(data)
    if signature != b"DIRC" or version not in (2, 3):
        return None
    entries: list[tuple[bytes, int, bytes]] = []
    unpack, size, at = _ENTRY.unpack_from, _ENTRY.size, _HEADER.size
    for _ in range(count):
        mode, oid, flags = unpack(data, at)
        if flags & (_EXTENDED | _STAGE):
            return None
        length = flags & _NAME_LENGTH
        if length == _NAME_LENGTH:
            length = data.index(b"\0", at + size) - at - size
        entries.append((data[at + size:at + size + length], mode, oid))
        at += (size + length + 8) & ~7
    folders: Folders | None = None
    while at < len(data) - 20:
        signature, length = struct.unpack_from(">4sI", data, at)
        if signature == b"TREE":
            folders = _folders(data[at + 8:at + 8 + length])
        elif not b"A"[0] <= signature[0] <= b"Z"[0]:
            return None  # an extension readers must understand
        at += 8 + length
    if folders is None or at != len(data) - 20:
        return None
    paths = [entry[0] for entry in entries]
    return (entries, folders) if paths == sorted(paths) else None


def _folders(body: bytes) -> Folders | None:
    """The recorded folders, up to date ones only (the record lists each folder, then as many
    of its subfolders as it says, each the same way)."""
    folders: Folders = {}
    parents: list[list] = []  # [path, subfolders still to read]
    at = 0
    while at < len(body):
        node = _NODE.match(body, at)
        if node is None:
            return None
        name, entries, subfolders = node[1], int(node[2]), int(node[3])
        at = node.end()
        while parents and parents[-1][1] == 0:
            parents.pop()
        if parents:
            parents[-1][1] -= 1
            path = parents[-1][0] + name + b"/"
        else:
            path = b""
        if entries >= 0:
            if at + 20 > len(body):
                return None
            folders[path] = (entries, body[at:at + 20])
            at += 20
        parents.append([path, subfolders])
    return folders


class _Builder:
    """Folders written from the index's sorted entries, the recorded ones taken as they are."""

    def __init__(self, repo: pygit2.Repository, entries: list[tuple[bytes, int, bytes]],
                 folders: Folders) -> None:
        self.repo, self.entries, self.folders = repo, entries, folders
        self.paths = [entry[0] for entry in entries]
        self.budget = WRITTEN_AT_MOST

    def tree(self, prefix: bytes, start: int) -> tuple[str, int]:
        """The tree of the folder ``prefix`` (b"" or b"a/b/") whose entries start at ``start``,
        and where the entries after it start."""
        end = bisect.bisect_left(self.paths, prefix[:-1] + b"0", start) if prefix \
            else len(self.paths)  # "0" sorts right after "/": the first path not under it
        recorded = self.folders.get(prefix)
        if recorded is not None and recorded[0] == end - start:
            return recorded[1].hex(), end
        items: dict[bytes, tuple[int, str]] = {}
        at = start
        while at < end:
            path, mode, oid = self.entries[at]
            name, slash, _rest = path[len(prefix):].partition(b"/")
            if slash:
                folder, at = self.tree(prefix + name + b"/", at)
                items[name] = (MODE_TREE, folder)
            else:
                items[name] = (mode, oid.hex())
                at += 1
        self.budget -= 1
        if self.budget < 0:
            raise _ManyOutOfDate
        return write_raw_tree(self.repo, items), end
