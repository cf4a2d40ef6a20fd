"""The GitHub Actions workflow `sync ci init` writes: valid for GitHub, least privilege, and
the steps of the upstream story in order. Both validators run for real (see validators.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sync.ci.github import WorkflowOptions, render_workflow
from sync.config.manifest import Manifest, PathMapping
from sync.errors import ConfigError
from tests.ci.validators import actionlint, check_jsonschema

MANIFEST = Manifest(image="public.ecr.aws/k1d3r4z1/deepracer-sim-public", tag="latest",
                    digest=None, platform="linux/amd64", branch="upstream",
                    paths=(PathMapping("/opt/amazon", "bundle"),))


def workflow(options: WorkflowOptions | None = None) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(render_workflow(MANIFEST, options or
                                                              WorkflowOptions()))
    return document


def steps() -> list[dict[str, Any]]:
    return list(workflow()["jobs"]["upstream"]["steps"])


def scripts() -> str:
    return "\n".join(step.get("run", "") for step in steps())


def test_it_passes_the_github_workflow_schema_and_actionlint(tmp_path: Path) -> None:
    path = tmp_path / "simapp-sync.yml"
    path.write_text(render_workflow(MANIFEST, WorkflowOptions(cron="0 3 * * 1")))
    checked = check_jsonschema(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert actionlint(path) == []


def test_the_validators_really_run_and_reject_a_broken_workflow(tmp_path: Path) -> None:
    broken = render_workflow(MANIFEST, WorkflowOptions()).replace(
        "runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    permissions: lots")
    broken = broken.replace("steps.check.outputs.outdated", "steps.nope.outputs.outdated", 1)
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    assert check_jsonschema(path).returncode != 0
    messages = " ".join(finding["message"] for finding in actionlint(path))
    assert "nope" in messages


def test_it_runs_daily_and_on_demand() -> None:
    triggers = workflow(WorkflowOptions(cron="5 4 * * *"))[True]  # YAML 1.1 reads `on` as True
    assert triggers["schedule"] == [{"cron": "5 4 * * *"}]
    assert "workflow_dispatch" in triggers


def test_it_asks_for_the_least_permissions() -> None:
    document = workflow()
    assert document["permissions"] == {"contents": "read"}
    assert document["jobs"]["upstream"]["permissions"] == {"contents": "write",
                                                           "pull-requests": "write"}
    assert document["jobs"]["upstream"]["env"]["GH_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"


def test_the_steps_follow_the_upstream_story_in_order() -> None:
    text = scripts()
    order = ["pip install", "pull --check", "sync pull --from", "rebase-patches --json",
             "sync render", "sync report --format html", "sync report --format md",
             "gh pr create"]
    positions = [text.index(word) for word in order]
    assert positions == sorted(positions)
    uses = [step.get("uses", "") for step in steps()]
    assert uses[:2] == ["actions/checkout@v4", "actions/setup-python@v5"]


def test_later_steps_run_only_when_upstream_moved() -> None:
    after_check = steps()[steps().index(next(s for s in steps() if s.get("id") == "check")) + 1:]
    assert after_check and all("steps.check.outputs.outdated == 'true'" in step["if"]
                               for step in after_check)
    render = next(step for step in steps() if step.get("name") == "Render the Dockerfiles")
    assert "steps.rebase.outputs.conflict == 'false'" in render["if"]


def test_the_pull_request_branch_and_body() -> None:
    text = scripts()
    job_env = workflow()["jobs"]["upstream"]["env"]
    assert job_env["PR_PREFIX"] == "upstream-pr/"  # upstream/<tag> cannot sit beside `upstream`
    assert 'branch="$PR_PREFIX$TAG"' in text
    assert '--body-file "$RUNNER_TEMP/report.md"' in text
    assert "gh pr edit" in text  # a second run updates the same pull request


def test_a_conflict_opens_a_draft_naming_the_files() -> None:
    text = scripts()
    # the review is written while the stopped rebase still holds the conflicted files
    assert text.index("sync report --format md") < text.index("rebase-patches --abort")
    assert 'draft=(--draft)' in text and "gh pr ready" in text


def test_the_layer_checkpoints_are_cached_between_runs() -> None:
    cached = [step for step in steps() if step.get("uses", "").startswith("actions/cache/")]
    assert [step["uses"] for step in cached] == ["actions/cache/restore@v4",
                                                 "actions/cache/save@v4"]
    assert all(step["with"]["path"] == "${{ runner.temp }}/simapp-sync-cache"
               for step in cached)
    assert "--glob=refs/simapp-sync/layers" in scripts()
    assert "refs/simapp-sync/layers/*:refs/simapp-sync/layers/*" in scripts()


@pytest.mark.parametrize("index", range(len(steps())))
def test_every_script_is_valid_bash(index: int) -> None:
    script = steps()[index].get("run")
    if script is None:
        assert "uses" in steps()[index]
        return
    checked = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stderr


def test_values_are_filled_in_and_checked() -> None:
    text = render_workflow(MANIFEST, WorkflowOptions(source="docker-daemon:", python="3.12",
                                                     install="simapp-sync==1.2.3"))
    assert 'SOURCE: "docker-daemon:"' in text and 'python-version: "3.12"' in text
    assert 'pip install "simapp-sync==1.2.3"' in text and "@" + "cron@" not in text
    with pytest.raises(ConfigError, match="five-field"):
        render_workflow(MANIFEST, WorkflowOptions(cron="daily"))
    with pytest.raises(ConfigError, match="--install"):
        render_workflow(MANIFEST, WorkflowOptions(install='x"; rm -rf /'))
