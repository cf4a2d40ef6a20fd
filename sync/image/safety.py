"""Validation of untrusted names from image archives.

Every tar member name is checked for escapes (absolute, drive prefix, ".." above the root) before
anything else looks at it. Paths that are kept, and therefore land in git, are checked further:
no backslash and no component that git itself would treat as ``.git`` on any file
system it protects (any case, NTFS 8.3 short name and trailing dots/spaces, HFS+ ignorable code
points), so a checkout of the upstream branch can never write into a repository's ``.git``.
A NUL byte is refused in every name; a kept name is also refused when a checkout could not
create it (a component over ``NAME_MAX`` or a path over ``PATH_MAX`` bytes), so that surfaces at
pull, not at rebase or checkout.
"""

from __future__ import annotations

import posixpath

from sync.errors import UnsafeArchiveError
from sync.untrusted import path_bytes

_HINT = "the image archive is malformed or malicious; nothing was written"
NAME_MAX = 255  # bytes in one path component (Linux, and git's checkout through it)
PATH_MAX = 4096  # bytes in a repository path, and in a symlink's text with its NUL

# Code points HFS+ ignores when comparing names (git's utf8.c, next_hfs_char): a name such as
# ".g\u200cit" is ".git" to a Mac, so git refuses it and so do we.
HFS_IGNORABLE = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


def display(name: str) -> str:
    """A printable form of an untrusted name: repr, or the raw bytes when not valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return repr(name.encode("utf-8", "surrogateescape"))
    return repr(name)


def unsafe(name: str, reason: str, where: str = "") -> UnsafeArchiveError:
    """The error for an unsafe member ``name`` (found in ``where``, e.g. a layer), naming it."""
    prefix = f"{where}: " if where else ""
    return UnsafeArchiveError(f"{prefix}unsafe archive member {display(name)}: {reason}",
                              hint=_HINT)


def normalize_member_name(name: str, where: str = "") -> str:
    """Return the image path of tar member ``name``: no leading "./", no empty or "." parts.

    The root itself is "". Raises ``UnsafeArchiveError`` for an absolute name, a drive prefix
    or a ".." that climbs above the root; a ".." that stays inside is resolved lexically.
    ``where`` (a layer description) prefixes error messages.
    """
    original = name
    if "\0" in name:
        raise unsafe(original, "NUL byte in the name", where)
    if name.startswith("./"):
        name = name[2:]
    if name.startswith("/"):
        raise unsafe(original, "absolute path", where)
    if _has_drive(name):
        raise unsafe(original, "drive prefix", where)
    # fast path: what well-formed layer tars contain
    if not ("//" in name or "/." in name or name.startswith(".") or name.endswith("/")):
        return name
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise unsafe(original, "'..' climbs out of the root", where)
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def is_dotgit(component: str) -> bool:
    """True when git would refuse ``component`` as an alias of ".git" on some file system."""
    folded = component.translate(HFS_IGNORABLE).lower()
    if folded == ".git":
        return True
    # NTFS: an alternate data stream (".git::$INDEX_ALLOCATION") and trailing dots and spaces
    # all name the same directory, as does the 8.3 short name "git~1".
    stem = folded.split(":", 1)[0].rstrip(". ")
    return stem in (".git", "git~1")


def check_kept_path(path: str, relative: str, where: str = "", target: str = "") -> None:
    """Raise ``UnsafeArchiveError`` if kept image ``path`` must not reach git.

    ``relative`` is the part below its source (the part that becomes a repository path),
    ``target`` the repository path it becomes. Backslashes are only refused here, in kept
    paths: real images have them elsewhere (systemd unit names such as
    ``dev-disk-by\\x2dlabel.device``). A name that is not UTF-8 is kept, as git keeps it: its
    bytes ride along as surrogate escapes.
    """
    if not relative:
        return
    if len(target) > PATH_MAX // 4 and len(path_bytes(target)) > PATH_MAX:
        raise unsafe(path, f"its repository path is over {PATH_MAX} bytes (a checkout could "
                           "not create it)", where)
    if "\\" in relative:
        raise unsafe(path, "backslash in a name (a directory separator on Windows)", where)
    if _has_drive(relative):
        raise unsafe(path, "drive prefix", where)
    for component in relative.split("/"):
        # cheap pre-check: every spelling of .git has a "g" (or an ignorable) in it
        if ("g" in component or "G" in component) and is_dotgit(component):
            raise unsafe(path, f"{display(component)} is a .git directory to git", where)
        if len(component) > NAME_MAX // 4 and len(
                path_bytes(component)) > NAME_MAX:
            raise unsafe(path, f"a name over {NAME_MAX} bytes (a checkout could not create "
                               "it)", where)


def check_link_text(path: str, link: str, where: str = "") -> None:
    """Raise ``UnsafeArchiveError`` if kept symlink ``path``'s text could not be checked out:
    a NUL byte in it, or over ``PATH_MAX - 1`` bytes."""
    if "\0" in link:
        raise unsafe(path, f"NUL byte in its link text {display(link)}", where)
    if len(link) >= PATH_MAX // 4 and len(path_bytes(link)) >= PATH_MAX:
        raise unsafe(path, f"its link text is over {PATH_MAX - 1} bytes", where)


def _has_drive(name: str) -> bool:
    return len(name) > 1 and name[1] == ":" and name[0].isascii() and name[0].isalpha()


def symlink_escape(path: str, link: str, root: str) -> str | None:
    """A warning when symlink ``path`` (below repository folder ``root``) points outside ``root``.

    The link text is kept verbatim; the warning tells the maintainer where it points.
    """
    if link.startswith("/"):
        return f"{path}: symlink to absolute path {display(link)} points outside {root}/"
    relative = path[len(root) + 1:] if root else path
    depth = relative.count("/")  # directories between root and the link
    for part in link.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return f"{path}: symlink to {display(link)} points outside {root}/"
        elif part not in ("", "."):
            depth += 1
    return None


def resolve_link(parent: str, link: str) -> str:
    """Where symlink text ``link`` found in image directory ``parent`` points, inside the image.

    As in a chroot, ".." at the root stays at the root. Returns an image path ("" is the root).
    """
    joined = link if link.startswith("/") else f"/{parent}/{link}"
    return posixpath.normpath(joined).lstrip("/")
