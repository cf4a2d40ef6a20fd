"""The stable patch id: git's, so that only a real change of a patch rewrites its file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sync.series.patchid import patch_id
from tests.series.builders import format_patches


def git_patch_id(text: bytes) -> str:
    out = subprocess.run(["git", "patch-id", "--stable"], input=text, capture_output=True,
                         check=True).stdout.decode()
    return out.split()[0]


LINES = b"".join(b"line %d\n" % n for n in range(40))


@pytest.fixture(scope="module")
def mails(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    scratch = tmp_path_factory.mktemp("patchid") / "repo"
    base = {"bundle/a.py": LINES, "bundle/b.py": LINES, "bundle/old.py": LINES,
            "bundle/gone": b"x\n", "bundle/run.sh": b"#!/bin/sh\n"}
    step1 = {**base, "bundle/a.py": LINES.replace(b"line 5\n", b"five\n")
             .replace(b"line 30\n", b"thirty\n")}
    step2 = {**step1, "bundle/b.py": LINES + b"tail", "bundle/new": b"n\n"}
    step3 = {k: v for k, v in step2.items() if k not in ("bundle/old.py", "bundle/gone")}
    step3 |= {"bundle/renamed.py": LINES.replace(b"line 1\n", b"one\n"),
              "bundle/run.sh": (0o100755, b"#!/bin/sh\n")}
    return format_patches(scratch, [base, step1, step2, step3], ["edit", "add", "move"])


def test_ids_equal_git_patch_id_stable_for_text_patches(mails: list[bytes]):
    for mail in mails:
        assert patch_id(mail) == git_patch_id(mail)


def test_line_numbers_whitespace_and_section_order_do_not_count(mails: list[bytes]):
    mail = mails[0]
    moved = mail.replace(b"@@ -3,7 +3,7 @@", b"@@ -13,7 +13,7 @@")
    spaced = mail.replace(b"+five\n", b"+five  \n")
    assert patch_id(moved) == patch_id(mail) == patch_id(spaced)
    two_files = mails[1].split(b"-- \n")[0]
    head, first, second = two_files.split(b"diff --git")
    swapped = head + b"diff --git" + second + b"diff --git" + first
    assert patch_id(swapped) == patch_id(two_files) == git_patch_id(swapped)


def test_a_changed_line_or_context_changes_the_id(mails: list[bytes]):
    mail = mails[0]
    assert patch_id(mail.replace(b"+five\n", b"+FIVE\n")) != patch_id(mail)
    assert patch_id(mail.replace(b" line 4\n", b" line four\n", 1)) != patch_id(mail)


def test_binary_sections_are_identified_by_their_blob_ids(tmp_path: Path):
    one = format_patches(tmp_path / "one", [{"bundle/x": b"\0a"}, {"bundle/x": b"\0b"}], ["b"])[0]
    two = format_patches(tmp_path / "two", [{"bundle/x": b"\0a"}, {"bundle/x": b"\0c"}], ["c"])[0]
    assert patch_id(one) != patch_id(two)
    assert patch_id(one) == patch_id(one.replace(b"Subject: [PATCH] b", b"Subject: other"))


def test_a_patch_without_sections_has_the_zero_id():
    assert patch_id(b"Subject: nothing\n\n---\n") == "0" * 40
