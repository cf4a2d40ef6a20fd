"""`sync ci init`: writes the workflow once, keeps a file edited by hand, says what to do next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.cli import main
from tests.ci.validators import actionlint, check_jsonschema

WORKFLOW = Path(".github/workflows/simapp-sync.yml")


@pytest.fixture
def project(repo_dir: Path) -> Path:
    (repo_dir / "upstream-manifest.yaml").write_text(
        "image: public.ecr.aws/k1d3r4z1/deepracer-sim-public\ntag: latest\n"
        "platform: linux/amd64\nbranch: upstream\npaths:\n"
        "  - source: /opt/amazon\n    target: bundle\n")
    return repo_dir


def test_init_writes_a_valid_workflow(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ci", "init", "-C", str(project)]) == 0
    out, err = capsys.readouterr()
    assert f"{WORKFLOW}: written" in out and 'pip install "simapp-sync"' in out
    assert "create pull requests" in err and "--install 'simapp-sync @ git+URL'" in err
    path = project / WORKFLOW
    assert check_jsonschema(path).returncode == 0
    assert actionlint(path) == []


def test_init_again_is_a_no_op(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ci", "init", "-C", str(project), "--provider", "github"]) == 0
    capsys.readouterr()
    assert main(["ci", "init", "-C", str(project)]) == 0
    assert "already up to date" in capsys.readouterr().out


def test_a_file_edited_by_hand_is_kept_unless_forced(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ci", "init", "-C", str(project)]) == 0
    path = project / WORKFLOW
    path.write_text(path.read_text() + "# local edit\n")
    assert main(["ci", "init", "-C", str(project), "--cron", "0 6 * * 1"]) == 2
    assert "--force" in capsys.readouterr().err
    assert path.read_text().endswith("# local edit\n")
    assert main(["ci", "init", "-C", str(project), "--cron", "0 6 * * 1", "--force"]) == 0
    assert '- cron: "0 6 * * 1"' in path.read_text()


def test_print_and_json_write_nothing_else(project: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ci", "init", "-C", str(project), "--print"]) == 0
    assert "name: simapp-sync upstream" in capsys.readouterr().out
    assert not (project / WORKFLOW).exists()
    assert main(["ci", "init", "-C", str(project), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["written"] is True and report["path"].endswith(str(WORKFLOW))


def test_bad_values_are_exit_2_and_nothing_is_written(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ci", "init", "-C", str(project), "--cron", "every day"]) == 2
    assert "five-field" in capsys.readouterr().err
    assert main(["ci", "init", "-C", str(project), "--provider", "gitlab"]) == 2
    assert not (project / WORKFLOW).exists()
