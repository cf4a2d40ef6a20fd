"""Canonical refresh: header kept byte for byte, fixed From line, rewritten only on change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sync.git.diff import DiffText
from sync.series.model import Patch
from sync.series.parse import parse_patch
from sync.series.refresh import (
    FIXED_FROM,
    binary_sections,
    canonical_preamble,
    refresh,
    refreshed,
    render_patch,
    unpaired,
)
from tests.series.builders import mapped

MAIL = (b"From 3f2a1c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49 Mon Sep 17 00:00:00 2001\n"
        b"From: Jane <jane@example.com>\n"
        b"Date: Tue, 1 Aug 2023 10:00:00 +0200\n"
        b"Subject: [PATCH] Pin numpy\n\n"
        b"Why:  two  spaces kept.\n\n"
        b"Forwarded: no\n"
        b"---\n"
        b" bundle/env.yml | 2 +-\n"
        b" 1 file changed, 1 insertion(+), 1 deletion(-)\n\n")
DIFF = (b"diff --git a/bundle/env.yml b/bundle/env.yml\n"
        b"index 1111111..2222222 100644\n"
        b"--- a/bundle/env.yml\n+++ b/bundle/env.yml\n"
        b"@@ -1,3 +1,3 @@\n a\n-numpy\n+numpy==1.26\n c\n")


def test_the_preamble_keeps_every_byte_but_the_from_line_and_the_stale_diffstat():
    assert canonical_preamble(MAIL) == FIXED_FROM + MAIL[MAIL.index(b"\n") + 1:MAIL.index(
        b"---\n") + 4]


@pytest.mark.parametrize("summary", [b" create mode 100644 bundle/new.py\n",
                                     b" delete mode 100644 bundle/old.py\n",
                                     b" rename bundle/{a => b}.py (100%)\n",
                                     b" mode change 100644 => 100755 bundle/run.sh\n"])
def test_the_stale_diffstat_goes_with_its_summary_lines(summary):
    mail = MAIL[:-1] + summary + b"\n"  # as git format-patch writes them: one leading space
    assert canonical_preamble(mail) == canonical_preamble(MAIL)


def test_a_dep3_header_is_kept_as_is():
    header = b"Description: x\nAuthor: y\n\n"
    assert canonical_preamble(header) == header
    assert render_patch(header, DIFF) == header + DIFF


def test_a_patch_whose_change_only_moved_is_not_rewritten():
    patch = parse_patch(MAIL + DIFF + b"-- \n2.39.5\n\n", "p")
    moved = DIFF.replace(b"@@ -1,3 +1,3 @@", b"@@ -40,3 +40,3 @@").replace(
        b"index 1111111..2222222", b"index 3333333..4444444")
    assert refreshed(patch, moved) is None


def test_a_patch_whose_change_changed_is_rewritten_canonically():
    patch = parse_patch(MAIL + DIFF + b"-- \n2.39.5\n\n", "p")
    changed = DIFF.replace(b"+numpy==1.26", b"+numpy==2.0")
    text = refreshed(patch, changed)
    assert text == canonical_preamble(MAIL) + changed  # no signature, no diffstat
    assert text is not None and text.startswith(FIXED_FROM)


# --- the lazy refresh (sections, views, parts) gives the eager one's decision and bytes ---------
A = (b"diff --git a/bundle/a.py b/bundle/a.py\nindex 1111111..2222222 100644\n"
     b"--- a/bundle/a.py\n+++ b/bundle/a.py\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n")
MODE = b"diff --git a/bundle/run.sh b/bundle/run.sh\nold mode 100644\nnew mode 100755\n"
BINARY = (b"diff --git a/bundle/b.bin b/bundle/b.bin\nnew file mode 100644\n"
          b"index 0000000000000000000000000000000000000000.."
          b"3333333333333333333333333333333333333333\n"
          b"GIT binary patch\nliteral 5\nMcmZQzWMXDu0001u00031\n\n")
C = (b"diff --git a/bundle/c.py b/bundle/c.py\nindex 4444444..5555555 100644\n"
     b"--- a/bundle/c.py\n+++ b/bundle/c.py\n@@ -10,2 +10,2 @@\n x\n-y\n+z\n")
OLD = A + MODE + BINARY + C
CASES = {  # name: old diff, new diff, whether the patch is rewritten
    "unchanged": (OLD, OLD, False),
    "moved": (OLD, OLD.replace(b"@@ -10,2 +10,2 @@", b"@@ -12,2 +12,2 @@"), False),
    "moved after a mode change": (A + MODE + C, A + MODE + C.replace(b"-10,2 +10", b"-9,2 +9"),
                                  False),
    "the binary section last": (A + C + BINARY, A + C.replace(b"+10,2", b"+11,2") + BINARY,
                                False),
    "a signature after the sections": (OLD + b"-- \n2.39.5\n\n", OLD, False),
    "changed": (OLD, OLD.replace(b"+z\n", b"+zz\n"), True),
    "context changed in whitespace only": (OLD, OLD.replace(b" x\n", b" x \n"), True),
    "a section gone": (OLD, A + MODE + C, True),
    "a binary section gone, the rest moved": (OLD, A + MODE + C.replace(b"-10,2", b"-11,2"),
                                              True),
    "sections swapped": (OLD, C + A + MODE + BINARY, True),
    "text between sections": (A + b"junk\n" + C, A + C, True),
}


def _lazy_diff(patch: Patch, diff: bytes) -> DiffText:
    """``diff`` as ``diff_counted`` gives it: one part per section, the old patch's binary
    sections as views of its text."""
    views = {bytes(view): view for view in binary_sections(patch).values()}
    starts = [match.start() for match in re.finditer(rb"^diff --git ", diff, re.MULTILINE)]
    parts = [diff[a:b] for a, b in zip(starts, [*starts[1:], len(diff)], strict=True)]
    return DiffText(tuple(views.get(part, part) for part in parts), len(parts), 0, 0)


@pytest.mark.parametrize("read", ["bytes", "mapped"])
@pytest.mark.parametrize("old, new, rewritten", CASES.values(), ids=list(CASES))
def test_the_lazy_refresh_decides_and_writes_what_the_eager_one_does(old: bytes, new: bytes,
                                                                     rewritten: bool, read: str,
                                                                     tmp_path: Path):
    eager = refreshed(parse_patch(MAIL + old, "p"), new)
    # a rebase reads a patch from the work tree through a mapping of its file
    text = mapped(tmp_path / "p", MAIL + old) if read == "mapped" else MAIL + old
    patch = parse_patch(text, "p")
    lazy = refresh(patch, _lazy_diff(patch, new))
    assert (None if lazy is None else bytes(lazy)) == eager
    assert (eager is not None) is rewritten
    if rewritten:
        assert eager == canonical_preamble(MAIL) + new


def test_the_additions_and_deletions_a_patch_has_are_left_unpaired_unless_it_renames():
    new_id, old_id = "1" * 40, "2" * 40
    added = (f"diff --git a/b/new.py b/b/new.py\nnew file mode 100644\nindex {'0' * 40}..{new_id}\n"
             "--- /dev/null\n+++ b/b/new.py\n@@ -0,0 +1 @@\n+x\n")
    deleted = (f"diff --git a/b/old.py b/b/old.py\ndeleted file mode 100644\nindex "
               f"{old_id}..{'0' * 40}\n--- a/b/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n")
    short = added.replace(new_id, "3" * 7).replace("b/new.py", "b/short.py")
    shorter = added.replace(new_id, "4" * 6).replace("b/new.py", "b/shorter.py")
    patch = parse_patch((added + deleted + short + shorter + DIFF.decode()).encode(), "p")
    assert unpaired(patch) == {("A", "b/new.py", new_id), ("D", "b/old.py", old_id),
                               ("A", "b/short.py", "3" * 7)}  # 6 digits: too few to tell
    renamed = ("diff --git a/b/r.py b/b/s.py\nsimilarity index 100%\nrename from b/r.py\n"
               "rename to b/s.py\n")
    assert unpaired(parse_patch((added + renamed).encode(), "p")) == set()
