"""Builders for patch-series tests: upstream commits, maintainer checkouts, real git patches."""

from __future__ import annotations

import mmap
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pygit2

from sync.git.trees import Entry, update_tree, write_blob

MODE_FILE = 0o100644
MODE_EXECUTABLE = 0o100755
MODE_SYMLINK = 0o120000

Files = Mapping[str, "bytes | tuple[int, bytes]"]

MANIFEST = """\
image: public.ecr.aws/k1d3r4z1/deepracer-sim-public
tag: latest
branch: upstream
paths:
  - source: /opt/amazon
    target: bundle
"""
SIGNATURE = pygit2.Signature("Upstream Bot", "bot@example.com", 1700000000, 0)


def git(path: Path, *args: str, input: bytes | None = None, check: bool = True) -> str:
    """Run real git in ``path``; returns stdout (text)."""
    result = subprocess.run(["git", "-C", str(path), *args], input=input, capture_output=True,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.decode()}")
    return result.stdout.decode("utf-8", "replace")


def entry_of(repo: pygit2.Repository, value: bytes | tuple[int, bytes]) -> Entry:
    mode, data = value if isinstance(value, tuple) else (MODE_FILE, value)
    return Entry(mode, write_blob(repo, data))


def make_tree(repo: pygit2.Repository, files: Files) -> str:
    """A tree holding exactly ``files`` (path -> bytes, or (mode, bytes))."""
    return update_tree(repo, None, {path: entry_of(repo, value) for path, value in files.items()})


def upstream_commit(repo: pygit2.Repository, files: Files, message: str = "Upstream",
                    branch: str = "upstream") -> str:
    """Commit ``files`` (the targets at the root, as `sync pull` does) on ``branch``."""
    ref = f"refs/heads/{branch}"
    parents = [repo.references[ref].target] if ref in repo.references else []
    tree = pygit2.Oid(hex=make_tree(repo, files))
    return str(repo.create_commit(ref, SIGNATURE, SIGNATURE, message, tree, parents))


def new_checkout(top: Path) -> pygit2.Repository:
    """An empty repository at ``top``, on branch main."""
    git(top.parent, "init", "-q", "-b", "main", str(top))
    return pygit2.Repository(str(top))


def commit_one_patch(repo: pygit2.Repository, base: Mapping[str, bytes], name: str,
                     text: bytes) -> str:
    """Commit on main ``base`` (the files under bundle/, also committed upstream) and a series
    of the one patch ``name`` (``text``) recorded on that upstream commit; its id."""
    top = Path(repo.workdir)
    recorded = upstream_commit(repo, base)
    (top / "bundle").mkdir()
    for path, data in base.items():
        (top / path).parent.mkdir(parents=True, exist_ok=True)
        (top / path).write_bytes(data)
    (top / "patches").mkdir()
    (top / "patches" / name).write_bytes(text)
    (top / "patches" / "series").write_text(f"# upstream: {recorded}\n{name}\n")
    (top / "upstream-manifest.yaml").write_text(
        "image: x/y\ntag: latest\nbranch: upstream\npaths:\n"
        "  - source: /opt/amazon\n    target: bundle\n")
    git(top, "add", "-A")
    git(top, "-c", "user.name=A", "-c", "user.email=a@b.c", "commit", "-qm", "series")
    return recorded


def unmerge(repo: pygit2.Repository, path: str,
            sides: Sequence[bytes] = (b"base\n", b"ours\n", b"theirs\n")) -> None:
    """Replace ``path``'s index entry by three unmerged stages (a conflict left unresolved),
    written to the index file."""
    index = repo.index
    index.read()
    index.remove(path)
    index.add_conflict(*[pygit2.IndexEntry(path, repo.create_blob(text),
                                           pygit2.enums.FileMode.BLOB) for text in sides])
    index.write()


