"""The stopped rebase's state: its own versioned format, replaced atomically, read back whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.errors import GitError, RebaseInProgress
from sync.series.engine import PatchReport
from sync.series.outcome import Status
from sync.series.state import (
    STATE_FORMAT,
    ConflictRecord,
    RebaseState,
    ReportRecord,
    StateStore,
)

REPORT = PatchReport(index=2, name="0002-fix.patch", status=Status.MERGED, files=1, added=3,
                     removed=1, evidence=("merged 3-way",), new_text=b"refreshed\n",
                     conflicts=(), offset=7, fuzz=1, rewritten=True,
                     renamed=(("bundle/a.py", "bundle/b.py"),))


def test_the_state_round_trips_and_clear_forgets_it(tmp_path: Path):
    store = StateStore(tmp_path / ".git")
    assert store.load() is None
    state = RebaseState(phase="conflict", onto="a" * 40, base=None, backup_tree="b" * 40,
                        had_index=True, stopped_at=3, broken=["bundle/x"],
                        stopped=ReportRecord.of(REPORT),
                        conflicts=[ConflictRecord("bundle/x", (0o100644, "c" * 40), None,
                                                  (0o100755, "d" * 40))],
                        reports=[ReportRecord.of(REPORT, "e" * 40)])
    store.save(state)
    assert store.load() == state
    assert not list(store.folder.glob("*.tmp"))
    store.clear()
    assert store.load() is None and not store.folder.exists()


def test_a_report_record_gives_the_report_back():
    record = ReportRecord.of(REPORT, "e" * 40)
    assert record.new_text == "e" * 40
    assert record.report(b"refreshed\n") == REPORT


def test_the_document_names_its_format_and_not_the_cli_output_shape(tmp_path: Path):
    store = StateStore(tmp_path / ".git")
    store.save(RebaseState(phase="finishing", onto="a" * 40, base=None, backup_tree="b" * 40,
                           had_index=False, reports=[ReportRecord.of(REPORT)]))
    document = json.loads((store.folder / "state.json").read_text())
    assert document["format"] == STATE_FORMAT == 2
    assert document["reports"][0]["renamed"] == [["bundle/a.py", "bundle/b.py"]]


@pytest.mark.parametrize("document", [
    {"version": 1, "phase": "conflict"},  # what simapp-sync wrote before format 2
    {"format": STATE_FORMAT + 1, "phase": "conflict"},
    {"phase": "conflict"},
])
def test_a_state_of_another_format_is_refused_with_a_way_out(tmp_path: Path, document):
    store = StateStore(tmp_path / ".git")
    store.prepare()
    (store.folder / "state.json").write_text(json.dumps(document))
    with pytest.raises(GitError, match="is not the format this simapp-sync reads") as raised:
        store.load()
    assert "remove" in (raised.value.hint or "") and "--abort" in (raised.value.hint or "")


def test_an_unreadable_state_is_an_error_with_a_way_out(tmp_path: Path):
    store = StateStore(tmp_path / ".git")
    store.prepare()
    (store.folder / "state.json").write_text("{not json")
    with pytest.raises(GitError, match="unreadable rebase state"):
        store.load()
    (store.folder / "state.json").write_text(json.dumps({"format": STATE_FORMAT, "odd": 1}))
    with pytest.raises(GitError, match="unreadable rebase state"):
        store.load()


def test_the_guard_refuses_only_while_a_rebase_is_stopped(tmp_path: Path):
    store = StateStore(tmp_path / ".git")
    store.refuse_if_in_progress()  # nothing in progress: no error
    store.save(RebaseState(phase="conflict", onto="a" * 40, base=None, backup_tree="b" * 40,
                           had_index=False))
    with pytest.raises(RebaseInProgress) as raised:
        store.refuse_if_in_progress()
    assert raised.value.exit_code == 1
    assert raised.value.message == "a rebase-patches is in progress: the series is not settled"
    assert "rebase-patches --continue" in (raised.value.hint or "")


def test_the_scope_is_kept_and_a_state_without_it_still_loads(tmp_path: Path):
    store = StateStore(tmp_path / ".git")
    state = RebaseState(phase="conflict", onto="a" * 40, base=None, backup_tree="b" * 40,
                        had_index=True, targets=["bundle", "docker/files"], branch="upstream",
                        manifest="f" * 64)
    store.save(state)
    assert store.load() == state
    document = json.loads((store.folder / "state.json").read_text())
    for key in ("targets", "branch", "manifest"):  # as an earlier simapp-sync wrote it
        del document[key]
    (store.folder / "state.json").write_text(json.dumps(document))
    older = store.load()
    assert older is not None and (older.targets, older.branch, older.manifest) == (None,) * 3


def test_targets_that_are_not_a_list_of_names_make_the_state_unreadable(tmp_path: Path):
    store = StateStore(tmp_path / ".git")
    store.save(RebaseState(phase="conflict", onto="a" * 40, base=None, backup_tree="b" * 40,
                           had_index=True, targets=["bundle"]))
    document = json.loads((store.folder / "state.json").read_text())
    document["targets"] = "bundle"
    (store.folder / "state.json").write_text(json.dumps(document))
    with pytest.raises(GitError, match="unreadable rebase state: TypeError: targets must be"):
        store.load()
