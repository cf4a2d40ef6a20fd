"""`sync patches list|show|new|range-diff`: the series at a glance, grown and reviewed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from sync import ui as ui_module
from sync.commands.patches import show_patch
from sync.ui import UI
from sync.workspace import Workspace
from tests.commands.projects import (
    AGENT,
    SERIES,
    UPSTREAM_FILES,
    PatchSpec,
    Project,
    make_project,
)
from tests.series.builders import git

FORWARDED = b"Forwarded: https://github.com/aws-deepracer-community/deepracer-simapp/pull/7\n"


@pytest.fixture
def simapp(tmp_path: Path) -> Project:
    return make_project(tmp_path, UPSTREAM_FILES, SERIES)


def add_field(simapp: Project, name: str, field: bytes) -> None:
    """Put a DEP-3 field in a patch's description (after the blank line of the header)."""
    path = simapp.root / "patches" / name
    text = path.read_bytes()
    head, _, rest = text.partition(b"\n\n")
    path.write_bytes(head + b"\n\n" + field + rest)


# --- list ----------------------------------------------------------------------------------------
def test_list_shows_every_patch_with_subject_counts_status_and_forwarded(simapp: Project):
    add_field(simapp, "0002-environment-pins.patch", FORWARDED)
    result = simapp.run("patches", "list")
    assert result.code == 0, result.err
    rows = [line.split() for line in result.out.splitlines()]
    assert rows[0] == ["#", "patch", "subject", "files", "±lines", "status", "forwarded"]
    assert rows[1] == ["1", "0001-agent-logging.patch", "Log", "every", "tenth", "step", "1",
                       "+1", "−1", "clean", "—"]
    assert rows[2][:2] == ["2", "0002-environment-pins.patch"]
    assert rows[2][-1].startswith("https://github.com/aws-deepracer-community")
    assert f"2 patches; statuses against upstream {simapp.upstream[:7]}" in result.out


