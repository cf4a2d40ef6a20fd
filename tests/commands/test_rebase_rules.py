"""`rebase-patches` and the merge rules: named per file in --json, turned off with --no-rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.cli import main
from sync.series.resolve import ADJACENT_EDITS, RuleSet
from tests.commands.test_rebase import ORIGINAL, edit, prepare, run
from tests.series.builders import Checkout


@pytest.fixture
def checkout(repo_dir: Path) -> Checkout:
    return Checkout(repo_dir)


def adjacent(checkout: Checkout, tmp_path: Path) -> None:
    """The patch edits line 40; upstream then edits line 41, right next to it."""
    prepare(checkout, tmp_path, ORIGINAL, [
        ("Fix", {"bundle/app.py": edit(ORIGINAL["bundle/app.py"], {40: b"patched 40\n"})})])
    checkout.upstream({**ORIGINAL,
                       "bundle/app.py": edit(ORIGINAL["bundle/app.py"], {41: b"upstream 41\n"})})


def test_a_resolution_by_rule_is_named_for_its_file_in_json(checkout: Checkout,
                                                            tmp_path: Path, capsys):
    adjacent(checkout, tmp_path)
    assert run(checkout, json_mode=True) == 0
    row = json.loads(capsys.readouterr().out)["patches"][0]
    assert row["status"] == "merged" and row["rules"] == {"bundle/app.py": ADJACENT_EDITS}
    assert checkout.read("bundle/app.py") == edit(
        ORIGINAL["bundle/app.py"], {40: b"patched 40\n", 41: b"upstream 41\n"})


def test_the_rule_is_named_in_the_report(checkout: Checkout, tmp_path: Path, capsys):
    adjacent(checkout, tmp_path)
    assert run(checkout) == 0
    assert f"resolved by rule {ADJACENT_EDITS}" in capsys.readouterr().out


def test_a_rule_turned_off_leaves_a_conflict_and_stays_off_after_skip(checkout: Checkout,
                                                                     tmp_path: Path, capsys):
    adjacent(checkout, tmp_path)
    assert run(checkout, rules=RuleSet.without([ADJACENT_EDITS])) == 1
    assert b"<<<<<<< upstream" in checkout.read("bundle/app.py")
    state = json.loads((checkout.path / ".git/simapp-sync/rebase/state.json").read_text())
    assert state["rules_off"] == [ADJACENT_EDITS]
    assert run(checkout, action="skip") == 0


def test_no_rule_on_the_command_line(checkout: Checkout, tmp_path: Path, capsys):
    adjacent(checkout, tmp_path)
    assert main(["-C", str(checkout.path), "rebase-patches", "--no-rule", "all"]) == 1
    capsys.readouterr()
    assert main(["-C", str(checkout.path), "rebase-patches", "--abort"]) == 0
    assert main(["-C", str(checkout.path), "rebase-patches", "--no-rule", "zealous"]) == 2
    assert "zealous" in capsys.readouterr().err
