"""Registry credentials from the Docker config: helpers, the default store, auths, as docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.image import credentials
from tests.image.registries import install_helper


def test_credential_lookup_order_and_fallbacks(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    install_helper(tmp_path, monkeypatch, "store", {"reg.example": ("from-store", "p1")})
    config = {"credsStore": "store", "credHelpers": {"other.example": "missing-helper"},
              "auths": {"auth.example": {"auth": "dXNlcjpwYXNz"},
                        "https://index.docker.io/v1/": {"username": "hub", "password": "p3"}}}

    assert credentials.lookup("reg.example", config) == credentials.Credentials("from-store", "p1")
    assert credentials.lookup("auth.example", config) == credentials.Credentials("user", "pass")
    assert credentials.lookup("registry-1.docker.io", config) == credentials.Credentials(
        "hub", "p3")
    assert credentials.lookup("other.example", config) is None  # helper not installed
    assert credentials.lookup("nowhere.example", config) is None
    assert "p1" not in repr(credentials.lookup("reg.example", config))
