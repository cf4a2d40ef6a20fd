"""Canonical refresh: header kept byte for byte, fixed From line, rewritten only on change."""

from __future__ import annotations

from sync.series.parse import parse_patch
from sync.series.refresh import FIXED_FROM, canonical_preamble, refreshed, render_patch

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