def read_worktree(top: Path, roots: Sequence[str] = ("bundle", "patches")) -> dict[str, bytes]:
    """Every file (and symlink, as ``->target``) under ``roots``, for byte-exact comparisons."""
    found: dict[str, bytes] = {}
    for root in roots:
        base = top / root
        if not base.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
                path = Path(dirpath) / name
                key = path.relative_to(top).as_posix()
                if path.is_symlink():
                    found[key] = b"->" + os.fsencode(os.readlink(path))
                else:
                    mode = b"x:" if os.access(path, os.X_OK) else b""
                    found[key] = mode + path.read_bytes()
    return found


def write_files(top: Path, files: Files) -> None:
    for path, value in files.items():
        mode, data = value if isinstance(value, tuple) else (MODE_FILE, value)
        full = top / path
        full.parent.mkdir(parents=True, exist_ok=True)
        if mode == MODE_SYMLINK:
            full.symlink_to(os.fsdecode(data))
        else:
            full.write_bytes(data)
            full.chmod(0o755 if mode == MODE_EXECUTABLE else 0o644)


def format_patches(scratch: Path, states: Sequence[Files], subjects: Sequence[str]) -> list[bytes]:
    """Real ``git format-patch`` output for each step states[i] -> states[i+1]."""
    assert len(subjects) == len(states) - 1
    pygit2.init_repository(str(scratch), initial_head="main")
    for number, files in enumerate(states):
        for child in scratch.iterdir():
            if child.name != ".git":
                subprocess.run(["rm", "-rf", str(child)], check=True)
        write_files(scratch, files)
        git(scratch, "add", "-A")
        message = "base" if number == 0 else subjects[number - 1]
        git(scratch, "commit", "-q", "--allow-empty", "-m", message)
    out = git(scratch, "format-patch", "--stdout", "-M", f"HEAD~{len(subjects)}..HEAD")
    mails = out.encode().split(b"\nFrom ")
    return [mail if index == 0 else b"From " + mail for index, mail in enumerate(mails)]


class Checkout:
    """A maintainer's repository: main with bundle/ and patches/, an upstream branch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.repo = pygit2.Repository(str(path))
        (path / "upstream-manifest.yaml").write_text(MANIFEST)

    def upstream(self, files: Files, message: str = "Upstream") -> str:
        return upstream_commit(self.repo, files, message)

    def write(self, files: Files) -> None:
        write_files(self.path, files)

    def patches(self, patches: Mapping[str, bytes], base: str | None = None,
                extra_series: str = "") -> None:
        """Write patch files and a series naming them in order, with the recorded base."""
        folder = self.path / "patches"
        folder.mkdir(exist_ok=True)
        lines = [f"# upstream: {base}"] if base else []
        for name, text in patches.items():
            (folder / name).write_bytes(text)
            lines.append(name)
        (folder / "series").write_text("\n".join(lines) + "\n" + extra_series)

    def commit(self, message: str = "work") -> None:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message)

    def files(self) -> dict[str, bytes]:
        return read_worktree(self.path)

    def read(self, path: str) -> bytes:
        return (self.path / path).read_bytes()


def base85_line(chunk: bytes) -> bytes:
    """One line of a ``GIT binary patch`` section: a length character, then git's base85."""
    import base64
    padded = chunk + b"\0" * (-len(chunk) % 4)
    length = chunk and (b"A"[0] + len(chunk) - 1 if len(chunk) <= 26 else b"a"[0] + len(chunk) - 27)
    return bytes([length]) + base64.b85encode(padded)


def base85_block(deflated: bytes) -> bytes:
    """``deflated`` as the lines of a binary section (52 bytes a line, as git writes them)."""
    return b"".join(base85_line(deflated[at:at + 52]) + b"\n" for at in range(0, len(deflated), 52))


def mapped(path: Path, text: bytes) -> mmap.mmap:
    """``text`` as a rebase reads a patch from the work tree: a read-only mapping of its file."""
    path.write_bytes(text)
    with path.open("rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
