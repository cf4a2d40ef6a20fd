"""The rules inside a rebase: the tiff regression, the report, and the refresh property."""

from __future__ import annotations

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.git.merge import Labels
from sync.git.trees import DirectBlobWriter, TreeSource
from sync.series.apply import apply_patch
from sync.series.engine import Rebase
from sync.series.outcome import Status
from sync.series.overlay import Overlay
from sync.series.parse import parse_patch
from sync.series.resolve import (
    ADJACENT_EDITS,
    ALL_RULES,
    DUPLICATE_GUARD,
    UPSTREAM_CONTEXT_CHANGED,
    RuleSet,
)
from tests.series.builders import make_tree
from tests.series.test_engine import series_from_states

PATH = "bundle/tif_luv.c"
OLD = (b"static int\nuv_encode(double u, double v)\n{\n    register int vi, ui;\n\n"
       b"    if (v < UV_VSTART)\n        return oog_encode(u, v);\n    vi = itrunc(v);\n"
       b"    return vi;\n}\n") + b"".join(b"/* filler %d */\n" % n for n in range(20))
CHECK = b"    /* check for NaN */\n    if (u != u || v != v)\n    {\n        u = U_NEU;\n    }\n\n"
PATCHED = OLD.replace(b"    if (v < UV_VSTART)", CHECK + b"    if (v < UV_VSTART)")
# upstream took the check, and rewrote the declarations right above it
UPSTREAM = PATCHED.replace(b"    register int vi, ui;\n", b"    unsigned int vi;\n    int ui;\n")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path_factory.mktemp("rules") / "repo"))


def rebase(repo, states, onto: dict, rules: RuleSet = ALL_RULES) -> Rebase:
    patches = series_from_states(repo, states)
    return Rebase(repo, patches, Overlay(TreeSource(repo, make_tree(repo, onto))),
                  Overlay(TreeSource(repo, make_tree(repo, states[0]))), DirectBlobWriter(repo),
                  labels=Labels("base", "upstream"), rules=rules)


def test_a_patch_upstream_took_with_changed_context_is_a_clean_no_op(repo):
    """tiff's CVE-2023-26966.patch: git am -3 added the NaN check a second time."""
    engine = rebase(repo, [{PATH: OLD}, {PATH: PATCHED}], {PATH: UPSTREAM})
    assert engine.run() is None
    report = engine.reports[0]
    assert report.status is Status.ALREADY_UPSTREAM
    assert engine.new.get(PATH).content.data == UPSTREAM
    assert report.rules == ((PATH, UPSTREAM_CONTEXT_CHANGED),)
    assert any(UPSTREAM_CONTEXT_CHANGED in line for line in report.evidence)


def test_without_that_rule_the_guard_stops_the_duplicate(repo):
    engine = rebase(repo, [{PATH: OLD}, {PATH: PATCHED}], {PATH: UPSTREAM},
                    RuleSet.without([UPSTREAM_CONTEXT_CHANGED]))
    stop = engine.run()
    if stop is None:  # the plain merge happened to line the regions up: no duplicate to stop
        assert engine.new.get(PATH).content.data == UPSTREAM
        return
    assert stop.report.status is Status.CONFLICT
    assert stop.report.rules == ((PATH, DUPLICATE_GUARD),)


def test_adjacent_edits_are_merged_and_reported(repo):
    old = b"".join(b"line %d\n" % n for n in range(20))
    patched = old.replace(b"line 10\n", b"patch 10\n")
    upstream = old.replace(b"line 11\n", b"upstream 11\n")
    engine = rebase(repo, [{PATH: old}, {PATH: patched}], {PATH: upstream})
    assert engine.run() is None
    assert engine.reports[0].status is Status.MERGED
    assert engine.reports[0].rules == ((PATH, ADJACENT_EDITS),)
    assert engine.new.get(PATH).content.data == upstream.replace(b"line 10\n", b"patch 10\n")
    off = rebase(repo, [{PATH: old}, {PATH: patched}], {PATH: upstream},
                 RuleSet.without([ADJACENT_EDITS]))
    assert off.run() is not None  # git's plain 3-way merge calls it a conflict


# --- whatever the rules do, the refreshed series reproduces the result -------------------------
WORDS = [b"alpha", b"beta", b"gamma", b"if (x)", b"return y;", b"}", b""]


@st.composite
def cases(draw):
    """A base file, a one-patch series and an upstream that moved near the patch or took it."""
    size = draw(st.integers(6, 16))
    base = [b"%s %d\n" % (draw(st.sampled_from(WORDS)), n % 5) for n in range(size)]
    at = draw(st.integers(0, size - 1))
    patched = list(base)
    what = draw(st.sampled_from(["replace", "insert", "delete"]))
    change = [b"    patched %d\n" % k for k in range(draw(st.integers(1, 3)))]
    if what == "replace":
        patched[at:at + 1] = change
    elif what == "insert":
        patched[at:at] = change
    else:
        del patched[at]
    upstream = list(patched if draw(st.booleans()) else base)  # sometimes upstream took it
    for _ in range(draw(st.integers(1, 3))):
        spot = min(max(at + draw(st.integers(-3, 3)), 0), len(upstream))
        kind = draw(st.sampled_from(["edit", "insert", "delete", "indent"]))
        if kind == "insert" or spot == len(upstream):
            upstream.insert(spot, b"upstream %d\n" % spot)
        elif kind == "edit":
            upstream[spot] = b"upstream edit %d\n" % spot
        elif kind == "indent":
            upstream[spot] = b"\t" + upstream[spot]
        else:
            del upstream[spot]
    return b"".join(base), b"".join(patched), b"".join(upstream)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases())
def test_the_refreshed_patch_applied_to_upstream_reproduces_the_result(repo, case):
    base, patched, upstream = case
    engine = rebase(repo, [{PATH: base}, {PATH: patched}], {PATH: upstream})
    if engine.run() is not None:
        return  # a conflict: nothing was decided
    report, item = engine.reports[0], engine.patches[0]
    if report.status.absorbed:  # nothing left to apply: the result is upstream itself
        assert engine.new.get(PATH).content.data == upstream
        return
    text = report.new_text or item.patch.text
    tree = Overlay(TreeSource(repo, make_tree(repo, {PATH: upstream})))
    outcome = apply_patch(parse_patch(text, item.entry.name), tree)
    assert outcome.status is not Status.CONFLICT
    assert tree.get(PATH).content.data == engine.new.get(PATH).content.data
