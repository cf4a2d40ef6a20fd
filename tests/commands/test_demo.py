"""`sync demo`: the README's first command runs the whole workflow, without Docker or network."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pygit2
import pytest

from sync.cli import main
from sync.git import repo as gitrepo
from sync.upstream import Upstream


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def row(out: str, patch: str) -> str:
    """The status column of ``patch`` in the last rebase table printed."""
    rows = re.findall(rf"^\s*\d+\s+{re.escape(patch)}\s+(.+?)\s{{2,}}", out, re.MULTILINE)
    assert rows, f"{patch} not in the output"
    return rows[-1]


def test_the_demo_runs_every_step_and_leaves_a_consistent_repository(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # not a git repository: the demo needs none
    code, out, err = run(capsys, "demo", "--keep", "kept")
    assert code == 0, err
    headings = re.findall(r"^\$ python -m sync (\S+(?: --check)?)", out, re.MULTILINE)
    assert headings == ["pull", "rebase-patches", "pull --check", "pull", "rebase-patches",
                        "render", "report", "report"]
    assert re.search(r"upstream sample.local/\S+:v1 → sample.local/\S+:v2: sha256:", out)
    # the rebase onto version 2 meets each interesting case once
    assert row(out, "0001-ros-log-dir.patch") == "clean"
    assert row(out, "0002-reward-scale.patch") == "offset +4"
    assert row(out, "0003-tensorflow-2.13.patch") == "merged (3-way)"
    assert row(out, "0004-respawn-agent.patch") == "absorbed (dropped)"
    assert "docker/Dockerfile.gpu" in out
    # the rendered result is shown: the images DeepRacer-for-Cloud would run
    assert "awsdeepracercommunity/deepracer-simapp:5.3.3-cpu  (docker/Dockerfile.cpu)" in out
    assert "stage simapp   FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu20.04" in out
    assert 'WORKDIR /opt/simapp  ENTRYPOINT ["/bin/bash", "-c"]' in out
    assert 'CMD ["./run.sh run distributed_training.launch"]  LABEL version=5.3.3' in out

    root = tmp_path / "kept" / "simapp"
    repo = pygit2.Repository(str(root))
    assert repo.status() == {}  # every step was committed
    tip = gitrepo.branch_tip(repo, "upstream")
    assert tip is not None and tip.message.startswith("Upstream sample.local/")
    assert ":v2" in tip.message and ":v1" in tip.parents[0].message
    record = Upstream.of(tip)
    assert record.has_record and record.image_id is not None
    dockerfile = (root / "docker/Dockerfile.cpu").read_text()
    assert f'upstream.image-id="{record.image_id}"' in dockerfile
    assert f'upstream.commit="{tip.id}"' in dockerfile
    # the kept repository passes the same gate and check that CI runs
    code, out, err = run(capsys, "render", "--check", "-C", str(root))
    assert code == 0, err
    assert "up to date" in out
    # and the review of the bump, beside the repository
    review = (tmp_path / "kept" / "review.md").read_text()
    assert "| 3 | `0003-tensorflow-2.13.patch` | merged (3-way) |" in review
    assert "0004-respawn-agent.patch" in (tmp_path / "kept" / "review.html").read_text()


def test_without_keep_nothing_is_left_behind(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, out, err = run(capsys, "demo")
    assert code == 0, err
    assert "demo finished in" in out
    assert list(tmp_path.iterdir()) == []


def test_json_mode_prints_one_summary_document(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]):
    code, out, err = run(capsys, "demo", "--json", "--keep", str(tmp_path / "kept"))
    assert code == 0, err
    document = json.loads(out)
    assert document["kept"] is True and document["exit_code"] == 0
    assert document["directory"] == str(tmp_path / "kept" / "simapp")
    assert [step["exit_code"] for step in document["steps"]] == [0] * 8


def test_keep_refuses_a_folder_that_is_not_empty(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]):
    (tmp_path / "precious.txt").write_text("mine\n")
    code, _out, err = run(capsys, "demo", "--keep", str(tmp_path))
    assert code == 2
    assert "exists and is not an empty folder" in " ".join(err.split())
    assert [path.name for path in tmp_path.iterdir()] == ["precious.txt"]
