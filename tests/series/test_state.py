"""The stopped rebase's state: one JSON document, replaced atomically, read back whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.errors import GitError
from sync.series.state import ConflictRecord, RebaseState, ReportRecord, StateStore


def test_the_state_round_trips_and_clear_forgets_it(tmp_path: Path):
    store = StateStore(tmp_path / ".git")
    assert store.load() is None
    state = RebaseState(phase="conflict", onto="a" * 40, base=None, backup_tree="b" * 40,
                        had_index=True, stopped_at=3, broken=["bundle/x"],
                        conflicts=[ConflictRecord("bundle/x", (0o100644, "c" * 40), None,
                                                  (0o100755, "d" * 40))],
                        reports=[ReportRecord({"name": "0001.patch"}, "e" * 40)])
    store.save(state)
    assert store.load() == state
    assert not list(store.folder.glob("*.tmp"))
    store.clear()
    assert store.load() is None and not store.folder.exists()


def test_an_unreadable_state_is_an_error_with_a_way_out(tmp_path: Path):
    store = StateStore(tmp_path / ".git")
    store.prepare()
    (store.folder / "state.json").write_text("{not json")
    with pytest.raises(GitError, match="unreadable rebase state"):
        store.load()
