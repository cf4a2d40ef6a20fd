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
from sync.series import engine as engine_module
from sync.series.engine import Rebase, old_chain, upstream_renames
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


@SETTINGS
@given(histories(), st.data())
def test_onto_its_own_base_the_old_chain_would_only_repeat_the_new_one(repo, states, data):
    """So it is not built (``old_chain``): with it or without it, the same statuses, texts,
    conflicts and files, even for a series written against another tree (offsets, fuzz,
    merges from the index lines, conflicts)."""
    upstream = dict(states[0])
    path = data.draw(st.sampled_from(PATHS))
    lines = upstream[path].split(b"\n")[:-1]
    at = data.draw(st.integers(0, len(lines) - 1))
    lines[at:at + data.draw(st.integers(0, 2))] = [b"upstream edit"] * data.draw(st.integers(1, 2))
    upstream[path] = b"\n".join(lines) + b"\n"
    tree = make_tree(repo, upstream)
    assert old_chain(repo, tree, tree) is None
    assert old_chain(repo, make_tree(repo, states[0]), tree) is not None or upstream == states[0]
    fuzz = data.draw(st.integers(0, 2))
    outcomes = []
    for old in (None, Overlay(TreeSource(repo, tree))):
        engine = Rebase(repo, series_from_states(repo, states), Overlay(TreeSource(repo, tree)),
                        old, DirectBlobWriter(repo), fuzz=fuzz, labels=Labels("base", "upstream"))
        stop = engine.run()
        reports = [*engine.reports, *([stop.report] if stop else [])]
        outcomes.append(([(r.status, r.new_text, r.conflicts, r.offset, r.fuzz) for r in reports],
                         contents(engine, PATHS)))
    assert outcomes[0] == outcomes[1]


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


# --- upstream renamed a file the series changes ----------------------------------------------
BODY = b"".join(b"line %d\n" % n for n in range(40))


def renamed_case(repo, upstream_body: bytes, patched_line: bytes = b"ours 10\n"):
    """One patch editing bundle/a.py; upstream moved it to bundle/moved/a.py."""
    base = {"bundle/a.py": BODY, "bundle/b.py": b"unrelated\n"}
    patched = {**base, "bundle/a.py": BODY.replace(b"line 10\n", patched_line)}
    patches = series_from_states(repo, [base, patched])
    upstream = {"bundle/moved/a.py": upstream_body, "bundle/b.py": b"unrelated\n"}
    engine = rebase(repo, patches, upstream, base)
    engine.renames = upstream_renames(repo, make_tree(repo, base), make_tree(repo, upstream),
                                      patches)
    return engine


def test_upstream_renames_are_found_for_the_paths_the_series_touches(repo):
    base = {"bundle/a.py": BODY, "bundle/b.py": BODY.replace(b"line", b"other"),
            "bundle/gone.py": b"deleted\n"}
    upstream = {"bundle/moved/a.py": BODY.replace(b"line 3\n", b"changed 3\n"),
                "bundle/moved/b.py": base["bundle/b.py"], "bundle/unlike.py": b"new\n" * 40}
    patches = series_from_states(repo, [base, {**base, "bundle/a.py": BODY + b"end\n",
                                               "bundle/gone.py": b"deleted twice\n"}])
    found = upstream_renames(repo, make_tree(repo, base), make_tree(repo, upstream), patches)
    assert found == {"bundle/a.py": "bundle/moved/a.py"}  # b.py moved too, but no patch has it


