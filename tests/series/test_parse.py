"""Parsing patch files: git format-patch mails, plain diffs, every kind of file section."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from sync.errors import PatchError
from sync.series.model import Change
from sync.series.parse import parse_patch, split_lines
from tests.series.builders import format_patches

BINARY = bytes(range(256)) * 8


def parse(text: bytes | str, **options):
    data = text.encode() if isinstance(text, str) else text
    return parse_patch(data, "patches/test.patch", **options)


def test_lines_split_only_on_newline_and_keep_it():
    assert split_lines(b"a\r\nb\rc\nlast") == [b"a\r\n", b"b\rc\n", b"last"]
    assert split_lines(b"") == []


def test_a_format_patch_mail_keeps_its_preamble_and_parses_every_kind_of_section(
        tmp_path: Path):
    base = {"bundle/keep.py": b"".join(b"k %d\n" % i for i in range(20)),
            "bundle/old.py": b"".join(b"o %d\n" % i for i in range(20)),
            "bundle/gone.txt": b"bye\n", "bundle/run.sh": b"#!/bin/sh\n",
            "bundle/pic.bin": BINARY}
    after = {"bundle/keep.py": base["bundle/keep.py"].replace(b"k 9\n", b"nine\n"),
             "bundle/new.py": base["bundle/old.py"].replace(b"o 3\n", b"three\n"),
             "bundle/run.sh": (0o100755, b"#!/bin/sh\n"), "bundle/pic.bin": BINARY + b"x",
             "bundle/added.txt": b"hello\n", "bundle/link": (0o120000, b"keep.py")}
    mail = format_patches(tmp_path / "scratch", [base, after], ["Everything at once"])[0]
    patch = parse(mail, targets=["bundle"])
    assert patch.meta.subject == "Everything at once"
    assert patch.meta.author == "Test Maintainer <maintainer@example.com>"
    assert patch.preamble == mail[:mail.index(b"diff --git")]
    kinds = {file.path: file.change for file in patch.files}
    assert kinds == {"bundle/added.txt": Change.ADD, "bundle/gone.txt": Change.DELETE,
                     "bundle/keep.py": Change.MODIFY, "bundle/link": Change.ADD,
                     "bundle/new.py": Change.RENAME, "bundle/pic.bin": Change.MODIFY,
                     "bundle/run.sh": Change.MODIFY}
    by_path = {file.path: file for file in patch.files}
    assert by_path["bundle/new.py"].old_path == "bundle/old.py"
    assert (by_path["bundle/run.sh"].old_mode, by_path["bundle/run.sh"].new_mode) == (
        0o100644, 0o100755)
    assert by_path["bundle/link"].new_mode == 0o120000
    assert by_path["bundle/link"].hunks[0].after == (b"keep.py",)  # no newline at the end
    picture = by_path["bundle/pic.bin"].binary
    assert picture is not None and picture.forward.method in ("literal", "delta")
    hunk = by_path["bundle/keep.py"].hunks[0]
    assert (hunk.old_start, hunk.old_count, hunk.leading, hunk.trailing) == (7, 7, 3, 3)
    assert (hunk.added, hunk.removed) == (1, 1)
    assert patch.added == 1 + 1 + 1 + 1  # keep, new (renamed), added.txt, link


def test_a_dep3_quilt_patch_with_plain_unified_diff_sections():
    patch = parse(
        "Description: Use the redis socket\n"
        " The TCP port is not reachable in the sandbox.\n"
        "Author: Jane Doe <jane@example.com>\n"
        "Origin: vendor\n"
        "Forwarded: not-needed\n"
        "Last-Update: 2024-05-01\n"
        "---\n"
        "Index: simapp/bundle/redis.conf\n"
        "===================================================================\n"
        "--- simapp.orig/bundle/redis.conf\t2024-01-01 00:00:00.000000000 +0000\n"
        "+++ simapp/bundle/redis.conf\t2024-01-01 00:00:00.000000000 +0000\n"
        "@@ -1,2 +1,2 @@\n"
        "-port 6379\n"
        "+unixsocket /tmp/redis.sock\n"
        " bind 127.0.0.1\n"
        "--- /dev/null\n"
        "+++ simapp/bundle/new.conf\n"
        "@@ -0,0 +1 @@\n"
        "+new\n")
    assert patch.meta.subject == "Use the redis socket"
    assert patch.meta.description == "The TCP port is not reachable in the sandbox."
    assert patch.meta.author == "Jane Doe <jane@example.com>"
    assert patch.meta.field("forwarded") == "not-needed"
    assert patch.meta.date == "2024-05-01"
    assert [(file.path, file.change) for file in patch.files] == [
        ("bundle/redis.conf", Change.MODIFY), ("bundle/new.conf", Change.ADD)]


def test_dep3_fields_inside_a_mail_description_are_read():
    patch = parse("From 1234567 Mon Sep 17 00:00:00 2001\nFrom: A <a@b.c>\n"
                  "Subject: [PATCH 2/7] Pin numpy\n\nBecause.\n\nForwarded: no\n"
                  "Bug: https://example.com/1\n---\n")
    assert patch.meta.subject == "Pin numpy"
    assert patch.meta.field("Forwarded") == "no"
    assert patch.meta.field("bug") == "https://example.com/1"
    assert patch.files == ()


def test_missing_newline_markers_apply_to_the_right_side():
    patch = parse("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n"
                  "\\ No newline at end of file\n+c\n\\ No newline at end of file\n")
    hunk = patch.files[0].hunks[0]
    assert hunk.before == (b"a\n", b"b") and hunk.after == (b"a\n", b"c")


def test_quoted_names_and_names_with_spaces():
    patch = parse('diff --git "a/b\\303\\251b\\tx" "b/b\\303\\251b\\tx"\nnew file mode 100644\n'
                  '--- /dev/null\n+++ "b/b\\303\\251b\\tx"\n@@ -0,0 +1 @@\n+x\n'
                  "diff --git a/with space b/with space\nold mode 100644\nnew mode 100755\n")
    assert [file.path for file in patch.files] == ["b\u00e9b\tx", "with space"]


def test_a_name_that_is_not_utf8_keeps_its_bytes():
    """git quotes it with octal escapes; inside, the bytes ride along as surrogate escapes."""
    text = ('diff --git "a/caf\\351.txt" "b/d\\377/caf\\351.txt"\nsimilarity index 100%\n'
            'rename from "caf\\351.txt"\nrename to "d\\377/caf\\351.txt"\n'
            'diff --git a/x\xff b/x\xff\nold mode 100644\nnew mode 100755\n')
    patch = parse(text.encode("latin-1"))
    assert [(file.old_path, file.path) for file in patch.files] == [
        (os.fsdecode(b"caf\xe9.txt"), os.fsdecode(b"d\xff/caf\xe9.txt")),
        (os.fsdecode(b"x\xff"), os.fsdecode(b"x\xff"))]


def test_the_signature_ends_the_patch():
    patch = parse("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n-- \n2.39.5\n\n")
    assert len(patch.files) == 1 and patch.files[0].hunks[0].after == (b"b\n",)


def test_progress_is_told_after_each_file_section():
    """A 100 MB grouped patch takes a while to parse: how far it is, section by section."""
    text = b"".join(b"diff --git a/bundle/%d b/bundle/%d\n--- a/bundle/%d\n+++ b/bundle/%d\n"
                    b"@@ -1 +1 @@\n-a\n+b\n" % (n, n, n, n) for n in range(3))
    told: list[tuple[int, int]] = []
    patch = parse(text + b"-- \n2.39.5\n", progress=lambda done, total: told.append((done, total)))
    assert len(patch.files) == 3
    assert told == [(len(text) // 3 * n, len(text) + 11) for n in (1, 2, 3)]


def test_strip_levels_follow_the_series_option():
    patch = parse("--- x/y/bundle/f\n+++ x/y/bundle/f\n@@ -1 +1 @@\n-a\n+b\n", strip=2)
    assert patch.files[0].path == "bundle/f"


def test_a_blank_context_line_past_the_hunks_count_is_ignored_as_gnu_patch_does():
    """busybox's fix-non-linux-build.patch ends a hunk with one " " line too many."""
    patch = parse("--- a/bundle/f\n+++ b/bundle/f\n@@ -1 +1 @@\n-a\n+b\n \n")
    assert patch.files[0].hunks[0].after == (b"b\n",)


