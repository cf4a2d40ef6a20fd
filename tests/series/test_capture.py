"""A new patch from uncaptured edits: canonical text that parses, applies and round-trips."""

from __future__ import annotations

from pathlib import Path

import pygit2

from sync.git.trees import TreeSource
from sync.series.apply import apply_patch
from sync.series.capture import header, new_patch
from sync.series.overlay import Overlay
from sync.series.parse import parse_patch
from sync.series.patchid import patch_id
from sync.series.refresh import diff_part, refreshed
from tests.series.builders import MODE_EXECUTABLE, Files, make_tree

A_PY = b"".join(b"line %d\n" % n for n in range(30))
BEFORE: Files = {"bundle/a.py": A_PY,
          "bundle/old.py": b"old\n", "other/x": b"x\n"}
AFTER: Files = {"bundle/a.py": A_PY.replace(b"line 12\n", b"line twelve\n"),
         "bundle/run.sh": (MODE_EXECUTABLE, b"#!/bin/sh\n"), "other/x": b"changed\n"}


def test_header_is_a_mail_git_am_understands():
    assert header("Pin it", "Dev <dev@example.com>", "Because.\n") == (
        b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        b"From: Dev <dev@example.com>\nSubject: [PATCH] Pin it\n\nBecause.\n\n---\n")
    assert header("Pin it", "Dev <dev@example.com>").endswith(b"Subject: [PATCH] Pin it\n\n---\n")


def test_new_patch_turns_expected_into_actual_under_the_targets_only(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    expected, actual = make_tree(repo, BEFORE), make_tree(repo, AFTER)
    text = new_patch(repo, expected, actual, ("bundle",), subject="Edit",
                     author="Dev <dev@example.com>")
    assert text is not None
    patch = parse_patch(text, "patches/0001-edit.patch", targets=("bundle",))
    assert [file.path for file in patch.files] == ["bundle/a.py", "bundle/old.py",
                                                   "bundle/run.sh"]
    tree = Overlay(TreeSource(repo, expected))
    apply_patch(patch, tree)
    for path, value in AFTER.items():
        if path.startswith("bundle/"):
            mode, data = value if isinstance(value, tuple) else (0o100644, value)
            found = tree.get(path)
            assert found is not None and (found.mode, found.content.data) == (mode, data)
    assert tree.get("bundle/old.py") is None
    # canonical: refreshing it against the same change rewrites nothing
    assert refreshed(patch, diff_part(patch)) is None
    assert patch_id(diff_part(patch)) != "0" * 40


def test_no_difference_under_the_targets_is_no_patch(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    expected = make_tree(repo, BEFORE)
    actual = make_tree(repo, {**BEFORE, "other/x": b"elsewhere\n"})
    assert new_patch(repo, expected, actual, ("bundle",), subject="x", author="a <a@b>") is None
