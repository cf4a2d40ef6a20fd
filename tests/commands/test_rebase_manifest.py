"""A stopped rebase keeps what it read of the manifest: its targets and its upstream branch.

The manifest is read when a rebase starts; its targets and branch go into the rebase state with
an id of the file's bytes. ``--continue``, ``--skip`` and ``--abort`` work on those, and parse
the file again only when its bytes changed since: if it now names other targets or another
branch, the rebase still keeps its own and says so (a warning on stderr, ``warnings`` in
``--json``). A state written before the record existed reads the manifest, as it always did.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.commands.projects import SERIES, UPSTREAM_FILES, Project, make_project

STATE = ".git/simapp-sync/rebase/state.json"
PINS = b"tensorflow==2.14\nredis==4.5\n"
RESOLVED = "tensorflow==2.14\nredis==5.0\n"
EXTRA_TARGET = """\
  - source: /opt/extra
    target: extra
variants:"""


@pytest.fixture
def stopped(tmp_path: Path) -> Project:
    """A rebase stopped at a conflict on 0002 (exit 1, state kept)."""
    simapp = make_project(tmp_path, UPSTREAM_FILES, SERIES)
    simapp.move_upstream({"bundle/configs/environment.yml": PINS})
    assert simapp.run("rebase-patches").code == 1
    return simapp


def resolve(simapp: Project) -> None:
    simapp.write("bundle/configs/environment.yml", RESOLVED)
    simapp.git("add", "bundle/configs/environment.yml")


def state(simapp: Project) -> dict:
    return json.loads(simapp.read(STATE))


def edit_manifest(simapp: Project, old: str, new: str) -> None:
    text = simapp.read("upstream-manifest.yaml")
    assert old in text
    simapp.write("upstream-manifest.yaml", text.replace(old, new))


def test_a_stop_records_the_targets_the_branch_and_the_manifests_bytes(stopped: Project):
    recorded = state(stopped)
    assert recorded["targets"] == ["bundle"] and recorded["branch"] == "upstream"
    manifest = (stopped.root / "upstream-manifest.yaml").read_bytes()
    assert recorded["manifest"] == hashlib.sha256(manifest).hexdigest()


def test_continue_keeps_the_targets_it_started_with_and_warns_of_the_new_ones(stopped: Project):
    edit_manifest(stopped, "target: bundle", "target: vendor/bundle")
    edit_manifest(stopped, "branch: upstream", "branch: vendor")
    resolve(stopped)
    result = stopped.run("rebase-patches", "--continue", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["status"] == "done"
    warning, = document["warnings"]
    assert "upstream-manifest.yaml changed while the rebase was stopped" in warning
    assert "targets now vendor/bundle (before: bundle)" in warning
    assert "branch now vendor (before: upstream)" in warning
    assert "keeps the targets and the upstream commit it started with" in warning
    assert "rebase-patches` again once it is done" in warning
    # the resolution under bundle/ became the patch, as the rebase started it
    assert stopped.read("bundle/configs/environment.yml") == RESOLVED
    assert "+redis==5.0" in stopped.read("patches/0002-environment-pins.patch")
    assert not (stopped.root / "vendor").exists()


def test_abort_after_a_target_was_added_restores_the_old_targets_and_says_so(stopped: Project):
    edit_manifest(stopped, "variants:", EXTRA_TARGET)
    result = stopped.run("rebase-patches", "--abort")
    assert result.code == 0, result.err
    err = " ".join(result.err.split())
    assert "warning:" in err and "targets now bundle, extra (before: bundle)" in err
    assert stopped.read("bundle/configs/environment.yml") == "tensorflow==2.13\nredis==4.5\n"
    assert not (stopped.root / STATE).exists()
    assert stopped.git("ls-files", "-u") == ""


def test_an_edit_that_keeps_the_targets_and_the_branch_goes_unmentioned(stopped: Project):
    edit_manifest(stopped, "tag: latest", "tag: v2")
    resolve(stopped)
    result = stopped.run("rebase-patches", "--continue", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["warnings"] == []
    assert "warning" not in result.err


def test_a_manifest_broken_during_the_stop_is_refused_until_it_is_fixed(stopped: Project):
    good = stopped.read("upstream-manifest.yaml")
    stopped.write("upstream-manifest.yaml", good.replace("paths:", "paths: [oops"))
    resolve(stopped)
    result = stopped.run("rebase-patches", "--continue")
    assert result.code == 2
    assert "upstream-manifest.yaml" in result.err and "invalid YAML" in result.err
    assert (stopped.root / STATE).exists()  # nothing done: the rebase waits
    stopped.write("upstream-manifest.yaml", good)
    assert stopped.run("rebase-patches", "--continue").code == 0


def test_a_state_from_before_the_record_reads_the_manifest(stopped: Project):
    older = state(stopped)
    for key in ("targets", "branch", "manifest"):
        del older[key]
    stopped.write(STATE, json.dumps(older))
    edit_manifest(stopped, "tag: latest", "tag: v2")  # read, and nothing to warn about
    resolve(stopped)
    result = stopped.run("rebase-patches", "--continue", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["status"] == "done" and document["warnings"] == []
    assert stopped.read("bundle/configs/environment.yml") == RESOLVED