def test_list_reports_statuses_against_the_moved_upstream_and_stops_at_a_conflict(
        simapp: Project):
    simapp.move_upstream({
        "bundle/src/markov/agent.py": b"# header\n" * 3 + AGENT,
        "bundle/configs/environment.yml": b"tensorflow==2.20\nredis==5\n"})
    result = simapp.run("patches", "list", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["upstream"] == simapp.upstream
    # the status in the one vocabulary, and in words with its detail
    assert [(row["name"], row["status"], row["status_text"]) for row in document["patches"]] == [
        ("0001-agent-logging.patch", "offset", "offset +3"),
        ("0002-environment-pins.patch", "conflict", "conflict")]
    assert document["patches"][1] == {
        "index": 2, "name": "0002-environment-pins.patch", "subject": "Pin TensorFlow 2.13",
        "files": 1, "added": 1, "removed": 1, "status": "conflict", "status_text": "conflict",
        "forwarded": None}


def test_list_of_patches_after_a_conflict_are_not_tried(tmp_path: Path):
    simapp = make_project(tmp_path, UPSTREAM_FILES, [SERIES[1], PatchSpec(
        "0003-readme.patch", "Readme", {"bundle/README.md": b"community readme\n"})])
    simapp.move_upstream({"bundle/configs/environment.yml": b"tensorflow==2.20\n"})
    document = json.loads(simapp.run("patches", "list", "--json").out)
    assert [row["status"] for row in document["patches"]] == ["conflict", "not tried"]


# --- show ----------------------------------------------------------------------------------------
def test_show_prints_the_header_fields_and_the_diff(simapp: Project):
    add_field(simapp, "0002-environment-pins.patch", FORWARDED)
    result = simapp.run("patches", "show", "0002-environment-pins.patch")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "0002-environment-pins.patch"
    assert "Subject: Pin TensorFlow 2.13" in lines
    assert "Author: Test Maintainer <maintainer@example.com>" in lines
    assert f"Forwarded: {FORWARDED.decode().split(': ', 1)[1].strip()}" in lines
    assert "-tensorflow==2.12" in lines and "+tensorflow==2.13" in lines
    assert "\x1b[" not in result.out  # NO_COLOR (set by conftest) is honoured
    patch = simapp.read("patches/0002-environment-pins.patch")
    assert result.out.endswith(patch[patch.index("diff --git"):])  # piped: exact, not cropped
    assert simapp.run("patches", "show", "2").out == result.out


def test_show_json_is_one_document_with_the_diff(simapp: Project):
    result = simapp.run("patches", "show", "0001-agent-logging.patch", "--json")
    document = json.loads(result.out)
    assert document["subject"] == "Log every tenth step"
    assert document["diff"].startswith("diff --git a/bundle/src/markov/agent.py")
    assert (document["files"], document["added"], document["removed"]) == (1, 1, 1)


def test_show_highlights_and_pages_on_a_terminal_shorter_than_the_patch(simapp: Project,
                                                                          monkeypatch):
    """(tests/test_cli_habits.py runs the real pager in a real pseudo-terminal.)"""
    monkeypatch.delenv("NO_COLOR")
    paged: list[str] = []
    monkeypatch.setattr(ui_module, "_run_pager", lambda command, text: paged.append(text))
    ui = UI(out=Console(force_terminal=True, color_system="standard", width=120, height=5))
    assert show_patch(Workspace.open(simapp.root), ui, "0002-environment-pins.patch") == 0
    assert len(paged) == 1
    assert "\x1b[" in paged[0] and "tensorflow==2.13" in paged[0]


def test_show_of_an_unknown_patch_is_exit_2_listing_the_series(simapp: Project):
    result = simapp.run("patches", "show", "0009-nope.patch")
    assert result.code == 2
    assert "0009-nope.patch: no such patch in patches/series" in result.err
    assert "0001-agent-logging.patch" in result.err


# --- new -----------------------------------------------------------------------------------------
def test_new_captures_uncaptured_edits_as_a_canonical_patch_at_the_end(simapp: Project):
    simapp.write("bundle/README.md", "community readme\n")
    simapp.write("bundle/src/markov/tracks.py", "TRACKS = []\n")
    result = simapp.run("patches", "new", "0003-readme-and-tracks.patch", "-m",
                        "Community readme and tracks\n\nSo people find the forks.")
    assert result.code == 0, result.err
    assert "appended to patches/series as patch 3" in result.out
    text = simapp.read("patches/0003-readme-and-tracks.patch")
    readme_blob = git(simapp.root, "rev-parse", "HEAD:bundle/README.md").strip()[:7]
    assert text == (
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        "From: Test Maintainer <maintainer@example.com>\n"
        "Subject: [PATCH] Community readme and tracks\n\n"
        "So people find the forks.\n\n---\n"
        "diff --git a/bundle/README.md b/bundle/README.md\n"
        f"index {readme_blob}..{_blob(simapp, 'community readme')} 100644\n"
        "--- a/bundle/README.md\n+++ b/bundle/README.md\n"
        "@@ -1 +1 @@\n-upstream readme\n+community readme\n"
        "diff --git a/bundle/src/markov/tracks.py b/bundle/src/markov/tracks.py\n"
        "new file mode 100644\n"
        f"index 0000000..{_blob(simapp, 'TRACKS = []')}\n"
        "--- /dev/null\n+++ b/bundle/src/markov/tracks.py\n"
        "@@ -0,0 +1 @@\n+TRACKS = []\n")
    assert simapp.read("patches/series").endswith(
        "0002-environment-pins.patch\n0003-readme-and-tracks.patch\n")
    assert simapp.run("check").code == 0
    # the series the tool wrote applies with git am too
    simapp.commit_all("capture")
    clone = simapp.root.parent / "am"
    git(simapp.root.parent, "clone", "-q", "-b", "upstream", str(simapp.root), str(clone))
    git(clone, "am", "-q", *sorted(str(p) for p in (simapp.root / "patches").glob("*.patch")))
    assert (clone / "bundle/README.md").read_text() == "community readme\n"


def _blob(simapp: Project, line: str) -> str:
    result = subprocess.run(["git", "hash-object", "--stdin"], input=f"{line}\n".encode(),
                            capture_output=True, check=True)
    return result.stdout.decode().strip()[:7]


def test_new_takes_its_subject_from_the_name_without_a_message(simapp: Project):
    simapp.write("bundle/README.md", "x\n")
    assert simapp.run("patches", "new", "0003-fix-the-readme.patch").code == 0
    assert "Subject: [PATCH] Fix the readme\n" in simapp.read("patches/0003-fix-the-readme.patch")


def test_new_json_names_the_patch_and_its_files(simapp: Project):
    (simapp.root / "bundle/README.md").unlink()
    result = simapp.run("patches", "new", "0003-no-readme.patch", "--json")
    patch = {"name": "0003-no-readme.patch", "subject": "No readme",
             "files": ["bundle/README.md"], "added": 0, "removed": 1, "index": 3}
    assert json.loads(result.out) == {"schema_version": 1, **patch, "patches": [patch]}


def test_new_refuses_when_there_is_nothing_to_capture(simapp: Project):
    series = simapp.read("patches/series")
    result = simapp.run("patches", "new", "0003-nothing.patch")
    assert result.code == 2
    assert "nothing to capture: bundle equal upstream" in result.err
    assert not (simapp.root / "patches/0003-nothing.patch").exists()
    assert simapp.read("patches/series") == series


@pytest.mark.parametrize("name", ["0001-agent-logging.patch", "series", "../escape.patch",
                                  "sub/dir.patch", "-p2"])
def test_new_refuses_an_existing_or_unusable_name(simapp: Project, name: str):
    simapp.write("bundle/README.md", "x\n")
    before = simapp.read("patches/0001-agent-logging.patch")
    series = simapp.read("patches/series")
    result = simapp.run("patches", "new", name)
    assert result.code == 2
    assert "error:" in result.err
    assert simapp.read("patches/0001-agent-logging.patch") == before
    assert simapp.read("patches/series") == series


# --- range-diff ----------------------------------------------------------------------------------
def test_range_diff_after_a_rebase_says_what_changed_for_each_patch(tmp_path: Path):
    simapp = make_project(tmp_path, UPSTREAM_FILES, [*SERIES, PatchSpec(
        "0003-readme.patch", "Readme", {"bundle/README.md": b"community readme\n"})])
    simapp.move_upstream({
        "bundle/src/markov/agent.py": AGENT.replace(b"line 17\n", b"line 17 upstream\n"),
        "bundle/README.md": b"community readme\n"})
    assert simapp.run("rebase-patches", "--drop-merged").code == 0
    result = simapp.run("patches", "range-diff", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["old"] == str(simapp.repo.head.target)  # uncommitted: compare with HEAD
    rows = {row["name"]: row for row in document["patches"]}
    assert rows["0001-agent-logging.patch"]["kind"] == "context"
    assert rows["0001-agent-logging.patch"]["summary"] == "context changed in 1 hunk"
    assert "+ line 17 upstream" in rows["0001-agent-logging.patch"]["interdiff"]
    assert rows["0002-environment-pins.patch"]["kind"] == "unchanged"
    # --drop-merged removed it because upstream contains it: absorbed, not merely dropped
    assert rows["0003-readme.patch"]["kind"] == "absorbed"
    assert document["summary"] == {"unchanged": 1, "changed": 1, "added": 0, "dropped": 0,
                                   "absorbed": 1}
    # committed: the default is the parent of the last commit that changed patches/
    simapp.commit_all("rebase")
    git(simapp.root, "commit", "-q", "--allow-empty", "-m", "later work")
    again = json.loads(simapp.run("patches", "range-diff", "--json").out)
    assert again["old"] == str(simapp.repo.revparse_single("HEAD~2").id)
    assert again["patches"] == document["patches"]


def test_range_diff_text_marks_each_patch_and_shows_the_interdiffs(simapp: Project):
    simapp.write("patches/0002-environment-pins.patch", simapp.read(
        "patches/0002-environment-pins.patch").replace("+tensorflow==2.13", "+tensorflow==2.14"))
    result = simapp.run("patches", "range-diff", "HEAD")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == (f"patches/ in {str(simapp.repo.head.target)[:7]} → the work tree: "
                        "1 unchanged, 1 changed, 0 added, 0 dropped, 0 absorbed")
    assert lines[1].split() == ["0001-agent-logging.patch", "unchanged"]
    assert lines[2].split() == ["0002-environment-pins.patch", "changed:", "-tensorflow==2.13",
                                "+tensorflow==2.14", "[diff]"]
    assert "-+tensorflow==2.13" in lines and "++tensorflow==2.14" in lines


def test_range_diff_with_a_bad_rev_is_exit_2(simapp: Project):
    result = simapp.run("patches", "range-diff", "nope")
    assert result.code == 2
    assert "OLD_REV nope: no such commit" in result.err


def test_patches_without_a_subcommand_is_a_usage_error(simapp: Project):
    assert simapp.run("patches").code == 2


def test_range_diff_changed_only_leaves_out_the_unchanged(simapp: Project):
    simapp.write("patches/0002-environment-pins.patch", simapp.read(
        "patches/0002-environment-pins.patch").replace("+tensorflow==2.13", "+tensorflow==2.14"))
    result = simapp.run("patches", "range-diff", "HEAD", "--changed-only")
    assert result.code == 0, result.err
    assert "0001-agent-logging.patch" not in result.out
    assert "1 unchanged, 1 changed" in result.out.splitlines()[0]  # the summary counts all
    document = json.loads(simapp.run("patches", "range-diff", "HEAD", "--changed-only",
                                     "--json").out)
    assert [row["name"] for row in document["patches"]] == ["0002-environment-pins.patch"]


def test_range_diff_shows_a_patch_upstream_absorbed_as_absorbed_even_if_kept(tmp_path: Path):
    simapp = make_project(tmp_path, UPSTREAM_FILES, [*SERIES, PatchSpec(
        "0003-readme.patch", "Readme", {"bundle/README.md": b"community readme\n"})])
    simapp.move_upstream({"bundle/README.md": b"community readme\n"})
    assert simapp.run("rebase-patches", "--keep-absorbed").code == 0  # kept: "absorbed"
    document = json.loads(simapp.run("patches", "range-diff", "--json").out)
    rows = {row["name"]: row["kind"] for row in document["patches"]}
    assert rows["0003-readme.patch"] == "absorbed"
    assert document["summary"]["absorbed"] == 1 and document["summary"]["unchanged"] == 2


def test_range_diff_ignores_signature_and_index_lines_of_a_rewritten_file(simapp: Project):
    path = simapp.root / "patches" / "0001-agent-logging.patch"
    text = path.read_text()
    rewritten = (text.rstrip("\n").rsplit("\n-- \n", 1)[0] + "\n-- \n2.99.0\n\n") \
        if "\n-- \n" in text else text + "-- \n2.99.0\n\n"
    rewritten = "\n".join("index 0000000..1111111 100644" if line.startswith("index ") else line
                          for line in rewritten.split("\n"))
    path.write_text(rewritten)
    document = json.loads(simapp.run("patches", "range-diff", "HEAD", "--json").out)
    assert {row["kind"] for row in document["patches"]} == {"unchanged"}
