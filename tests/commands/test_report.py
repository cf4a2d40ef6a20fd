"""`sync report`: the review of an upstream bump, with the same numbers as every other command.

One realistic bump drives most tests: upstream inserts a header (an offset), changes a line next
to a pin (a 3-way merge), adopts one community change (already upstream), edits a line a patch
also edits (a conflict, resolved by hand), and leaves one file alone (clean).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.commands.projects import AGENT, PatchSpec, Project, make_project

CONFIG = b"".join(b"setting_%d: %d\n" % (number, number) for number in range(1, 21))
UPSTREAM = {
    "src/markov/agent.py": AGENT,
    "configs/environment.yml": b"tensorflow==2.12\nredis==4.5\nnumpy==1.23\n",
    "README.md": b"upstream readme\n",
    "configs/track.yaml": CONFIG,
    "launch/racecar.launch": b"<launch>\n  <node name='agent'/>\n</launch>\n",
}
BUMP = {
    "bundle/src/markov/agent.py": b"# header\n" * 3 + AGENT,
    "bundle/configs/environment.yml": b"tensorflow==2.12\nredis==4.5\nnumpy==1.24\n",
    "bundle/README.md": b"community readme\n",
    "bundle/configs/track.yaml": CONFIG.replace(b"setting_10: 10", b"setting_10: upstream"),
    "bundle/NEW.md": b"new upstream file\n",
}
PATCHES = [
    PatchSpec("0001-agent-logging.patch", "Log every tenth step",
              {"bundle/src/markov/agent.py": AGENT.replace(b"line 20\n", b"line 20 logged\n")}),
    PatchSpec("0002-environment-pins.patch", "Pin TensorFlow 2.13",
              {"bundle/configs/environment.yml":
               b"tensorflow==2.13\nredis==4.5\nnumpy==1.23\n"}),
    PatchSpec("0003-readme.patch", "Community readme",
              {"bundle/README.md": b"community readme\n"}),
    PatchSpec("0004-track-setting.patch", "Longer track setting",
              {"bundle/configs/track.yaml": CONFIG.replace(b"setting_10: 10",
                                                           b"setting_10: community")}),
    PatchSpec("0005-launch-respawn.patch", "Respawn the agent",
              {"bundle/launch/racecar.launch":
               b"<launch>\n  <node name='agent' respawn='true'/>\n</launch>\n"}),
]
RESOLVED = CONFIG.replace(b"setting_10: 10", b"setting_10: upstream and community")


@pytest.fixture
def bumped(tmp_path: Path) -> Project:
    """The project after `pull` brought the bump: the series is not rebased yet."""
    simapp = make_project(tmp_path, UPSTREAM, PATCHES)
    simapp.move_upstream(BUMP)
    return simapp


def run_json(simapp: Project, *args: str, code: int = 0) -> dict[str, Any]:
    result = simapp.run(*args, "--json")
    assert result.code == code, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


def rebase_through_the_conflict(simapp: Project) -> tuple[dict[str, Any], dict[str, Any]]:
    """rebase-patches (stops at 0004), resolve by hand, --continue: both --json documents."""
    stopped = run_json(simapp, "rebase-patches", code=1)
    simapp.write("bundle/configs/track.yaml", RESOLVED)
    simapp.git("add", "bundle/configs/track.yaml")
    finished = run_json(simapp, "rebase-patches", "--continue")
    return stopped, finished


def rebase_rows(review: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows the rebase reported (the untried patches of a stopped rebase have none)."""
    return [{key: value for key, value in row["rebase"].items() if key != "status_text"}
            for row in review["patches"] if row["rebase"] is not None]


