"""VERSION: one line, usable as an image tag prefix; anything else names the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config.version import read_version, read_version_info
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


def test_the_json_form_gives_simapp_as_the_version_and_keeps_the_whole_mapping(tmp_path: Path):
    path = tmp_path / "VERSION"
    path.write_text('{"simapp": "6.0.5", "deepracer-on-aws": "v1.2.4"}\n')
    info = read_version_info(path)
    assert info.version == "6.0.5" == read_version(path)
    assert info.info == {"simapp": "6.0.5", "deepracer-on-aws": "v1.2.4"}
    path.write_text("5.3.3\n")
    assert read_version_info(path).info == {"simapp": "5.3.3"}


def test_bad_json_or_a_missing_simapp_names_version(tmp_path: Path):
    path = tmp_path / "VERSION"
    for bad, message in (('{"simapp": "6.0.5",\n', r"VERSION:\d+: not valid JSON"),
                         ('{"deepracer-on-aws": "v1.2.4"}', r"VERSION: no 'simapp' string"),
                         ('{"simapp": 6}', r"VERSION: no 'simapp' string"),
                         ('{"simapp": "6.0 beta"}', r"VERSION: simapp '6.0 beta' is not usable")):
        path.write_text(bad)
        with pytest.raises(ConfigError, match=message):
            read_version_info(path)
