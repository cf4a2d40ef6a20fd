"""The command line: exit codes, --json discipline, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sync.cli import main


def test_version_and_help_exit_zero(capsys: pytest.CaptureFixture[str]):
    assert main(["--version"]) == 0
    assert "simapp-sync" in capsys.readouterr().out
    assert main(["pull", "--help"]) == 0
    assert "--from" in capsys.readouterr().out


def test_usage_errors_exit_two(capsys: pytest.CaptureFixture[str]):
    assert main(["no-such-command"]) == 2
    assert main(["pull", "--max-file-size", "lots"]) == 2
    assert "invalid size" in capsys.readouterr().err


def test_outside_a_repository_is_exit_two_with_a_hint(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]):
    assert main(["pull", "-C", str(tmp_path), "--from", "docker-archive:x.tar"]) == 2
    captured = capsys.readouterr()
    assert "not inside a git repository" in captured.err
    assert "git init" in captured.err
    assert "Traceback" not in captured.err


def test_json_mode_keeps_stdout_parseable_on_errors(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]):
    assert main(["pull", "--json", "-C", str(tmp_path)]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 2
    assert "not inside a git repository" in document["error"]


def test_a_bad_manifest_is_exit_two_naming_the_line(repo_dir: Path,
                                                    capsys: pytest.CaptureFixture[str]):
    (repo_dir / "upstream-manifest.yaml").write_text("image: x/y\npaths: 3\n")
    assert main(["pull", "-C", str(repo_dir), "--from", "docker-archive:x.tar"]) == 2
    assert "upstream-manifest.yaml:2: paths: must be a list" in capsys.readouterr().err


def test_an_unknown_transport_is_a_config_error(repo_dir: Path,
                                                capsys: pytest.CaptureFixture[str]):
    (repo_dir / "upstream-manifest.yaml").write_text(
        "image: x/y\npaths: [{source: /opt/a, target: a}]\n")
    assert main(["pull", "-C", str(repo_dir), "--from", "ftp://x"]) == 2
    assert "unknown transport" in capsys.readouterr().err


def test_python_dash_m_sync_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "sync", "--version"], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0
    assert result.stdout.startswith("simapp-sync ")
