"""The git-special file rules, held to git itself: the names git takes for ``.gitmodules``,
``.gitattributes``, ``.gitignore`` and ``.mailmap`` are exactly the ones ``special_kinds`` finds,
and no ``.gitmodules`` content that ``git fsck --strict`` refuses is ever judged fine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pygit2
import pytest

from sync.filetree import MODE_FILE, MODE_SYMLINK, Leaf, Tree
from sync.git.objects import blob_id
from sync.image.gitfiles import (
    MAX_GITMODULES,
    Dropped,
    drop_git_special,
    gitmodules_problem,
    special_kinds,
)

SIGNATURE = pygit2.Signature("t", "t@example.com", 0, 0)


def fsck_messages(repo: pygit2.Repository) -> list[tuple[str, str, str]]:
    """(object kind, object id, fsck message id) for everything `git fsck --strict` reports."""
    done = subprocess.run(["git", "-C", repo.path, "fsck", "--strict", "--no-dangling"],
                          capture_output=True, text=True, timeout=120)
    return re.findall(r"(?:error|warning) in (\w+) ([0-9a-f]{40}): (\w+):", done.stderr)


def commit_folders(repo: pygit2.Repository, leaves: list[tuple[str, pygit2.Oid, int]]
                   ) -> dict[str, str]:
    """One folder per (name, blob, mode), all in one commit; tree id -> its entry's name."""
    root, names = repo.TreeBuilder(), {}
    for index, (name, oid, mode) in enumerate(leaves):
        folder = repo.TreeBuilder()
        folder.insert(name, oid, mode)
        tree = folder.write()
        names[str(tree)] = name
        root.insert(f"d{index}", tree, pygit2.GIT_FILEMODE_TREE)
    repo.create_commit("refs/heads/x", SIGNATURE, SIGNATURE, "x", root.write(), [])
    return names


def spellings() -> list[str]:
    names = set()
    for base in ("gitmodules", "gitattributes", "gitignore", "mailmap", "gitmodule", "gitignorex"):
        for before in (".", "", ". ", ".\u200c", "\u200c.", "\ufeff."):
            for after in ("", ".", " ", ". .", ":x", "::$DATA", "x", "\u200c", "\u200d.", "~1"):
                for case in (str.lower, str.upper, str.title):
                    names.add(case(before + base) + after)
    names.update([
        "gitmod~1", "gitmod~4", "gitmod~5", "GITMOD~2", "gi7eba~1", "GI7EBA~9", "gi7eb~12",
        "gi7e~123", "g~123456", "~1234567", "~123456", "gi7eba~1.", "gi7eba~1 :x", "gi7eba~0",
        "gi7ebb~1", "gitatt~1", "gi7d29~1", "gitign~1", "gi250a~3", "mailma~1", "maba30~1",
        "maba3~11", "gi7d2~12", "gi250~99", "gitmod~1x", "gi7eba~10", "gi7eba1~1", "gi~12345",
        "gi~1234", "m~123456", "\u00e9gitmodules", ".gitmodul\u00e9s"])
    return sorted(names)


def test_the_special_names_are_exactly_the_ones_git_fsck_recognises(tmp_path: Path):
    """A symlink under each name: fsck reports <kind>Symlink for exactly the kinds we find."""
    repo = pygit2.init_repository(str(tmp_path / "names"), bare=True)
    target = repo.create_blob(b"target")
    leaves = []
    for name in spellings():
        try:  # libgit2 refuses the names that are .git itself; the flattener refuses them too
            repo.TreeBuilder().insert(name, target, pygit2.GIT_FILEMODE_LINK)
        except pygit2.GitError:
            continue
        leaves.append((name, target, pygit2.GIT_FILEMODE_LINK))
    names = commit_folders(repo, leaves)
    found: dict[str, set[str]] = {}
    for _kind, tree, message in fsck_messages(repo):
        found.setdefault(names[tree], set()).add(message.removesuffix("Symlink"))
    assert len(found) > 100
    mismatches = {name: (set(special_kinds(name)), found.get(name, set()))
                  for name, _oid, _mode in leaves
                  if set(special_kinds(name)) != found.get(name, set())}
    assert mismatches == {}


def submodule(name: str = "a", **settings: str) -> str:
    return f'[submodule "{name}"]\n' + "".join(f"\t{k} = {v}\n" for k, v in settings.items())


URLS = ["https://github.com/x/y.git", "-oProxyCommand=x", " -x", "../x", "./x", "../../x",
        "..:x", "../:x", ".././/x", "..//x", "../../../..:x/", "./../..//x", "..\\x", "..\\/x",
        "git://a/b", "git://a%0ab", "../a%0Ab", "https://a%0ab/x", "https://", "https:///x",
        "https://u@/x", "https://u:p@h/x", "https://u%0a@h/x", "https://h/%0a", "http::https://",
        "http::https://h/x", "https::x", "ftp://h", "ftps:///", "ssh://h/x", "h:x", "/abs/path",
        "file:///x", "https://h?x", "https://?x", "https://#x", "https://@h", "https://a@b@/",
        "https://a@b/c@/", "x # -comment", "https://h/x ; c", "https:/x", "HTTP://", "git://",
        "./", "../", "https://h:80/x", "https://%00h/x"]
