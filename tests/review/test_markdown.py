"""The markdown review fits a pull request body: whole when it can, summarized when it cannot."""

from __future__ import annotations

from sync.review.markdown import LIMIT, render_markdown
from sync.review.model import PatchRow, Review, TargetChanges
from sync.series.engine import PatchReport
from sync.series.outcome import Status
from sync.series.rangediff import Kind, PatchDelta
from sync.upstream import Upstream


def row(index: int, status: Status, *, interdiff_lines: int = 0) -> PatchRow:
    name = f"{index:04d}-patch-{index}.patch"
    interdiff = b"--- old\n+++ new\n@@ -1,2 +1,2 @@\n" + b"".join(
        b"-old line %d ``` fenced\n+new line %d\n" % (n, n) for n in range(interdiff_lines))
    kind = Kind.CHANGED if interdiff_lines else Kind.UNCHANGED
    delta = PatchDelta(name, kind, "changed: a lot" if interdiff_lines else "unchanged",
                       interdiff if interdiff_lines else b"")
    return PatchRow(index, name, PatchReport(index, name, status, 1, 2, 3), delta)


def review(rows: list[PatchRow]) -> Review:
    side = Upstream("a" * 40, "example.org/simapp:v1", "sha256:" + "1" * 64)
    return Review("the last rebase", side, Upstream("b" * 40, "example.org/simapp:v2"),
                  (TargetChanges("bundle", 1, 2, 3, 40, 50),), tuple(rows), (), "c" * 40,
                  "work tree")


def test_a_small_review_is_whole():
    text = render_markdown(review([row(1, Status.CLEAN), row(2, Status.MERGED,
                                                             interdiff_lines=3)]))
    assert "| 1 | `0001-patch-1.patch` | clean | 1 | +2 −3 | unchanged |" in text
    assert "<details><summary><code>0002-patch-2.patch</code>: changed: a lot</summary>" in text
    assert "````diff\n" in text  # a fence longer than any run of backticks inside
    assert "| image | `example.org/simapp:v1` | `example.org/simapp:v2` |" in text
    assert "| digest | `sha256:" in text and "| — |" in text
    assert "_none changed_" in text


def test_interdiffs_that_do_not_fit_are_named_and_point_to_the_html():
    rows = [row(number, Status.MERGED, interdiff_lines=400) for number in range(1, 11)]
    text = render_markdown(review(rows), html_url="https://ci.example/run/1")
    assert len(text) <= LIMIT
    shown = text.count("<details>")
    assert 0 < shown < 10
    assert f"_{10 - shown} interdiffs too large for a PR body" in text
    assert "[the HTML review](https://ci.example/run/1)" in text
    assert all(f"| {number} | `{number:04d}-patch-{number}.patch`" in text
               for number in range(1, 11))  # every row is still in the table


def test_a_huge_series_keeps_the_rows_that_need_attention():
    rows = [row(number, Status.CLEAN) for number in range(1, 1500)]
    rows.append(row(1500, Status.CONFLICT))
    text = render_markdown(review(rows))
    assert len(text) <= LIMIT
    assert "| 1500 | `1500-patch-1500.patch` | conflict |" in text
    assert "| 1 | `0001-patch-1.patch`" not in text
    assert "_1499 more patches applied clean or with an offset" in text


def test_a_series_too_large_for_any_table_still_fits():
    rows = [row(number, Status.MERGED) for number in range(1, 3000)]
    text = render_markdown(review(rows))
    assert len(text) <= LIMIT
    assert "The per-patch table is too large for a PR body" in text
    assert "`0001-patch-1.patch` (merged (3-way))" in text
