"""Interdiff tables: both line numbers, the two levels of markers, changes paired side by side."""

from __future__ import annotations

from sync.review.diffview import escape, inner, parse, side_by_side, unified

INTERDIFF = (b"--- old\n+++ new\n@@ -5,4 +5,4 @@\n"
             b" -tensorflow==2.12\n"
             b" +tensorflow==2.13\n"
             b"  redis==4.5\n"
             b"- numpy==1.23\n"
             b"+ numpy==1.24\n")


def test_lines_are_numbered_on_both_sides_of_the_interdiff():
    lines = parse(INTERDIFF)
    assert [line.kind for line in lines] == ["meta", "meta", "hunk", "ctx", "ctx", "ctx", "del",
                                             "add"]
    assert (lines[3].old, lines[3].new) == (5, 5)
    assert (lines[6].old, lines[6].new) == (8, None)
    assert (lines[7].old, lines[7].new) == (None, 8)
    assert lines[3].text == "-tensorflow==2.12"  # the outer marker is gone, the patch's kept


def test_the_inner_marker_colours_what_the_line_does_in_the_patch():
    assert inner("+tensorflow==2.13") == \
        '<span class="in-add">+</span><span class="hl">tensorflow==2.13</span>'
    assert inner("-x").startswith('<span class="in-del">-</span>')
    assert inner("@@ -1 +1 @@") == '<span class="in-hunk">@@ -1 +1 @@</span>'
    assert inner("diff --git a/x b/x").startswith('<span class="in-meta">')
    assert inner(" context <b>") == '<span class="in-ctx"> </span><span class="hl">context ' \
                                    "&lt;b&gt;</span>"


def test_the_code_is_coloured_by_the_language_of_its_file():
    python = inner("+def reward(params): return 1.0  # scaled", "bundle/markov/reward.py")
    assert '<span class="k">def</span>' in python and '<span class="c1"># scaled</span>' in python
    yaml_line = inner(" - tensorflow==2.13", "bundle/configs/environment.yml")
    assert 'class="l l-Scalar l-Scalar-Plain">tensorflow==2.13' in yaml_line
    assert inner("+a < b", "notes.unknown-extension") == \
        '<span class="in-add">+</span><span class="hl">a &lt; b</span>'


def test_the_file_follows_the_sections_of_the_patch():
    interdiff = (b"--- old\n+++ new\n@@ -1,3 +1,3 @@\n"
                 b" +x = 1\n"
                 b" diff --git a/bundle/a.yml b/bundle/a.yml\n"
                 b"- +key: old\n"
                 b"+ +key: new\n")
    lines = parse(interdiff, "bundle/first.py")
    assert [line.path for line in lines[3:]] == [
        "bundle/first.py", "bundle/a.yml", "bundle/a.yml", "bundle/a.yml"]


def test_unified_keeps_every_line_in_order():
    table = unified(parse(INTERDIFF))
    assert table.count("<tr") == 8
    assert table.index("numpy==1.23") < table.index("numpy==1.24")
    assert '<tr class="del"><td class="ln">8</td><td class="ln"></td><td class="op">-</td>' in table


def test_side_by_side_pairs_a_removal_with_the_addition_that_replaced_it():
    table = side_by_side(parse(INTERDIFF))
    row = next(row for row in table.split("<tr") if "numpy==1.23" in row)
    assert "numpy==1.24" in row  # one row: before on the left, after on the right
    assert table.count("<tr") == 7  # meta, meta, hunk, 3 context, 1 paired change


def test_no_address_reads_as_a_url():
    assert escape("see https://example.com & <x>") == \
        "see https:<wbr>//example.com &amp; &lt;x&gt;"
