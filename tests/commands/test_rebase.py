"""`rebase-patches`: the series carried onto a new upstream, with every status, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.commands.rebase import rebase_patches
from sync.ui import UI
from sync.workspace import Workspace
from tests.series.builders import Checkout, format_patches, git, read_worktree


def numbered(prefix: str, count: int, start: int = 0) -> list[bytes]:
    return [b"%s %d\n" % (prefix.encode(), number) for number in range(start, start + count)]


def text(lines: list[bytes]) -> bytes:
    return b"".join(lines)


@pytest.fixture
def checkout(repo_dir: Path) -> Checkout:
    return Checkout(repo_dir)


def run(checkout: Checkout, *, action: str = "start", json_mode: bool = False, **options) -> int:
    ui = UI.create(json_mode=json_mode)
    return rebase_patches(Workspace.open(checkout.path), ui, action=action, **options)


def prepare(checkout: Checkout, tmp_path: Path, base: dict, steps: list[tuple[str, dict]],
            record_base: bool = True) -> tuple[str, dict[str, bytes]]:
    """Upstream ``base``, a series of real format-patch patches on top, all committed on main."""
    commit = checkout.upstream(base)
    states = [dict(base)]
    for _subject, changes in steps:
        state = dict(states[-1])
        for path, value in changes.items():
            if value is None:
                state.pop(path, None)
            else:
                state[path] = value
        states.append(state)
    mails = format_patches(tmp_path / "scratch", states, [subject for subject, _ in steps])
    names = [f"{number:04d}-{subject.lower().replace(' ', '-')}.patch"
             for number, (subject, _) in enumerate(steps, 1)]
    patches = dict(zip(names, mails, strict=True))
    checkout.write(states[-1])
    checkout.patches(patches, base=commit if record_base else None)
    checkout.commit("community work")
    return commit, patches


ORIGINAL = {"bundle/app.py": text(numbered("line", 60)),
            "bundle/other.py": text(numbered("other", 20))}


def edit(content: bytes, changes: dict[int, bytes]) -> bytes:
    lines = content.splitlines(keepends=True)
    for number, replacement in changes.items():
        lines[number] = replacement
    return b"".join(lines)


def test_rebase_onto_unchanged_upstream_rewrites_nothing(checkout: Checkout, tmp_path: Path):
    prepare(checkout, tmp_path, ORIGINAL, [
        ("First fix", {"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {10: b"fixed 10\n"})}),
        ("Second fix", {"bundle/other.py": edit(ORIGINAL["bundle/other.py"], {3: b"x\n"})})])
    before = checkout.files()
    assert run(checkout) == 0
    assert checkout.files() == before
    assert git(checkout.path, "status", "--porcelain") == ""


def test_offset_is_reported_and_the_patch_file_is_not_rewritten(checkout: Checkout,
                                                                tmp_path: Path, capsys):
    _, patches = prepare(checkout, tmp_path, ORIGINAL, [
        ("First fix", {"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {40: b"fixed 40\n"})})])
    moved = text(numbered("new", 7)) + ORIGINAL["bundle/app.py"]
    new_commit = checkout.upstream({**ORIGINAL, "bundle/app.py": moved})
    assert run(checkout) == 0
    out = capsys.readouterr().out
    assert "offset +7" in out
    assert checkout.read("patches/0001-first-fix.patch") == patches["0001-first-fix.patch"]
    assert checkout.read("bundle/app.py") == edit(moved, {47: b"fixed 40\n"})
    assert checkout.read("patches/series").startswith(f"# upstream: {new_commit}\n".encode())


def test_fuzz_is_opt_in_reported_and_refreshes_the_patch(checkout: Checkout, tmp_path: Path,
                                                        capsys):
    prepare(checkout, tmp_path, ORIGINAL, [
        ("Fix", {"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {40: b"fixed 40\n"})})],
        record_base=False)
    changed = edit(ORIGINAL["bundle/app.py"], {43: b"upstream 43\n"})  # outermost context line
    checkout.upstream({**ORIGINAL, "bundle/app.py": changed})
    assert run(checkout, fuzz=1) == 0
    assert "fuzz 1" in capsys.readouterr().out
    assert checkout.read("bundle/app.py") == edit(changed, {40: b"fixed 40\n"})
    refreshed = checkout.read("patches/0001-fix.patch")
    assert b" upstream 43\n" in refreshed
    assert refreshed.startswith(
        b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n")


def test_a_hunk_whose_context_changed_is_merged_three_way_from_the_recorded_base(
        checkout: Checkout, tmp_path: Path, capsys):
    prepare(checkout, tmp_path, ORIGINAL, [
        ("Fix", {"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {40: b"fixed 40\n"})})])
    changed = edit(ORIGINAL["bundle/app.py"], {42: b"upstream 42\n"})
    checkout.upstream({**ORIGINAL, "bundle/app.py": changed})
    assert run(checkout) == 0
    out = capsys.readouterr().out
    assert "merged (3-way)" in out
    assert checkout.read("bundle/app.py") == edit(changed, {40: b"fixed 40\n"})
    assert b" upstream 42\n" in checkout.read("patches/0001-fix.patch")


def test_a_patch_upstream_now_contains_is_reported_and_dropped_by_default(
        checkout: Checkout, tmp_path: Path, capsys):
    fixed = edit(ORIGINAL["bundle/app.py"], {10: b"fixed 10\n"})
    prepare(checkout, tmp_path, ORIGINAL, [
        ("Fix", {"bundle/app.py": fixed}),
        ("Other", {"bundle/other.py": edit(ORIGINAL["bundle/other.py"], {5: b"ours\n"})})])
    checkout.upstream({**ORIGINAL, "bundle/app.py": fixed})
    assert run(checkout) == 0
    out = capsys.readouterr().out
    assert "absorbed (dropped)" in out
    assert "REMOVED from the series" in out and "0001-fix.patch" in out
    assert "dropped from the series: 0001-fix.patch" in out
    assert not (checkout.path / "patches/0001-fix.patch").exists()
    series = checkout.read("patches/series").decode()
    assert "0001-fix.patch" not in series and "0002-other.patch" in series
    assert checkout.read("bundle/app.py") == fixed


def test_a_partly_absorbed_patch_is_refreshed_down_to_what_is_still_ours(
        checkout: Checkout, tmp_path: Path, capsys):
    both = edit(ORIGINAL["bundle/app.py"], {10: b"fixed 10\n", 50: b"fixed 50\n"})
    prepare(checkout, tmp_path, ORIGINAL, [("Fix", {"bundle/app.py": both})])
    checkout.upstream({**ORIGINAL, "bundle/app.py": edit(ORIGINAL["bundle/app.py"],
                                                         {10: b"fixed 10\n"})})
    assert run(checkout) == 0
    out = capsys.readouterr().out
    assert "partly upstream" in out
    assert "found already applied at line 8" in out
    patch = checkout.read("patches/0001-fix.patch")
    assert b"+fixed 50\n" in patch and b"+fixed 10\n" not in patch
    assert checkout.read("bundle/app.py") == both


def test_a_patch_landing_at_an_offset_with_a_file_already_upstream_is_refreshed(
        checkout: Checkout, tmp_path: Path, capsys):
    fixed = edit(ORIGINAL["bundle/app.py"], {30: b"fixed 30\n"})
    prepare(checkout, tmp_path, ORIGINAL, [("Fix", {"bundle/app.py": fixed,
                                                   "bundle/new.py": b"brand new\n"})])
    onto = checkout.upstream({**ORIGINAL, "bundle/app.py": b"preface\n" * 4 + ORIGINAL[
        "bundle/app.py"], "bundle/new.py": b"brand new\n"})
    assert run(checkout) == 0
    assert "partly upstream" in capsys.readouterr().out
    patch = checkout.read("patches/0001-fix.patch")
    assert b"+fixed 30\n" in patch and b"bundle/new.py" not in patch
    clone = tmp_path / "clone"  # what we write, git am reads
    git(tmp_path, "clone", "-q", str(checkout.path), str(clone))
    git(clone, "checkout", "-q", "-b", "try", onto)
    git(clone, "am", "-q", str(checkout.path / "patches/0001-fix.patch"))
    assert bundle_of(clone) == bundle_of(checkout.path)


def test_an_empty_patch_is_reported_as_empty(checkout: Checkout, tmp_path: Path, capsys):
    prepare(checkout, tmp_path, ORIGINAL, [("Nothing", {})])
    assert run(checkout, json_mode=True) == 0
    document = json.loads(capsys.readouterr().out)
    assert [row["status"] for row in document["patches"]] == ["empty"]


def conflicting(checkout: Checkout, tmp_path: Path) -> dict[str, bytes]:
    """Two patches; upstream rewrites the very line the first one changes."""
    prepare(checkout, tmp_path, ORIGINAL, [
        ("Fix", {"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {40: b"patched 40\n"})}),
        ("Other", {"bundle/other.py": edit(ORIGINAL["bundle/other.py"], {5: b"ours\n"})})])
    checkout.upstream({"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {40: b"upstream 40\n"}),
                       "bundle/other.py": ORIGINAL["bundle/other.py"],
                       "bundle/new.py": b"brand new\n"})
    return checkout.files()


def test_a_conflict_stops_with_diff3_markers_and_unmerged_index_entries(
        checkout: Checkout, tmp_path: Path, capsys):
    conflicting(checkout, tmp_path)
    assert run(checkout) == 1
    out, err = capsys.readouterr()
    assert "CONFLICT" in out and "stopped at 0001-fix.patch" in out
    assert "bundle/app.py has conflicts" in out and "rebase-patches --continue" in err
    merged = checkout.read("bundle/app.py")
    assert b"<<<<<<< upstream " in merged and b"\n||||||| base " in merged
    assert b"upstream 40\n" in merged and b"patched 40\n" in merged
    assert b">>>>>>> 0001-fix.patch\n" in merged
    stages = sorted(line.split()[2] for line in
                    git(checkout.path, "ls-files", "-u", "bundle/app.py").splitlines())
    assert stages == ["1", "2", "3"]
    assert "UU bundle/app.py" in git(checkout.path, "status", "--porcelain")
    assert "++<<<<<<< upstream" in git(checkout.path, "diff", "bundle/app.py")
    assert checkout.read("bundle/new.py") == b"brand new\n"  # the rest of upstream is there
    assert not list(checkout.path.rglob("*.rej")) and not list(checkout.path.rglob("*.orig"))
    assert (checkout.path / ".git/simapp-sync/rebase/state.json").exists()


def test_abort_after_a_conflict_restores_the_exact_bytes(checkout: Checkout, tmp_path: Path):
    before = conflicting(checkout, tmp_path)
    index_before = (checkout.path / ".git/index").read_bytes()
    assert run(checkout) == 1
    assert checkout.files() != before
    assert run(checkout, action="abort") == 0
    assert checkout.files() == before
    assert (checkout.path / ".git/index").read_bytes() == index_before
    assert git(checkout.path, "status", "--porcelain") == ""
    assert not (checkout.path / ".git/simapp-sync/rebase").exists()


def test_continue_turns_the_manual_resolution_into_the_patch(checkout: Checkout,
                                                             tmp_path: Path, capsys):
    conflicting(checkout, tmp_path)
    assert run(checkout) == 1
    resolved = edit(ORIGINAL["bundle/app.py"], {40: b"upstream 40 patched\n"})
    (checkout.path / "bundle/app.py").write_bytes(resolved)
    git(checkout.path, "add", "bundle/app.py")  # marked resolved, as git rebase wants it
    assert run(checkout, action="continue") == 0
    out = capsys.readouterr().out
    assert "resolved" in out
    patch = checkout.read("patches/0001-fix.patch")
    assert b"-upstream 40\n+upstream 40 patched\n" in patch
    assert b"Subject: [PATCH 1/2] Fix" in patch  # header kept
    assert checkout.read("bundle/app.py") == resolved
    assert checkout.read("bundle/other.py") == edit(ORIGINAL["bundle/other.py"], {5: b"ours\n"})
    assert git(checkout.path, "ls-files", "-u") == ""
    assert not (checkout.path / ".git/simapp-sync/rebase").exists()


def test_continue_refuses_while_conflict_markers_remain(checkout: Checkout, tmp_path: Path,
                                                       capsys):
    conflicting(checkout, tmp_path)
    assert run(checkout) == 1
    from sync.errors import ConflictError
    with pytest.raises(ConflictError, match="bundle/app.py"):
        run(checkout, action="continue")


def test_skip_drops_the_conflicting_patch_and_goes_on(checkout: Checkout, tmp_path: Path,
                                                     capsys):
    conflicting(checkout, tmp_path)
    assert run(checkout) == 1
    assert run(checkout, action="skip") == 0
    assert "skipped" in capsys.readouterr().out
    series = checkout.read("patches/series").decode()
    assert "0001-fix.patch" not in series and "0002-other.patch" in series
    assert checkout.read("bundle/app.py") == edit(ORIGINAL["bundle/app.py"],
                                                  {40: b"upstream 40\n"})
    assert git(checkout.path, "ls-files", "-u") == ""


def test_uncommitted_changes_in_the_targets_refuse_to_start_unless_forced(
        checkout: Checkout, tmp_path: Path):
    from sync.errors import GitError
    prepare(checkout, tmp_path, ORIGINAL, [
        ("Fix", {"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {40: b"patched 40\n"})})])
    (checkout.path / "bundle/other.py").write_bytes(b"local edit\n")
    with pytest.raises(GitError, match="bundle/other.py") as raised:
        run(checkout)
    assert raised.value.exit_code == 2
    assert run(checkout, force=True) == 0


# --- renames, deletions, modes, symlinks, binaries ------------------------------------------------
BINARY = bytes(range(256)) * 16


def test_structural_changes_are_carried_onto_a_moved_upstream(checkout: Checkout,
                                                              tmp_path: Path):
    base = {**ORIGINAL, "bundle/old_name.py": text(numbered("renamed", 30)),
            "bundle/gone.txt": b"delete me\n", "bundle/run.sh": b"#!/bin/sh\necho hi\n",
            "bundle/track.png": BINARY, "bundle/logo.bin": BINARY[::-1]}
    renamed = edit(base["bundle/old_name.py"], {12: b"renamed and changed\n"})
    prepare(checkout, tmp_path, base, [
        ("Rename", {"bundle/old_name.py": None, "bundle/new_name.py": renamed}),
        ("Delete", {"bundle/gone.txt": None}),
        ("Mode", {"bundle/run.sh": (0o100755, b"#!/bin/sh\necho hi\n")}),
        ("Link", {"bundle/current": (0o120000, b"app.py")}),
        ("Binary", {"bundle/track.png": BINARY[:-100] + b"\x00new tail",
                    "bundle/new.bin": b"\x00\x01\x02" * 50}),
    ])
    moved_app = b"upstream header\n" + ORIGINAL["bundle/app.py"]
    checkout.upstream({**base, "bundle/app.py": moved_app, "bundle/extra.txt": b"new upstream\n"})
    assert run(checkout) == 0
    files = checkout.files()
    assert files["bundle/new_name.py"] == renamed and "bundle/old_name.py" not in files
    assert "bundle/gone.txt" not in files
    assert files["bundle/run.sh"] == b"x:#!/bin/sh\necho hi\n"
    assert files["bundle/current"] == b"->app.py"
    assert files["bundle/track.png"] == BINARY[:-100] + b"\x00new tail"
    assert files["bundle/new.bin"] == b"\x00\x01\x02" * 50
    assert files["bundle/logo.bin"] == BINARY[::-1]
    assert files["bundle/app.py"] == moved_app and files["bundle/extra.txt"] == b"new upstream\n"
    assert git(checkout.path, "status", "--porcelain", "patches") == " M patches/series\n"


def test_a_file_deleted_upstream_but_changed_by_a_patch_is_a_conflict(checkout: Checkout,
                                                                     tmp_path: Path, capsys):
    prepare(checkout, tmp_path, ORIGINAL, [
        ("Fix", {"bundle/other.py": edit(ORIGINAL["bundle/other.py"], {5: b"ours\n"})})])
    checkout.upstream({"bundle/app.py": ORIGINAL["bundle/app.py"]})
    assert run(checkout) == 1
    assert "deleted upstream, changed by the patch" in capsys.readouterr().out
    assert "DU bundle/other.py" in git(checkout.path, "status", "--porcelain") or \
        "UD bundle/other.py" in git(checkout.path, "status", "--porcelain")


# --- bad input: a clear error naming file and line, nothing written ------------------------------
def assert_untouched(checkout: Checkout, before: dict[str, bytes], index: bytes) -> None:
    assert checkout.files() == before
    assert (checkout.path / ".git/index").read_bytes() == index
    assert not (checkout.path / ".git/simapp-sync").exists()


@pytest.fixture
def prepared(checkout: Checkout, tmp_path: Path) -> Checkout:
    prepare(checkout, tmp_path, {**ORIGINAL, "bundle/track.png": BINARY}, [
        ("Fix", {"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {40: b"patched 40\n"})})])
    checkout.upstream({**ORIGINAL, "bundle/app.py": b"moved\n" + ORIGINAL["bundle/app.py"],
                       "bundle/track.png": BINARY[::-1]})
    return checkout


def broken_input(checkout: Checkout, name: str, patch: bytes, series_line: str | None = None
                 ) -> tuple[dict[str, bytes], bytes]:
    (checkout.path / "patches" / name).write_bytes(patch)
    series = checkout.path / "patches/series"
    series.write_text(series.read_text() + (series_line or name) + "\n")
    checkout.commit("add a bad patch")
    return checkout.files(), (checkout.path / ".git/index").read_bytes()


def patch_text(*sections: str) -> bytes:
    header = "From: A <a@example.com>\nSubject: [PATCH] bad\n\n---\n"
    return (header + "".join(sections)).encode()


def run_cli(checkout: Checkout, *args: str) -> int:
    from sync.cli import main
    return main(["rebase-patches", "-C", str(checkout.path), *args])


def test_a_series_naming_a_missing_patch_is_an_error(prepared: Checkout, capsys):
    series = prepared.path / "patches/series"
    series.write_text(series.read_text() + "0002-missing.patch\n")
    prepared.commit("dangling")
    before, index = prepared.files(), (prepared.path / ".git/index").read_bytes()
    assert run_cli(prepared) == 2
    err = capsys.readouterr().err
    assert "patches/series:3: 0002-missing.patch: no such patch file" in err
    assert "Traceback" not in err
    assert_untouched(prepared, before, index)


def test_a_malformed_hunk_is_an_error_naming_its_line(prepared: Checkout, capsys):
    before, index = broken_input(prepared, "0002-bad.patch", patch_text(
        "diff --git a/bundle/other.py b/bundle/other.py\n",
        "--- a/bundle/other.py\n+++ b/bundle/other.py\n",
        "@@ -1,3 +1,3 @@\n other 0\n-other 1\n+one\n"))
    assert run_cli(prepared) == 2
    assert "patches/0002-bad.patch:11: malformed hunk at line 8" in capsys.readouterr().err
    assert_untouched(prepared, before, index)


@pytest.mark.parametrize("path, problem", [
    ("etc/passwd", "outside every target"),
    ("bundle/../../evil", "'..' component"),
    ("bundle/.GIT/hooks/post-checkout", ".git component"),
])
def test_a_patch_reaching_outside_the_targets_is_an_error(prepared: Checkout, capsys,
                                                         path: str, problem: str):
    before, index = broken_input(prepared, "0002-evil.patch", patch_text(
        f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n",
        "@@ -0,0 +1 @@\n+owned\n"))
    assert run_cli(prepared) == 2
    err = capsys.readouterr().err
    assert "patches/0002-evil.patch:" in err and problem in err
    assert_untouched(prepared, before, index)
    assert not (prepared.path.parent / "evil").exists()


def test_a_binary_patch_whose_preimage_differs_is_an_error(prepared: Checkout, tmp_path: Path,
                                                          capsys):
    mail = format_patches(tmp_path / "binary", [{"bundle/track.png": BINARY},
                                                {"bundle/track.png": BINARY + b"more"}],
                          ["Binary"])[0]
    before, index = broken_input(prepared, "0002-binary.patch", mail)
    assert run_cli(prepared) == 2
    err = capsys.readouterr().err
    line = next(number for number, text in enumerate(mail.split(b"\n"), 1)
                if text.startswith((b"literal", b"delta")))
    assert f"patches/0002-binary.patch:{line}: bundle/track.png: binary preimage does not " \
           "match" in err
    assert_untouched(prepared, before, index)


def test_json_mode_prints_one_document_and_nothing_else(prepared: Checkout, capsys):
    assert run_cli(prepared, "--json") == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["status"] == "done"
    assert document["patches"][0]["status"] == "offset"
    assert captured.err == ""


# --- interop: the series the tool writes works with git am and quilt ------------------------------
def series_names(checkout: Checkout) -> list[str]:
    return [line.split()[0] for line in checkout.read("patches/series").decode().splitlines()
            if line.strip() and not line.startswith("#")]


def refreshed_series(checkout: Checkout, tmp_path: Path) -> str:
    """A rebase that refreshes patches in several ways; returns the new upstream commit."""
    app = ORIGINAL["bundle/app.py"]
    prepare(checkout, tmp_path, {**ORIGINAL, "bundle/old.py": text(numbered("old", 30))}, [
        ("Merged", {"bundle/app.py": edit(app, {40: b"patched 40\n"})}),
        ("Partly", {"bundle/other.py": edit(ORIGINAL["bundle/other.py"],
                                            {2: b"two\n", 15: b"fifteen\n"})}),
        ("Rename", {"bundle/old.py": None,
                    "bundle/new.py": edit(text(numbered("old", 30)), {3: b"three\n"})}),
        ("Offset", {"bundle/app.py": edit(edit(app, {40: b"patched 40\n"}), {5: b"five\n"})}),
    ])
    upstream_app = b"upstream preface\n" + edit(app, {42: b"upstream 42\n"})
    return checkout.upstream({
        "bundle/app.py": upstream_app,
        "bundle/other.py": edit(ORIGINAL["bundle/other.py"], {2: b"two\n"}),
        "bundle/old.py": text(numbered("old", 30))})


def test_the_written_series_applies_with_git_am(checkout: Checkout, tmp_path: Path):
    onto = refreshed_series(checkout, tmp_path)
    assert run(checkout) == 0
    assert git(checkout.path, "status", "--porcelain", "patches").count(" M ") == 3
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(checkout.path), str(clone))
    git(clone, "checkout", "-q", "-b", "try", onto)
    mails = [str(checkout.path / "patches" / name) for name in series_names(checkout)]
    git(clone, "am", "-q", *mails)
    assert bundle_of(clone) == bundle_of(checkout.path)


def test_the_written_series_applies_with_quilt_push(checkout: Checkout, tmp_path: Path):
    import shutil
    import subprocess

    onto = refreshed_series(checkout, tmp_path)
    assert run(checkout) == 0
    tree = tmp_path / "quilt"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(checkout.path), "archive", onto],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    shutil.copytree(checkout.path / "patches", tree / "patches")
    pushed = subprocess.run(["quilt", "push", "-a"], cwd=tree, capture_output=True, text=True,
                            env={**__import__("os").environ, "QUILT_PATCHES": "patches"})
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "fuzz" not in pushed.stdout.lower()
    assert bundle_of(tree) == bundle_of(checkout.path)


def bundle_of(top: Path) -> dict[str, bytes]:
    return read_worktree(top, ("bundle",))


# --- crash safety --------------------------------------------------------------------------------
KILLER = """
import os, signal, sys
from sync.git import files
from sync.cli import main
original = files.Folders.write_file
count = 0
def write_file(self, *args):
    global count
    count += 1
    if count > int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, *args)
