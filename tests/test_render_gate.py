"""The render gate: render and build only from "upstream + series", exactly, and settled."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.errors import CheckFailed, GitError, RebaseInProgress
from sync.render_gate import render_gate, render_in_memory
from sync.workspace import Workspace
from tests.commands.projects import SERIES, UPSTREAM_DIGEST, UPSTREAM_FILES, Project, make_project


@pytest.fixture
def simapp(tmp_path: Path) -> Project:
    return make_project(tmp_path, UPSTREAM_FILES, SERIES)


def gate(simapp: Project):
    workspace = Workspace.open(simapp.root)
    return render_gate(workspace.repo, workspace.manifest)


def test_the_gate_passes_upstream_plus_series_and_labels_with_the_upstream(simapp: Project):
    result = gate(simapp)
    assert result.upstream.commit == simapp.upstream
    assert result.upstream.digest == UPSTREAM_DIGEST
    assert [report.name for report in result.reports] == [spec.name for spec in SERIES]
    assert result.summary() == (f"series: 2 patches apply to upstream {simapp.upstream[:7]} "
                                "(2 clean); the work tree matches")


def test_a_patch_that_no_longer_applies_to_the_tip_is_refused_by_name(simapp: Project):
    simapp.move_upstream({"bundle/configs/environment.yml": b"tensorflow==2.14\nredis==4.5\n"})
    with pytest.raises(CheckFailed) as refused:
        gate(simapp)
    assert "0002-environment-pins.patch: conflict in bundle/configs/environment.yml" in \
        refused.value.message
    assert "rebase-patches" in (refused.value.hint or "")


def test_drift_in_the_work_tree_is_refused_naming_each_file(simapp: Project):
    simapp.write("bundle/README.md", "edited by hand\n")
    with pytest.raises(CheckFailed, match=r"bundle/README.md \(modified\)"):
        gate(simapp)


def test_a_stopped_rebase_is_refused_before_anything_is_compared(simapp: Project):
    simapp.move_upstream({"bundle/configs/environment.yml": b"tensorflow==2.14\nredis==4.5\n"})
    assert simapp.run("rebase-patches").code == 1
    with pytest.raises(RebaseInProgress):
        gate(simapp)


def test_without_an_upstream_branch_there_is_nothing_to_render(simapp: Project):
    simapp.repo.references.delete("refs/heads/upstream")
    with pytest.raises(GitError, match="branch 'upstream' does not exist"):
        gate(simapp)


def test_a_gated_rendering_renders_every_declared_variant_in_memory(simapp: Project):
    workspace = Workspace.open(simapp.root)
    rendering = render_in_memory(workspace.repo, workspace.root, workspace.manifest, None)
    assert [variant.name for variant in rendering.variants] == ["cpu", "gpu"]
    assert {file.path for file in rendering.files} == {
        "docker/Dockerfile.cpu", "docker/Dockerfile.gpu", "docker-bake.json"}
    assert not list((simapp.root / "docker").glob("Dockerfile.*"))  # nothing written
    only = render_in_memory(workspace.repo, workspace.root, workspace.manifest, ["gpu"])
    assert [variant.name for variant in only.variants] == ["gpu"]