CONTENTS = {
    **{f"url {url!r}": submodule(url=url, path="p") for url in URLS},
    **{f"path {path!r}": submodule(path=path, url="https://h/x")
       for path in ("-x", " -x", "x", "../x", "a -b", "--", "-")},
    **{f"update {value!r}": submodule(update=value)
       for value in ("!rm", " !x", "checkout", "rebase", "none", "x!")},
    **{f"name {name!r}": submodule(name, url="https://h/x")
       for name in ("a", "", "..", "../a", "a/..", "a/../b", "..a", "a..", ".../x", "a/./b",
                    " ..", ".. ")},
    "quoted": '[submodule "a"]\n\turl = "-x"\n',
    "escaped": '[submodule "a"]\n\turl = \\-x\n',
    "continued": '[submodule "a"]\n\turl = https://h/\\\n-x\n',
    "upper key": '[submodule "a"]\n\tURL = -x\n',
    "upper section": '[SubModule "a"]\n\turl = -x\n',
    "old syntax": '[submodule.a]\n\turl = -x\n',
    "bool key": '[submodule "a"]\n\turl\n',
    "other section": '[core]\n\turl = -x\n',
    "no subsection": '[submodule]\n\turl = -x\n',
    "crlf": '[submodule "a"]\r\n\turl = -x\r\n',
    "bom": '\ufeff[submodule "a"]\n\turl = -x\n',
    "comment after header": '[submodule "a"] # c\n\turl = -x\n',
    "key on the header line": '[submodule "a"] url = -x\n',
    "tab before the value": '[submodule "a"]\n\turl =\t-x\n',
    "second of two": submodule(url="https://h/x") + submodule("b", path="-p"),
    "typical": submodule("third_party/foo", path="third_party/foo",
                         url="https://github.com/x/foo.git", branch="main"),
    "empty": "", "comments only": "# x\n; y\n", "unterminated": '[submodule "a"\n',
}


def test_no_gitmodules_that_git_fsck_refuses_is_judged_fine(tmp_path: Path):
    repo = pygit2.init_repository(str(tmp_path / "modules"), bare=True)
    blobs = {case: repo.create_blob(text.encode()) for case, text in CONTENTS.items()}
    commit_folders(repo, [(".gitmodules", oid, pygit2.GIT_FILEMODE_BLOB)
                          for oid in blobs.values()])
    refused: dict[str, set[str]] = {}
    for kind, oid, message in fsck_messages(repo):
        if kind == "blob" and message != "gitmodulesParse":  # Parse is only a notice
            refused.setdefault(oid, set()).add(message)
    assert len(refused) > 20
    for case, oid in blobs.items():
        ours = gitmodules_problem(CONTENTS[case].encode())
        theirs = refused.get(str(oid), set())
        if theirs:  # refused by git: dropped by us, for git's reason or as unreadable
            assert ours in theirs | {"gitmodulesParse"}, case
    assert gitmodules_problem(CONTENTS["typical"].encode()) is None
    assert gitmodules_problem(CONTENTS["url '../x'"].encode()) is None  # git accepts it too
    assert gitmodules_problem(b"\xff\xfe[") == "gitmodulesParse"


class Blobs:
    """The blobs of a test tree, by id."""

    def __init__(self, *contents: bytes) -> None:
        self.by_id = {blob_id(content): content for content in contents}

    def size(self, oid: str) -> int:
        return len(self.by_id[oid])

    def read(self, oid: str) -> bytes:
        return self.by_id[oid]


def test_only_the_special_files_go_and_empty_folders_are_not_left_to_matter():
    good, bad = submodule(url="https://h/x").encode(), submodule(url="-x").encode()
    attributes, text = b"* text eol=crlf\n", b"hello\n"
    blobs = Blobs(good, bad, attributes, text, b"x" * (MAX_GITMODULES + 1))
    tree = Tree({
        "run.sh": Leaf(MODE_FILE, blob_id(text)),
        ".gitmodules": Leaf(MODE_FILE, blob_id(good)),
        "a": Tree({".gitmodules": Leaf(MODE_FILE, blob_id(bad)),
                   "b": Tree({".gitattributes": Leaf(MODE_FILE, blob_id(attributes))}),
                   ".gitignore": Leaf(MODE_SYMLINK, blob_id(text)),
                   "GITMOD~1": Leaf(MODE_FILE, blob_id(b"x" * (MAX_GITMODULES + 1)))}),
    })
    dropped = drop_git_special(tree, blobs, "bundle/")
    assert [(item.path, item.reason, item.files, item.bytes) for item in dropped] == [
        ("bundle/a/.gitignore", "gitignoreSymlink", 1, 0),
        ("bundle/a/.gitmodules", "gitmodulesUrl", 1, len(bad)),
        ("bundle/a/GITMOD~1", "gitmodulesLarge", 1, MAX_GITMODULES + 1),
        ("bundle/a/b/.gitattributes", "gitattributes", 1, len(attributes)),
    ]
    assert sorted(path for path, _leaf in tree.walk()) == [".gitmodules", "run.sh"]


@pytest.mark.parametrize("path, shown", [
    ("bundle/.gitattributes", "bundle/.gitattributes"),
    ("bundle/a\nb/.gitattributes", "'bundle/a\\nb/.gitattributes'"),
    ("bundle/\x1b[2J/.gitattributes", "'bundle/\\x1b[2J/.gitattributes'"),
])
def test_a_warning_never_carries_a_control_character(path: str, shown: str):
    warning = Dropped(path, "gitattributes").warning
    assert warning.startswith(f"{shown}: dropped, attributes would change")