@pytest.mark.parametrize("text, line, message", [
    ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n", 7,
     "malformed hunk at line 4: the patch ends 1 preimage / 1 postimage lines early"),
    ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n*b\n+c\n", 6,
     "malformed hunk at line 4: unexpected '*b'"),
    ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+extra\n", 7,
     "more lines than its @@ header says"),
    ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -x +1 @@\n", 4, "malformed hunk header"),
    ("diff --git a/x b/x\n--- a/x\nnot plus\n", 3, "expected a +++ line"),
    ("diff --git a/x b/x\nold mode 100644\nnew mode 100666\n", 3, "unsupported file mode"),
    ("diff --git a/x b/x\nindex abc..def 100644\nGIT binary patch\nliteral 5\n\n", 5,
     "corrupt binary patch: no data"),
    ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
     "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", 7, "x appears twice"),
    ("prose\n@@ -1 +1 @@\n-a\n+b\n", 2, "hunk without a file header"),
])
def test_malformed_patches_are_errors_naming_the_line(text: str, line: int, message: str):
    with pytest.raises(PatchError) as raised:
        parse(text)
    assert raised.value.message.startswith(f"patches/test.patch:{line}: ")
    assert message in raised.value.message


def test_binary_data_is_decoded_only_when_asked_for_and_a_corrupt_one_names_its_line():
    patch = parse("diff --git a/x b/x\nindex abc..def 100644\nGIT binary patch\nliteral 5\n"
                  "zzz\n\nliteral 0\nHcmV?d00001\n\n")
    binary = patch.files[0].binary
    assert binary is not None and binary.forward.size == 5 and binary.reverse is not None
    assert binary.reverse.data == b""
    with pytest.raises(PatchError) as raised:
        _ = binary.forward.data
    assert raised.value.message.startswith("patches/test.patch:5: corrupt binary patch")