def by_name(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in name order (range-diff lists dropped patches last, the report in series order)."""
    return sorted(rows, key=lambda row: str(row["name"]))


# --- same numbers everywhere -------------------------------------------------------------------
def test_the_report_has_the_rebase_rows_and_the_range_diff_of_the_same_rebase(bumped: Project):
    _stopped, finished = rebase_through_the_conflict(bumped)
    review = run_json(bumped, "report")
    assert rebase_rows(review) == finished["patches"]
    assert [row["status"] for row in finished["patches"]] == [
        "offset", "merged", "absorbed", "resolved", "clean"]
    assert review["counts"] == dict(Counter(  # the absorbed patch left the series: dropped
        "dropped" if row["dropped"] else row["status"] for row in finished["patches"]))
    range_diff = run_json(bumped, "patches", "range-diff")
    assert by_name([row["range_diff"] for row in review["patches"]]) == \
        by_name(range_diff["patches"])
    assert review["series_before"] == range_diff["old"]


def test_the_same_numbers_once_the_rebase_is_committed(bumped: Project):
    _stopped, finished = rebase_through_the_conflict(bumped)
    assert bumped.run("render").code == 0
    bumped.commit_all("Rebase onto the new upstream")
    review = run_json(bumped, "report")
    assert rebase_rows(review) == finished["patches"]
    assert by_name([row["range_diff"] for row in review["patches"]]) == \
        by_name(run_json(bumped, "patches", "range-diff")["patches"])
    assert review["rendered"] == [  # the project never rendered before this bump
        {"path": path, "change": "added"}
        for path in ("docker-bake.json", "docker/Dockerfile.cpu", "docker/Dockerfile.gpu")]


def test_the_same_numbers_after_skip_and_drop_merged(bumped: Project):
    run_json(bumped, "rebase-patches", "--drop-merged", code=1)
    finished = run_json(bumped, "rebase-patches", "--skip")
    assert [(row["status"], row["dropped"]) for row in finished["patches"]] == [
        ("offset", False), ("merged", False), ("absorbed", True), ("skipped", True),
        ("clean", False)]
    review = run_json(bumped, "report")
    assert rebase_rows(review) == finished["patches"]
    assert review["counts"] == {"clean": 1, "offset": 1, "merged": 1, "dropped": 2}


def test_a_stopped_rebase_is_reported_from_its_state_with_the_untried_patches(bumped: Project):
    stopped = run_json(bumped, "rebase-patches", code=1)
    review = run_json(bumped, "report")
    assert rebase_rows(review) == stopped["patches"]  # rows up to and with the conflict
    assert review["stopped_at"] == "0004-track-setting.patch"
    assert review["conflicts"] == ["bundle/configs/track.yaml"]
    assert [row["status"] for row in review["patches"]] == [
        "offset", "merged", "dropped", "conflict", "not tried"]  # absorbed: to be removed
    untried = review["patches"][-1]
    assert (untried["name"], untried["files"], untried["added"], untried["removed"]) == (
        "0005-launch-respawn.patch", 1, 1, 1)
    markdown = bumped.run("report").out
    assert "rebase-patches stopped at `0004-track-setting.patch`" in markdown
    assert "`bundle/configs/track.yaml`" in markdown


# --- what the report says ----------------------------------------------------------------------
def test_both_images_and_the_upstream_changes_per_target(bumped: Project):
    base = bumped.repo.revparse_single("upstream~1").id
    rebase_through_the_conflict(bumped)
    review = run_json(bumped, "report")
    assert review["old"]["commit"] == str(base) and review["new"]["commit"] == bumped.upstream
    assert review["new"]["image"] == "public.ecr.aws/k1d3r4z1/deepracer-sim-public:latest"
    assert review["new"]["tag"] == "latest"
    assert review["new"]["digest"].startswith("sha256:5e0f")
    assert review["targets"] == [{"target": "bundle", "added": 1, "removed": 0, "changed": 4,
                                  "insertions": 7, "deletions": 3}]


def test_markdown_is_a_pr_body_with_a_table_and_interdiffs_in_details(bumped: Project):
    rebase_through_the_conflict(bumped)
    assert bumped.run("render").code == 0
    result = bumped.run("report", "--format", "md")
    assert result.code == 0, result.err
    text = result.out
    assert text.startswith("## simapp-sync review: the last rebase\n")
    assert "| 2 | `0002-environment-pins.patch` | merged (3-way) | 1 | +1 −1 |" in text
    assert "| 4 | `0004-track-setting.patch` | resolved | 1 | +1 −1 |" in text
    assert "<details><summary><code>0004-track-setting.patch</code>" in text
    assert "\n++setting_10: upstream and community\n" in text  # the interdiff, not the diff
    assert "| `bundle/` | 1 | 0 | 4 | +7 −3 |" in text
    assert "- `docker/Dockerfile.cpu` (added)" in text
    assert len(text) < 65_000


def test_output_file_and_html(bumped: Project, tmp_path: Path):
    rebase_through_the_conflict(bumped)
    target = tmp_path / "out" / "review.html"
    result = bumped.run("report", "--format", "html", "-o", str(target))
    assert result.code == 0, result.err
    assert f"{target}: the review of the last rebase (5 patches" in result.out
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>") and "0004-track-setting.patch" in page


def test_a_dry_run_between_two_upstream_commits(bumped: Project):
    review = run_json(bumped, "report", "--from", "upstream~1", "--to", "upstream")
    assert review["series_after"] == "dry run" and review["rendered"] is None
    assert [row["status"] for row in review["patches"]] == [
        "offset", "merged", "absorbed", "conflict", "not tried"]
    assert review["patches"][1]["range_diff"]["kind"] == "context"
    assert bumped.run("check").code == 0  # nothing was written


def test_from_without_to_is_a_usage_error(bumped: Project):
    result = bumped.run("report", "--from", "upstream~1")
    assert result.code == 2
    assert "--from and --to go together" in result.err
    assert bumped.run("report", "--from", "nope", "--to", "upstream").code == 2
