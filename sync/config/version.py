"""VERSION: the community version, validated once when read (it prefixes image tags).

Two forms are accepted: one plain line (``5.3.3``), or the JSON mapping the community uses now
(``{"simapp": "6.0.5", "deepracer-on-aws": "v1.2.4"}``), whose ``simapp`` entry is the version.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.errors import ConfigError

VERSION_NAME = "VERSION"
VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,100}$")  # also a valid tag prefix
VERSION_KEY = "simapp"


@dataclass(frozen=True)
class VersionInfo:
    """The version tags and labels use, and the whole mapping (``{"simapp": version}`` if plain)."""

    version: str
    info: dict[str, Any] = field(default_factory=dict)


def read_version(path: Path) -> str:
    """The community version in ``path`` (e.g. ``5.3.3``, or the JSON form's ``simapp``)."""
    return read_version_info(path).version


def read_version_info(path: Path) -> VersionInfo:
    """``path`` read and checked: a plain line, or a JSON object with a ``simapp`` string."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found",
                          hint="create it with the community version, e.g. `echo 5.3.3 > VERSION`"
                          ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    if text.lstrip().startswith("{"):
        return _json_version(path, text)
    lines = text.splitlines()
    version = lines[0].strip() if lines else ""
    if not VERSION_PATTERN.fullmatch(version) or any(line.strip() for line in lines[1:]):
        raise ConfigError(f"{path}:1: {version!r} is not a version usable in an image tag",
                          hint="one line of letters, digits, '.', '_' and '-', e.g. 5.3.3, "
                               'or JSON such as {"simapp": "6.0.5"}')
    return VersionInfo(version, {VERSION_KEY: version})


def _json_version(path: Path, text: str) -> VersionInfo:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}: not valid JSON: {error.msg}",
                          hint='e.g. {"simapp": "6.0.5", "deepracer-on-aws": "v1.2.4"}') from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: the JSON form must be an object",
                          hint='e.g. {"simapp": "6.0.5"}')
    version = document.get(VERSION_KEY)
    if not isinstance(version, str):
        raise ConfigError(f"{path}: no {VERSION_KEY!r} string in the JSON object",
                          hint=f'add e.g. "{VERSION_KEY}": "6.0.5"; tags and labels use it')
    if not VERSION_PATTERN.fullmatch(version):
        raise ConfigError(f"{path}: {VERSION_KEY} {version!r} is not usable in an image tag",
                          hint="letters, digits, '.', '_' and '-', e.g. 6.0.5")
    return VersionInfo(version, document)
