"""VERSION: the community version, one line, validated once when read (it prefixes image tags)."""

from __future__ import annotations

import re
from pathlib import Path

from sync.errors import ConfigError

VERSION_NAME = "VERSION"
VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,100}$")  # also a valid tag prefix


def read_version(path: Path) -> str:
    """The community version in ``path`` (one line, e.g. ``5.3.3``)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found",
                          hint="create it with the community version, e.g. `echo 5.3.3 > VERSION`"
                          ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    version = lines[0].strip() if lines else ""
    if not VERSION_PATTERN.fullmatch(version) or any(line.strip() for line in lines[1:]):
        raise ConfigError(f"{path}:1: {version!r} is not a version usable in an image tag",
                          hint="one line of letters, digits, '.', '_' and '-', e.g. 5.3.3")
    return version
