"""Refusals leave nothing behind: a patch that cannot apply whole, a patch `patches new` cannot
write, a malformed series; and a refusal in the middle of a rebase is undone by --abort."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands.projects import AGENT, SERIES, UPSTREAM_FILES, Project, make_project
from tests.series.builders import read_worktree

CLASH = b"""From: Test Maintainer <maintainer@example.com>
Subject: [PATCH] A link and a file below it

---
diff --git a/bundle/link b/bundle/link
new file mode 120000
--- /dev/null
+++ b/bundle/link
@@ -0,0 +1 @@
+src
\\ No newline at end of file
diff --git a/bundle/link/file b/bundle/link/file
new file mode 100644
--- /dev/null
+++ b/bundle/link/file
@@ -0,0 +1 @@
+below the link
"""


@pytest.fixture
def simapp(tmp_path: Path) -> Project:
    return make_project(tmp_path, UPSTREAM_FILES, SERIES)


def add_patch(simapp: Project, name: str, text: bytes) -> None:
    simapp.write(f"patches/{name}", text)
    simapp.write("patches/series", simapp.read("patches/series") + f"{name}\n")
    simapp.commit_all(f"add {name}")


def everything(simapp: Project) -> tuple[dict[str, bytes], str, str]:
    """The targets and patches/ byte for byte, `git status`, and HEAD."""
    return (read_worktree(simapp.root), simapp.git("status", "--porcelain"),
            simapp.git("rev-parse", "HEAD"))


def no_rebase_state(simapp: Project) -> bool:
    return not (simapp.root / ".git/simapp-sync/rebase").exists()


# --- 10. a patch whose changes cannot all apply is refused whole --------------------------------
def test_a_patch_with_a_symlink_and_a_file_below_it_is_refused_whole(simapp: Project):
    add_patch(simapp, "0003-clash.patch", CLASH)
    simapp.move_upstream({"bundle/README.md": b"upstream moved\n"})
    before = everything(simapp)
    for command in (("rebase-patches",), ("check",), ("patches", "list"),
                    ("render", "--check")):
        result = simapp.run(*command)
        assert result.code == 2, (command, result.out, result.err)
        assert "0003-clash.patch" in result.err and "bundle/link/file" in result.err
        assert "no drift" not in result.out and "Traceback" not in result.err
        assert everything(simapp) == before
        assert no_rebase_state(simapp)


# --- 11. refusals write nothing; a refusal mid-series is undone by --abort -----------------------
def test_patches_new_writes_nothing_when_it_cannot_write_the_patch(simapp: Project):
    simapp.write("bundle/back\\slash.txt", "a name the series format refuses\n")
    before = everything(simapp)
    result = simapp.run("patches", "new", "0003-more.patch")
    err = " ".join(result.err.split())
    assert result.code == 2 and "slash.txt" in err and "contains a backslash" in err
    assert "nothing was written" in err
    assert everything(simapp) == before
    assert not (simapp.root / "patches/0003-more.patch").exists()
    assert simapp.run("check").code == 1  # the series still reads: only the drift is named


@pytest.mark.parametrize("breakage", ["malformed patch", "bad series line"])
def test_a_refusal_before_anything_applied_leaves_no_rebase_state(simapp: Project,
                                                                   breakage: str):
    if breakage == "malformed patch":
        add_patch(simapp, "0003-broken.patch",
                  b"Subject: [PATCH] broken\n\n---\n@@ -1 +1 @@\n-a\n+b\n")
    else:
        simapp.write("patches/series", simapp.read("patches/series") + "0003-missing.patch\n")
        simapp.commit_all("a series line naming no file")
    simapp.move_upstream({"bundle/README.md": b"upstream moved\n"})
    before = everything(simapp)
    result = simapp.run("rebase-patches")
    assert result.code == 2 and "0003-" in result.err and "Traceback" not in result.err
    assert everything(simapp) == before
    assert no_rebase_state(simapp)


def test_a_refusal_in_the_middle_of_a_rebase_is_undone_byte_for_byte_by_abort(simapp: Project):
    add_patch(simapp, "0003-clash.patch", CLASH)
    simapp.write("bundle/notes.txt", "untracked notes\n")
    before = everything(simapp)
    upstream_agent = AGENT.replace(b"line 20\n", b"line 20 up\n")
    simapp.move_upstream({"bundle/src/markov/agent.py": upstream_agent})
    assert simapp.run("rebase-patches").code == 1  # 0001 conflicts: the rebase stops there
    simapp.write("bundle/src/markov/agent.py", AGENT.replace(b"line 20\n", b"line 20 both\n"))
    simapp.git("add", "bundle/src/markov/agent.py")
    result = simapp.run("rebase-patches", "--continue")
    assert result.code == 2 and "0003-clash.patch" in result.err  # refused on the way on
    assert not no_rebase_state(simapp)
    assert simapp.run("rebase-patches", "--abort").code == 0
    assert everything(simapp) == before
    assert no_rebase_state(simapp)
