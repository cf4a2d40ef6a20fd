"""Test isolation shared by every test: no user git config, no colour, a fixed width."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.docker_services"]


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test sees an empty HOME and git config, and plain, fixed-width output."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Maintainer")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "maintainer@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Maintainer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "maintainer@example.com")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    for name in [name for name in os.environ if name.startswith("SIMAPP_SYNC_REGISTRY_")]:
        monkeypatch.delenv(name)  # the registry limits: defaults unless a test sets them
    yield


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    """An empty git repository with one commit on main, as a maintainer's checkout would be."""
    import pygit2

    path = tmp_path / "repo"
    repo = pygit2.init_repository(str(path), initial_head="main")
    signature = pygit2.Signature("Test Maintainer", "maintainer@example.com", 1700000000, 0)
    tree = repo.TreeBuilder().write()
    repo.create_commit("refs/heads/main", signature, signature, "init", tree, [])
    return path
