"""VERSION: one line, usable as an image tag prefix; anything else names the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config.version import read_version
from sync.errors import ConfigError


def test_version_must_be_one_tag_friendly_line(tmp_path: Path):
    path = tmp_path / "VERSION"
    path.write_text("5.3.3\n")
    assert read_version(path) == "5.3.3"
    for bad in ("5.3.3 beta\n", "\n", "5.3.3\n5.3.4\n", "v/5\n"):
        path.write_text(bad)
        with pytest.raises(ConfigError, match=r"VERSION:1: .* is not a version"):
            read_version(path)
    path.unlink()
    with pytest.raises(ConfigError, match="VERSION: not found"):
        read_version(path)