files.Folders.write_file = write_file
sys.exit(main(["rebase-patches", "-C", sys.argv[2], *sys.argv[3:]]))
"""


def kill_after(checkout: Checkout, writes: int, *args: str) -> int:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", KILLER, str(writes), str(checkout.path), *args],
                          env=env, capture_output=True).returncode


@pytest.mark.parametrize("writes", [0, 1, 2])
def test_a_rebase_killed_while_writing_is_undone_by_abort(checkout: Checkout, tmp_path: Path,
                                                          writes: int):
    before = conflicting(checkout, tmp_path)
    index = (checkout.path / ".git/index").read_bytes()
    assert kill_after(checkout, writes) == -9
    assert (checkout.path / ".git/simapp-sync/rebase/state.json").exists()
    assert run(checkout, action="abort") == 0
    assert checkout.files() == before
    assert (checkout.path / ".git/index").read_bytes() == index


def test_a_rebase_killed_while_writing_the_result_can_be_finished(checkout: Checkout,
                                                                  tmp_path: Path):
    conflicting(checkout, tmp_path)
    assert run(checkout) == 1
    (checkout.path / "bundle/app.py").write_bytes(b"resolved\n")
    git(checkout.path, "add", "bundle/app.py")
    assert kill_after(checkout, 1, "--continue") == -9
    assert run(checkout, action="continue") == 0
    assert checkout.read("bundle/app.py") == b"resolved\n"
    assert checkout.read("bundle/other.py") == edit(ORIGINAL["bundle/other.py"], {5: b"ours\n"})
    assert not (checkout.path / ".git/simapp-sync/rebase").exists()
    assert git(checkout.path, "ls-files", "-u") == ""


def test_a_conflict_interrupted_while_being_written_is_completed_by_continue(
        checkout: Checkout, tmp_path: Path, capsys):
    conflicting(checkout, tmp_path)
    assert kill_after(checkout, 1) == -9
    assert run(checkout, action="continue") == 1  # completes writing the conflict, stops again
    assert "stopped at 0001-fix.patch" in capsys.readouterr().out
    assert b"<<<<<<< upstream" in checkout.read("bundle/app.py")
    assert checkout.read("bundle/new.py") == b"brand new\n"
    assert "UU bundle/app.py" in git(checkout.path, "status", "--porcelain")


def test_onto_names_the_upstream_commit_explicitly(checkout: Checkout, tmp_path: Path):
    from sync.errors import GitError
    first, _ = prepare(checkout, tmp_path, ORIGINAL, [
        ("Fix", {"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {40: b"patched 40\n"})})])
    checkout.upstream({**ORIGINAL, "bundle/app.py": b"moved\n" + ORIGINAL["bundle/app.py"]})
    with pytest.raises(GitError, match="--onto nope: no such commit"):
        run(checkout, onto="nope")
    before = checkout.files()
    assert run(checkout, onto=first) == 0  # the old upstream: nothing moves
    assert checkout.files() == before


def test_a_stopped_rebase_must_be_finished_before_another_starts(checkout: Checkout,
                                                                tmp_path: Path):
    from sync.errors import GitError, RebaseInProgress
    with pytest.raises(GitError, match="no rebase-patches in progress"):
        run(checkout, action="continue")
    conflicting(checkout, tmp_path)
    assert run(checkout) == 1
    with pytest.raises(RebaseInProgress, match="a rebase-patches is in progress"):
        run(checkout, force=True)


# --- upstream renames: followed as git am -3 follows them ---------------------------------------
def renamed_upstream(checkout: Checkout, tmp_path: Path, app: bytes, other: bytes) -> str:
    """Two patches; upstream then moves both files (``app`` and ``other`` are their new texts)."""
    prepare(checkout, tmp_path, ORIGINAL, [
        ("Fix app", {"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {40: b"patched 40\n"})}),
        ("Fix other", {"bundle/other.py": edit(ORIGINAL["bundle/other.py"], {5: b"ours\n"})})])
    return checkout.upstream({"bundle/src/app.py": app, "bundle/lib/other.py": other})


def test_patches_follow_files_upstream_renamed_and_are_refreshed_to_the_new_path(
        checkout: Checkout, tmp_path: Path, capsys):
    moved_app = b"upstream header\n" + edit(ORIGINAL["bundle/app.py"], {42: b"upstream 42\n"})
    onto = renamed_upstream(checkout, tmp_path, moved_app, ORIGINAL["bundle/other.py"])
    assert run(checkout, json_mode=True) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(row["status"], row["renamed"]) for row in document["patches"]] == [
        ("merged", [{"from": "bundle/app.py", "to": "bundle/src/app.py"}]),
        ("clean", [{"from": "bundle/other.py", "to": "bundle/lib/other.py"}])]
    assert document["rewritten"] == ["0001-fix-app.patch", "0002-fix-other.patch"]
    files = checkout.files()
    assert "bundle/app.py" not in files and "bundle/other.py" not in files
    assert files["bundle/src/app.py"] == edit(moved_app, {41: b"patched 40\n"})
    assert files["bundle/lib/other.py"] == edit(ORIGINAL["bundle/other.py"], {5: b"ours\n"})
    for name, path in (("0001-fix-app.patch", "bundle/src/app.py"),
                       ("0002-fix-other.patch", "bundle/lib/other.py")):
        patch = checkout.read(f"patches/{name}")
        assert f"diff --git a/{path} b/{path}\n".encode() in patch
        assert b"a/bundle/app.py" not in patch and b"a/bundle/other.py" not in patch
    clone = tmp_path / "clone"  # the refreshed series applies as it is, with plain git am
    git(tmp_path, "clone", "-q", str(checkout.path), str(clone))
    git(clone, "checkout", "-q", "-b", "try", onto)
    git(clone, "am", "-q", *[str(checkout.path / "patches" / name)
                             for name in series_names(checkout)])
    assert bundle_of(clone) == bundle_of(checkout.path)


def test_a_followed_rename_is_shown_in_the_report(checkout: Checkout, tmp_path: Path, capsys):
    renamed_upstream(checkout, tmp_path, ORIGINAL["bundle/app.py"], ORIGINAL["bundle/other.py"])
    assert run(checkout) == 0
    out = capsys.readouterr().out
    assert "clean (followed rename)" in out
    assert "0001-fix-app.patch: followed rename bundle/app.py -> bundle/src/app.py" in out


def test_a_rename_plus_a_conflicting_edit_conflicts_on_the_new_path(checkout: Checkout,
                                                                   tmp_path: Path, capsys):
    upstream_app = edit(ORIGINAL["bundle/app.py"], {40: b"upstream 40\n"})
    renamed_upstream(checkout, tmp_path, upstream_app, ORIGINAL["bundle/other.py"])
    assert run(checkout) == 1
    out = capsys.readouterr().out
    assert "CONFLICT (followed rename)" in out
    assert "stopped at 0001-fix-app.patch: bundle/src/app.py has conflicts" in out
    merged = checkout.read("bundle/src/app.py")
    assert b"upstream 40\n" in merged and b"patched 40\n" in merged and b"||||||| base" in merged
    assert not (checkout.path / "bundle/app.py").exists()
    stages = sorted(line.split()[2] for line in
                    git(checkout.path, "ls-files", "-u", "bundle/src/app.py").splitlines())
    assert stages == ["1", "2", "3"]
    resolved = edit(ORIGINAL["bundle/app.py"], {40: b"upstream 40 patched\n"})
    (checkout.path / "bundle/src/app.py").write_bytes(resolved)
    git(checkout.path, "add", "bundle/src/app.py")
    assert run(checkout, action="continue") == 0
    assert checkout.read("bundle/src/app.py") == resolved
    assert checkout.read("bundle/lib/other.py") == edit(ORIGINAL["bundle/other.py"],
                                                        {5: b"ours\n"})
    assert b"-upstream 40\n+upstream 40 patched\n" in checkout.read("patches/0001-fix-app.patch")
    assert b"diff --git a/bundle/lib/other.py" in checkout.read("patches/0002-fix-other.patch")
    assert git(checkout.path, "ls-files", "-u") == ""


def test_abort_after_a_conflict_on_a_renamed_file_restores_the_exact_bytes(
        checkout: Checkout, tmp_path: Path):
    renamed_upstream(checkout, tmp_path, edit(ORIGINAL["bundle/app.py"], {40: b"up 40\n"}),
                     ORIGINAL["bundle/other.py"])
    before = checkout.files()
    assert run(checkout) == 1
    assert run(checkout, action="abort") == 0
    assert checkout.files() == before
    assert git(checkout.path, "status", "--porcelain") == ""


# --- the --json document is the documented output schema, not the state format -----------------
def documented_example() -> dict:
    """The example document of README.md's `rebase-patches --json` paragraph."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("`rebase-patches --json` prints one document", 1)[1]
    return json.loads(block.split("```json\n", 1)[1].split("```", 1)[0])


def test_the_json_document_has_the_documented_fields_and_the_state_its_own(
        checkout: Checkout, tmp_path: Path, capsys):
    conflicting(checkout, tmp_path)
    assert run(checkout, json_mode=True) == 1
    document = json.loads(capsys.readouterr().out)
    example = documented_example()
    assert document.keys() == example.keys()
    assert [row.keys() for row in document["patches"]] == [example["patches"][0].keys()]
    assert (document["status"], document["stopped_at"]) == ("conflict", "0001-fix.patch")
    state = json.loads((checkout.path / ".git/simapp-sync/rebase/state.json").read_text())
    assert state["format"] == 2 and "schema_version" not in state
    assert state.keys() != document.keys()
