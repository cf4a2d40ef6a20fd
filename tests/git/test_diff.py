"""Canonical diff text from two sets of entries, as git format-patch would write it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sync.git.diff import diff_counted, diff_text
from tests.series.builders import entry_of


def test_renames_binaries_and_modes_in_a_form_git_apply_accepts(repo, tmp_path: Path):
    lines = b"".join(b"line %d\n" % n for n in range(30))
    before = {"b/old.py": entry_of(repo, lines), "b/img": entry_of(repo, b"\0" * 100),
              "b/run": entry_of(repo, b"#!\n")}
    after = {"b/old.py": None, "b/new.py": entry_of(repo, lines.replace(b"line 4", b"4")),
             "b/img": entry_of(repo, b"\0" * 99 + b"\1"), "b/run": entry_of(repo, (0o100755,
                                                                                  b"#!\n"))}
    text = diff_text(repo, before, after)
    assert b"rename from b/old.py\nrename to b/new.py\n" in text
    assert b"GIT binary patch\n" in text and b"old mode 100644\nnew mode 100755\n" in text
    work = tmp_path / "apply"
    (work / "b").mkdir(parents=True)
    (work / "b/old.py").write_bytes(lines)
    (work / "b/img").write_bytes(b"\0" * 100)
    (work / "b/run").write_bytes(b"#!\n")
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "apply", "-"], input=text, check=True)
    assert (work / "b/new.py").read_bytes() == lines.replace(b"line 4", b"4")
    assert (work / "b/img").read_bytes() == b"\0" * 99 + b"\1"


def test_identical_sides_give_no_text(repo):
    same = {"b/x": entry_of(repo, b"x\n")}
    assert diff_text(repo, same, same) == b""


def test_find_renames_agrees_with_git_for_the_paths_asked(repo):
    from sync.git.diff import find_renames
    from tests.series.builders import make_tree

    body = b"".join(b"line %d\n" % n for n in range(40))
    half = body[: len(body) * 6 // 10] + b"".join(b"new %d\n" % n for n in range(16))
    old = make_tree(repo, {"b/a.py": body, "b/half.py": half.replace(b"new", b"old"),
                           "b/c.py": b"x\n" * 40, "b/gone.py": b"unlike anything\n"})
    new = make_tree(repo, {"b/moved/a.py": body.replace(b"line 7\n", b"seven\n"),
                           "b/half2.py": half, "b/c2.py": b"x\n" * 40, "b/new.py": b"y\n"})
    asked = ["b/a.py", "b/half.py", "b/gone.py", "b/missing.py"]
    found = find_renames(repo, old, new, asked)
    by_git = subprocess.run(["git", "-C", repo.path, "diff-tree", "-r", "-M50%", "--name-status",
                             old, new], capture_output=True, text=True, check=True).stdout
    expected = {parts[1]: parts[2] for parts in (line.split("\t") for line in
                                                 by_git.splitlines()) if parts[0][0] == "R"}
    assert found == {path: to for path, to in expected.items() if path in asked}
    assert found["b/a.py"] == "b/moved/a.py" and "b/c.py" not in found
    assert find_renames(repo, old, old, asked) == {} and find_renames(repo, None, new, asked) == {}


def test_additions_and_deletions_a_patch_left_unpaired_are_not_searched_for_renames(repo):
    """A patch being refreshed that deleted one file and added a similar one without calling it
    a rename keeps that form; any other addition or deletion is searched as before."""
    lines = b"".join(b"line %d\n" % n for n in range(30))
    old, new, other = (entry_of(repo, lines), entry_of(repo, lines.replace(b"line 4", b"4")),
                       entry_of(repo, b"other\n"))
    before, after = {"b/old.py": old, "b/new.py": None}, {"b/old.py": None, "b/new.py": new}
    left = {("D", "b/old.py", old.oid), ("A", "b/new.py", new.oid)}
    phases: list[str] = []
    kept = diff_counted(repo, before, after, phase=phases.append, unpaired=left)
    assert b"deleted file mode" in kept.text and b"new file mode" in kept.text
    assert b"rename from" not in kept.text and "finding renames" not in phases
    assert b"rename from b/old.py" in diff_counted(repo, before, after).text
    one_more = diff_counted(repo, {**before, "b/x": None}, {**after, "b/x": other},
                            unpaired=left)
    assert b"rename from b/old.py" in one_more.text  # b/x is outside them: searched again
    abbreviated = {("D", "b/old.py", old.oid[:7]), ("A", "b/new.py", new.oid[:7])}
    assert b"rename from" not in diff_counted(repo, before, after, unpaired=abbreviated).text