def test_a_rename_below_half_similar_is_not_followed(repo):
    base = {"bundle/a.py": BODY}
    upstream = {"bundle/moved/a.py": BODY[: len(BODY) // 3] + b"rewritten\n" * 30}
    patches = series_from_states(repo, [base, {"bundle/a.py": BODY + b"end\n"}])
    assert upstream_renames(repo, make_tree(repo, base), make_tree(repo, upstream),
                            patches) == {}


def test_a_patch_on_a_file_upstream_renamed_lands_on_the_new_path(repo):
    engine = renamed_case(repo, BODY)
    assert engine.run() is None
    report = engine.reports[0]
    assert report.status is Status.CLEAN and report.status_text == "clean (followed rename)"
    assert report.renamed == (("bundle/a.py", "bundle/moved/a.py"),)
    assert "followed rename bundle/a.py -> bundle/moved/a.py" in report.evidence
    assert engine.new.get("bundle/a.py") is None
    assert engine.new.get("bundle/moved/a.py").content.data == BODY.replace(b"line 10\n",
                                                                            b"ours 10\n")
    assert report.rewritten and report.new_text is not None
    assert b"diff --git a/bundle/moved/a.py b/bundle/moved/a.py\n" in report.new_text
    assert b"bundle/a.py" not in report.new_text.split(b"\n---\n", 1)[1]


def test_a_renamed_and_edited_file_takes_the_patch_with_an_offset(repo):
    moved = b"new header\n" + BODY.replace(b"line 30\n", b"upstream 30\n")
    engine = renamed_case(repo, moved)
    assert engine.run() is None
    report = engine.reports[0]
    assert report.status is Status.OFFSET and report.status_text == "offset +1 (followed rename)"
    assert engine.new.get("bundle/moved/a.py").content.data == moved.replace(b"line 10\n",
                                                                             b"ours 10\n")
    assert b"+++ b/bundle/moved/a.py\n" in report.new_text


def test_a_renamed_file_edited_next_to_the_patch_is_merged_from_the_old_path(repo):
    """The 3-way ancestor is the recorded base's file under its old name."""
    moved = BODY.replace(b"line 12\n", b"upstream 12\n")
    engine = renamed_case(repo, moved)
    assert engine.run() is None
    report = engine.reports[0]
    assert report.status is Status.MERGED and report.renamed
    assert engine.new.get("bundle/moved/a.py").content.data == moved.replace(b"line 10\n",
                                                                             b"ours 10\n")
    assert b"-line 10\n+ours 10\n line 11\n upstream 12\n" in report.new_text


def test_a_rename_plus_a_conflicting_edit_conflicts_on_the_new_path(repo):
    engine = renamed_case(repo, BODY.replace(b"line 10\n", b"upstream 10\n"))
    stop = engine.run()
    assert stop is not None and stop.report.status is Status.CONFLICT
    assert stop.report.conflicts == ("bundle/moved/a.py",)
    assert stop.report.status_text == "conflict (followed rename)"
    conflict = stop.outcome.conflicts[0]
    assert conflict.base.content.data == BODY
    assert conflict.theirs.content.data == BODY.replace(b"line 10\n", b"ours 10\n")
    assert b"<<<<<<< upstream" in conflict.merged.content.data
    assert stop.outcome.after["bundle/moved/a.py"] == conflict.merged
    assert engine.new.get("bundle/moved/a.py").content.data == BODY.replace(b"line 10\n",
                                                                            b"upstream 10\n")


def test_without_renames_the_same_patch_is_a_modify_delete_conflict(repo):
    engine = renamed_case(repo, BODY)
    engine.renames = {}
    stop = engine.run()
    assert stop is not None and stop.report.conflicts == ("bundle/a.py",)
    assert "deleted upstream, changed by the patch" in " ".join(stop.report.evidence)


def test_a_patch_deleting_a_file_upstream_renamed_deletes_it_where_it_is(repo):
    base = {"bundle/a.py": BODY, "bundle/b.py": b"unrelated\n"}
    patches = series_from_states(repo, [base, {"bundle/b.py": b"unrelated\n"}])
    upstream = {"bundle/moved/a.py": BODY, "bundle/b.py": b"unrelated\n"}
    engine = rebase(repo, patches, upstream, base)
    engine.renames = upstream_renames(repo, make_tree(repo, base), make_tree(repo, upstream),
                                      patches)
    assert engine.run() is None
    assert engine.new.get("bundle/moved/a.py") is None
    assert engine.reports[0].renamed == (("bundle/a.py", "bundle/moved/a.py"),)
    assert b"deleted file mode 100644\n" in engine.reports[0].new_text


class _Eager(Rebase):
    """The engine with the old chain always applying each patch itself."""

    def _shares(self, outcome) -> bool:
        return False


def _old_files(engine: Rebase) -> dict[str, bytes | None]:
    assert engine.old is not None
    return {path: None if (file := engine.old.get(path)) is None else file.content.data
            for path in PATHS}


@SETTINGS
@given(histories(), st.data())
def test_a_patch_applied_once_for_both_chains_gives_what_applying_it_twice_gives(
        repo, states, data):
    """Where both chains hold the same files and the patch lands as written, the old chain
    takes the new chain's result instead of applying the patch again: the reports, both
    chains' files and the paths the old chain lost track of are those of applying it twice,
    whatever upstream did (edits, offsets, fuzz, merges, conflicts)."""
    upstream = dict(states[0])
    for _ in range(data.draw(st.integers(0, 2))):
        path = data.draw(st.sampled_from(PATHS))
        lines = upstream[path].split(b"\n")[:-1]
        at = data.draw(st.integers(0, len(lines) - 1))
        lines[at:at + data.draw(st.integers(0, 2))] = \
            [b"upstream edit"] * data.draw(st.integers(0, 2))
        upstream[path] = b"\n".join(lines) + b"\n"
    fuzz = data.draw(st.integers(0, 2))
    seen = []
    for kind in (Rebase, _Eager):
        engine = kind(repo, series_from_states(repo, states),
                      Overlay(TreeSource(repo, make_tree(repo, upstream))),
                      Overlay(TreeSource(repo, make_tree(repo, states[0]))),
                      DirectBlobWriter(repo), fuzz=fuzz, labels=Labels("base", "upstream"))
        stop = engine.step(0)
        index = 1
        while stop is None and index < len(engine.patches):
            stop = engine.step(index)
            index += 1
        reports = [*engine.reports, *([stop.report] if stop else [])]
        seen.append(([(r.status, r.new_text, r.conflicts, r.offset, r.fuzz) for r in reports],
                     contents(engine, PATHS), _old_files(engine), engine.broken))
    assert seen[0] == seen[1]


def test_onto_an_unchanged_file_the_patch_is_applied_once(repo):
    """The old chain takes the very files the new chain made: nothing is applied twice."""
    states = [{"bundle/a.py": b"one\ntwo\n"}, {"bundle/a.py": b"one\n2\n"},
              {"bundle/a.py": b"one\n2\n", "bundle/new.py": b"new\n"}]
    engine = rebase(repo, series_from_states(repo, states),
                    {**states[0], "bundle/b.py": b"upstream's own file\n"}, states[0])
    phases = []
    engine.phase = lambda _index, what: phases.append(what)
    assert engine.step(0) is None and engine.step(1) is None
    assert "applying to the recorded base" not in phases
    assert engine.old is not None
    for path in ("bundle/a.py", "bundle/new.py"):
        assert engine.old.get(path) is engine.new.get(path)


def read_when_reached(repo, onto: bytes) -> tuple[Rebase, list[str]]:
    """An engine with one patch (two -> 2 in bundle/a.py) read and parsed when reached, onto
    ``onto``; and the list its phases are recorded in."""
    states = [{"bundle/a.py": b"one\ntwo\nthree\n"}, {"bundle/a.py": b"one\n2\nthree\n"}]
    parsed = series_from_states(repo, states)[0]
    lazy = SeriesPatch(parsed.entry, read=lambda _told: parsed.patch.text)
    engine = rebase(repo, [lazy], {"bundle/a.py": onto}, states[0])
    phases: list[str] = []
    engine.phase = lambda _index, what: phases.append(what)
    return engine, phases


def test_a_large_patch_shows_how_far_its_parsing_and_storing_are(repo, monkeypatch):
    """Parsing and storing a 100 MB grouped patch take a while each: the phase shows a
    percentage (from ``SHOWN_FROM`` bytes; lowered here so that a small patch shows it)."""
    monkeypatch.setattr(engine_module, "SHOWN_FROM", 1)
    engine, phases = read_when_reached(repo, onto=b"one\ntwo\nTHREE\n")
    assert engine.step(0) is None and engine.reports[0].rewritten  # merged: refreshed
    assert phases[:2] == ["parsing", "parsing: 100%"]
    stored = [what for what in phases if what.startswith("storing the refreshed patch")]
    assert stored[0] == "storing the refreshed patch" and stored[-1].endswith(": 100%")
    percents = [int(what.rpartition(" ")[2].rstrip("%")) for what in stored[1:]]
    assert percents == sorted(percents) and 50 in percents  # hashed (50%), then compressed


def test_a_small_patch_shows_its_phases_without_percentages(repo):
    engine, phases = read_when_reached(repo, onto=b"one\ntwo\nTHREE\n")
    assert engine.step(0) is None and engine.reports[0].rewritten
    assert not [what for what in phases if "%" in what]


def test_where_upstream_changed_the_file_the_old_chain_applies_the_patch_itself(repo):
    states = [{"bundle/a.py": b"one\ntwo\nthree\n"}, {"bundle/a.py": b"one\n2\nthree\n"}]
    engine = rebase(repo, series_from_states(repo, states),
                    {"bundle/a.py": b"zero\none\ntwo\nthree\n"}, states[0])
    phases = []
    engine.phase = lambda _index, what: phases.append(what)
    assert engine.step(0) is None
    assert engine.reports[0].status is Status.OFFSET
    assert "applying to the recorded base" in phases
    assert engine.old is not None and engine.old.get("bundle/a.py").content.data == \
        b"one\n2\nthree\n"
