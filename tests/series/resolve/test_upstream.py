"""Rule upstream-context-changed: hunks upstream already has, with other context around them."""

from __future__ import annotations

from sync.series.hunks import Landing, apply_hunks
from sync.series.parse import parse_patch
from sync.series.resolve.upstream import already_upstream

OLD = (b"static int\nuv_encode(double u, double v)\n{\n    register int vi, ui;\n\n"
       b"    if (v < UV_VSTART)\n        return oog_encode(u, v);\n    vi = itrunc(v);\n"
       b"    return vi;\n}\n")
CHECK = b"    /* check for NaN */\n    if (u != u || v != v)\n        u = U_NEU;\n\n"
PATCH = b"""Subject: check for NaN

--- a/bundle/tif_luv.c
+++ b/bundle/tif_luv.c
@@ -2,7 +2,11 @@
 uv_encode(double u, double v)
 {
     register int vi, ui;
\x20
+    /* check for NaN */
+    if (u != u || v != v)
+        u = U_NEU;
+
     if (v < UV_VSTART)
         return oog_encode(u, v);
     vi = itrunc(v);
"""


def hunks():
    return parse_patch(PATCH, "CVE-2023-26966.patch").files[0].hunks


def lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def test_the_change_upstream_took_with_its_declarations_rewritten_is_found():
    """The tiff case: upstream has the NaN check, and re-declared vi and ui above it."""
    new = OLD.replace(b"    register int vi, ui;\n\n",
                      b"    unsigned int vi;\n    int ui;\n\n" + CHECK)
    text = apply_hunks(lines(new), hunks())
    assert text.failed
    found = already_upstream(lines(new), hunks(), text)
    assert found is not None and not found.failed
    assert found.lines == lines(new)  # nothing added: a clean no-op
    assert [result.landing for result in found.hunks] == [Landing.ALREADY]


def test_a_change_upstream_does_not_have_is_left_to_the_merge():
    new = OLD.replace(b"    register int vi, ui;\n", b"    unsigned int vi;\n    int ui;\n")
    text = apply_hunks(lines(new), hunks())
    assert already_upstream(lines(new), hunks(), text) is None


def test_a_change_upstream_has_twice_is_ambiguous():
    new = OLD.replace(b"    register int vi, ui;\n\n", b"    unsigned int vi;\n\n" + CHECK)
    new += b"\n" + CHECK + b"    if (v < UV_VSTART)\n"
    text = apply_hunks(lines(new), hunks())
    assert already_upstream(lines(new), hunks(), text) is None


def test_a_tiny_change_is_not_recognisable():
    """A hunk adding a lone brace could match anywhere: no proof either way."""
    patch = (b"Subject: x\n\n--- a/bundle/f\n+++ b/bundle/f\n@@ -1,4 +1,5 @@\n a\n b\n+}\n"
             b" c\n d\n")
    small = parse_patch(patch, "x.patch").files[0].hunks
    new = [b"A\n", b"b\n", b"}\n", b"c\n", b"d\n"]
    text = apply_hunks(new, small)
    assert text.failed and already_upstream(new, small, text) is None