@pytest.mark.parametrize("path, message", [
    ("bundle/../../etc/passwd", "'..' component"),
    ("/etc/passwd", "not a relative path"),
    ("bundle/.git/config", ".git component"),
    ("bundle/.Git./config", ".git component"),
    ("bundle/GIT~1/config", ".git component"),
    ("bundle/.g\u200cit/config", ".git component"),  # HFS+ ignores the zero-width joiner
    ("bundle/\ufeff.GIT/config", ".git component"),
    ("other/file", "outside every target (bundle)"),
    ("bundle\\x", "backslash"),
])
def test_unsafe_paths_are_errors(path: str, message: str):
    text = (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n"
            f"+++ b/{path}\n@@ -0,0 +1 @@\n+x\n")
    with pytest.raises(PatchError, match=f"patches/test.patch:4: .*{re.escape(message)}"):
        parse(text, targets=["bundle"])


@pytest.mark.parametrize("quoted, message", [
    ('"b/bundle/.git/caf\\351"', ".git component"),
    ('"b/bundle/caf\\351/../../x"', "'..' component"),
    ('"b/bundle/x\\000\\351"', "backslash or NUL"),
    ('"b/other/caf\\351"', '"other/caf\\351" is outside every target'),
])
def test_a_name_that_is_not_utf8_is_checked_like_any_other(quoted: str, message: str):
    text = (f"diff --git {quoted.replace('b/', 'a/', 1)} {quoted}\nnew file mode 100644\n"
            f"--- /dev/null\n+++ {quoted}\n@@ -0,0 +1 @@\n+x\n")
    with pytest.raises(PatchError, match=f"patches/test.patch:4: .*{re.escape(message)}"):
        parse(text, targets=["bundle"])


def test_a_rename_into_an_unsafe_path_is_an_error():
    with pytest.raises(PatchError, match=r"test.patch:4: .*'\.\.' component"):
        parse("diff --git a/bundle/a b/bundle/b\nsimilarity index 100%\n"
              "rename from bundle/a\nrename to bundle/../../b\n", targets=["bundle"])


NEW_FILE = "diff --git a/bundle/n b/bundle/n\nnew file mode 100644\n--- /dev/null\n+++ b/bundle/n\n"
GONE_FILE = ("diff --git a/bundle/n b/bundle/n\ndeleted file mode 100644\n--- a/bundle/n\n"
             "+++ /dev/null\n")
# a new file's hunk: all "+"; a deleted file's: all "-" (both taken a window of lines at a time)
SIDES = {"new": (NEW_FILE, b"+", "@@ -0,0 +1,%d @@\n"),
         "deleted": (GONE_FILE, b"-", "@@ -1,%d +0,0 @@\n")}


@pytest.mark.parametrize("lines", [3, 5000, 40_000])  # within one window, and over many
@pytest.mark.parametrize("ending", ["", "\\ No newline at end of file\n"])
@pytest.mark.parametrize("side", sorted(SIDES))
def test_a_new_or_deleted_file_s_text_is_its_lines_over_any_number_of_windows(lines, ending,
                                                                               side):
    header, sign, hunk_header = SIDES[side]
    body = [sign + b"line %d %s\n" % (k, b"x" * (k % 97)) for k in range(lines)]
    text = (header + hunk_header % lines).encode() + b"".join(body) + ending.encode()
    hunk = parse(text).files[0].hunks[0]
    expected = [line[1:] for line in body]
    if ending:
        expected[-1] = expected[-1][:-1]
    text_side, empty_side = (hunk.after, hunk.before) if side == "new" else \
        (hunk.before, hunk.after)
    assert list(text_side) == expected and empty_side == ()
    assert (hunk.leading, hunk.trailing) == (0, 0)
    assert (hunk.added, hunk.removed) == ((lines, 0) if side == "new" else (0, lines))


@pytest.mark.parametrize("bad, where", [(b" context\n", 3000), (b"%other side\n", 3000),
                                        (b"*junk\n", 10)])
@pytest.mark.parametrize("side", sorted(SIDES))
def test_a_line_of_another_kind_in_a_new_or_deleted_file_s_hunk_is_an_error_naming_its_line(
        bad, where, side):
    header, sign, hunk_header = SIDES[side]
    body = [sign + b"line %d\n" % k for k in range(5000)]
    body[where] = bad.replace(b"%", b"-" if sign == b"+" else b"+")
    text = (header + hunk_header % 5000).encode() + b"".join(body)
    with pytest.raises(PatchError) as raised:
        parse(text)
    assert raised.value.message.startswith(f"patches/test.patch:{where + 6}: ")
