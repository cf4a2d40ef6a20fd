"""The repository the git adapter's tests work in: a fresh one per test (``repo_dir``)."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest


@pytest.fixture
def repo(repo_dir: Path) -> pygit2.Repository:
    return pygit2.Repository(str(repo_dir))
