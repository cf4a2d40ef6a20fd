"""The series engine: two chains, 3-way from the recorded base, byte-identical refreshes."""

from __future__ import annotations

import re

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.git.diff import diff_text
from sync.git.merge import Labels
from sync.git.trees import DirectBlobWriter, TreeSource
from sync.series.engine import Rebase
from sync.series.load import SeriesPatch
from sync.series.outcome import Status
from sync.series.overlay import Overlay
from sync.series.parse import parse_patch
from sync.series.seriesfile import SeriesEntry
from tests.series.builders import entry_of, make_tree

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
PATHS = ("bundle/a.py", "bundle/b.py", "bundle/sub/c.py")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path_factory.mktemp("engine") / "repo"))


def series_from_states(repo, states: list[dict[str, bytes]]) -> list[SeriesPatch]:
    """Patches as the tool writes them, one per step between consecutive states."""
    patches = []
    for number, (before, after) in enumerate(zip(states, states[1:], strict=False), 1):
        paths = set(before) | set(after)
        diff = diff_text(repo, {p: entry_of(repo, before[p]) if p in before else None
                                for p in paths},
                         {p: entry_of(repo, after[p]) if p in after else None for p in paths})
        name = f"{number:04d}.patch"
        text = f"From: A <a@b.c>\nSubject: [PATCH] step {number}\n\n---\n".encode() + diff
        patches.append(SeriesPatch(SeriesEntry(name), parse_patch(text, name,
                                                                  targets=["bundle"])))
    return patches


def rebase(repo, patches, onto: dict, base: dict | None, fuzz: int = 0) -> Rebase:
    old = Overlay(TreeSource(repo, make_tree(repo, base))) if base is not None else None
    engine = Rebase(repo, patches, Overlay(TreeSource(repo, make_tree(repo, onto))), old,
                    DirectBlobWriter(repo), fuzz=fuzz, labels=Labels("base", "upstream"))
    return engine


def contents(engine: Rebase, paths) -> dict[str, bytes]:
    found = {}
    for path in paths:
        file = engine.new.get(path)
        if file is not None:
            found[path] = file.content.data
    return found


@st.composite
def histories(draw):
    """A base of three files and a series of 1-4 edits of random lines."""
    base = {path: b"".join(b"%s %d\n" % (path.encode(), n) for n in range(draw(
        st.integers(5, 40)))) for path in PATHS}
    states = [base]
    for step in range(draw(st.integers(1, 4))):
        state = dict(states[-1])
        path = draw(st.sampled_from(PATHS))
        lines = state[path].split(b"\n")[:-1]
        for _ in range(draw(st.integers(1, 3))):
            position = draw(st.integers(0, len(lines) - 1))
            lines[position] = b"step %d: %s" % (step, lines[position])
        state[path] = b"\n".join(lines) + b"\n"
        states.append(state)
    return states


@SETTINGS
@given(histories())
def test_a_rebase_onto_an_unchanged_upstream_is_byte_identical(repo, states):
    patches = series_from_states(repo, states)
    engine = rebase(repo, patches, states[0], states[0])
    assert engine.run() is None
    assert [report.status for report in engine.reports] == [Status.CLEAN] * len(patches)
    assert all(report.new_text is None for report in engine.reports)
    assert contents(engine, PATHS) == states[-1]


@SETTINGS
@given(histories(), st.data())
def test_a_second_rebase_onto_the_same_upstream_rewrites_nothing(repo, states, data):
    upstream = dict(states[0])
    path = data.draw(st.sampled_from(PATHS))
    lines = upstream[path].split(b"\n")[:-1]
    at = data.draw(st.integers(0, len(lines)))
    upstream[path] = b"\n".join(lines[:at] + [b"upstream insert"] + lines[at:]) + b"\n"
    first = rebase(repo, series_from_states(repo, states), upstream, states[0])
    if first.run() is not None:
        return  # a genuine conflict: nothing to refresh
    texts = [report.new_text or item.patch.text for report, item in
             zip(first.reports, first.patches, strict=True)]
    again = [SeriesPatch(item.entry, parse_patch(text, item.entry.name))
             for item, text in zip(first.patches, texts, strict=True)]
    second = rebase(repo, again, upstream, upstream)
    assert second.run() is None
    assert all(report.new_text is None for report in second.reports)
    assert contents(second, PATHS) == contents(first, PATHS)


def test_the_old_chain_gives_each_patch_its_own_base(repo):
    """Patch 2 edits what patch 1 added; upstream moved both: 3-way needs patch 1's result."""
    base = {"bundle/a.py": b"".join(b"line %d\n" % n for n in range(20))}
    one = {"bundle/a.py": base["bundle/a.py"].replace(b"line 10\n", b"ours 10\nours 11\n")}
    two = {"bundle/a.py": one["bundle/a.py"].replace(b"ours 11\n", b"ours eleven\n")}
    patches = series_from_states(repo, [base, one, two])
    upstream = {"bundle/a.py": base["bundle/a.py"].replace(b"line 12\n", b"upstream 12\n")}
    engine = rebase(repo, patches, upstream, base)
    assert engine.run() is None
    assert [report.status for report in engine.reports] == [Status.MERGED, Status.MERGED]
    assert engine.new.get("bundle/a.py").content.data == upstream["bundle/a.py"].replace(
        b"line 10\n", b"ours 10\nours eleven\n")
    assert all(b"upstream 12" in report.new_text for report in engine.reports)


def test_without_a_recorded_base_a_context_change_is_a_conflict(repo):
    base = {"bundle/a.py": b"".join(b"line %d\n" % n for n in range(20))}
    one = {"bundle/a.py": base["bundle/a.py"].replace(b"line 10\n", b"ours 10\n")}
    patches = [SeriesPatch(item.entry, parse_patch(re.sub(
        rb"\nindex [^\n]*", b"", item.patch.text), item.entry.name)) for item in
        series_from_states(repo, [base, one])]  # no index line either
    upstream = {"bundle/a.py": base["bundle/a.py"].replace(b"line 11\n", b"upstream 11\n")}
    stop = rebase(repo, patches, upstream, None).run()
    assert stop is not None and stop.report.status is Status.CONFLICT
    assert stop.outcome.conflicts[0].path == "bundle/a.py"


def test_a_patch_the_old_chain_cannot_apply_loses_its_recorded_base(repo):
    base = {"bundle/a.py": b"".join(b"line %d\n" % n for n in range(20))}
    one = {"bundle/a.py": base["bundle/a.py"].replace(b"line 10\n", b"ours 10\n")}
    patches = series_from_states(repo, [base, one])
    wrong_base = {"bundle/a.py": b"something else entirely\n"}
    engine = rebase(repo, patches, one, wrong_base)
    assert engine.run() is None
    assert engine.reports[0].status is Status.ALREADY_UPSTREAM
    assert engine.broken == {"bundle/a.py"}
