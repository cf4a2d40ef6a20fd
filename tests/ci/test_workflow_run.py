"""The workflow `ci init` writes, run: its shell steps on this machine, against a real git
"origin", the built-in sample's archives as the upstream source and a stand-in for `gh` that
records what it is asked. The GitHub-hosted steps (checkout, setup-python, cache, upload) are
GitHub's own; the checkout is a real clone of the origin."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sync.ci.github import WorkflowOptions, render_workflow
from sync.cli import main
from sync.config.manifest import load_manifest
from tests.ci.runner import JobRun, environment, run_job
from tests.series.builders import git

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = {"secrets.GITHUB_TOKEN": "test-token",
           "github.event.repository.default_branch": "main",
           "github.server_url": "https://github.invalid", "github.repository": "community/simapp",
           "github.run_id": "42"}
FAKE_GH = """#!/bin/bash
# records each call; `pr view` finds no pull request; `pr create` keeps the body it was given
printf '%s\\n' "$*" >> "$GH_LOG"
if [ "$1 $2" = "pr view" ]; then exit 1; fi
while [ $# -gt 0 ]; do
  if [ "$1" = "--body-file" ]; then cp "$2" "$GH_BODY"; fi
  shift
done
"""


class Community:
    """The community repository at upstream v1, its origin, and a CI checkout of it."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp = tmp_path
        assert main(["demo", "--keep", str(tmp_path / "demo"), "--json"]) == 0
        capsys.readouterr()
        self.seed = tmp_path / "demo" / "simapp"
        self.archive = tmp_path / "demo" / "images" / "simapp-v2.docker.tar"
        # back to the evening before: the manifest follows v2, nothing of v2 pulled yet
        follow = git(self.seed, "log", "--format=%H", "--grep=^Follow upstream v2$").strip()
        git(self.seed, "reset", "-q", "--hard", follow)
        git(self.seed, "branch", "-f", "upstream", "upstream~1")
        git(self.seed, "for-each-ref", "--format=delete %(refname)", "refs/simapp-sync/")
        self.origin = tmp_path / "origin.git"
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        (self.bin / "python").symlink_to(sys.executable)
        (self.bin / "gh").write_text(FAKE_GH)
        (self.bin / "gh").chmod(0o755)

    def publish(self) -> Path:
        """The origin (bare) and the job's checkout of it."""
        git(self.tmp, "clone", "-q", "--bare", str(self.seed), str(self.origin))
        checkout = self.tmp / "checkout"
        git(self.tmp, "clone", "-q", str(self.origin), str(checkout))
        return checkout

    def run(self, checkout: Path) -> JobRun:
        workflow = self.tmp / "simapp-sync.yml"
        manifest = load_manifest(checkout / "upstream-manifest.yaml")
        workflow.write_text(render_workflow(manifest, WorkflowOptions(
            source=f"docker-archive:{self.archive}")))
        temp = self.tmp / "runner-temp"
        temp.mkdir(exist_ok=True)
        env = {**environment(self.bin, ROOT), "GH_LOG": str(self.tmp / "gh.log"),
               "GH_BODY": str(self.tmp / "body.md")}
        env.pop("NO_COLOR", None)
        return run_job(workflow, "upstream", checkout, CONTEXT, env=env, temp=temp,
                       skip=("Install simapp-sync",))

    def gh_calls(self) -> list[str]:
        return (self.tmp / "gh.log").read_text().splitlines()

    def body(self) -> str:
        return (self.tmp / "body.md").read_text()


@pytest.fixture
def community(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Community:
    return Community(tmp_path, capsys)


def test_a_new_upstream_becomes_a_pull_request_whose_body_is_the_report(community: Community):
    checkout = community.publish()
    job = community.run(checkout)

    assert job.outputs["check"] == {"outdated": "true", "tag": "v2", "new": job.outputs[
        "check"]["new"]} and job.outputs["check"]["new"].startswith("sha256:")
    assert job.outputs["rebase"] == {"conflict": "false"}
    assert job.ran == ["Configure git", "Is there a new upstream image?",
                       "Pull the new upstream image", "Rebase the patch series",
                       "Render the Dockerfiles", "Write the review",
                       "Open or update the pull request"]
    # the origin got the upstream branch and the pull request's branch
    upstream = git(community.origin, "log", "-1", "--format=%B", "upstream")
    assert "Upstream-Image: sample.local/deepracer-sim-public:v2" in upstream
    branch = "upstream-pr/v2"
    files = git(community.origin, "show", "--name-only", "--format=%s", branch).splitlines()
    assert files[0].startswith("Upstream v2 (sha256:") and files[0].endswith(
        ": rebase patches/ and render")
    assert "patches/series" in files and "docker/Dockerfile.cpu" in files
    series = git(community.origin, "show", f"{branch}:patches/series")
    assert f"# upstream: {git(community.origin, 'rev-parse', 'upstream').strip()}" in series
    # gh: looked for an open pull request, then opened one with the report as its body
    calls = community.gh_calls()
    assert calls[0].startswith(f"pr view {branch}")
    assert calls[1].startswith(f"pr create --base main --head {branch} --title Upstream v2 (")
    assert "--draft" not in calls[1]
    body = community.body()
    assert body.startswith("## simapp-sync review: the last rebase\n")
    assert "| 3 | `0003-tensorflow-2.13.patch` | merged (3-way) |" in body
    assert "[review.html](https://github.invalid/community/simapp/actions/runs/42)" in body
    assert (community.tmp / "runner-temp" / "review" / "review.html").exists()
    # the layer checkpoints were bundled for the cache
    assert (community.tmp / "runner-temp" / "simapp-sync-cache" / "layers.bundle").exists()

    # the next morning: nothing new, nothing done
    again = community.run(checkout)
    assert again.outputs["check"]["outdated"] == "false"
    assert again.ran == ["Configure git", "Is there a new upstream image?"]


def test_a_conflict_opens_a_draft_naming_the_conflicted_file(community: Community):
    environment_yml = community.seed / "bundle/configs/environment.yml"
    environment_yml.write_text(environment_yml.read_text().replace("numpy==1.23",
                                                                   "numpy==1.25"))
    assert main(["patches", "new", "0005-numpy-pin.patch", "-m", "Pin numpy 1.25",
                 "-C", str(community.seed)]) == 0
    git(community.seed, "add", "-A")
    git(community.seed, "commit", "-qm", "Pin numpy")
    checkout = community.publish()

    job = community.run(checkout)
    assert job.outputs["rebase"] == {"conflict": "true"}
    assert "Render the Dockerfiles" in job.skipped
    calls = community.gh_calls()
    assert calls[1].startswith("pr create --base main --head upstream-pr/v2 ")
    assert calls[1].endswith("--draft")
    body = community.body()
    assert "rebase-patches stopped at `0005-numpy-pin.patch`" in body
    assert "`bundle/configs/environment.yml`" in body
    subject = git(community.origin, "log", "-1", "--format=%s", "upstream-pr/v2").strip()
    assert subject.endswith(": rebase-patches stopped on a conflict")
    # the checkout was restored (--abort): no rebase left behind, no markers
    assert not (checkout / ".git/simapp-sync/rebase").exists()
    assert "<<<<<<<" not in (checkout / "bundle/configs/environment.yml").read_text()
    assert json.loads((community.tmp / "runner-temp" / "rebase.json").read_text())[
        "stopped_at"] == "0005-numpy-pin.patch"
