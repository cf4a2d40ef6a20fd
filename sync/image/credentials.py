"""Registry credentials from the user's Docker config, as ``docker login`` leaves them.

Looked up in this order, as the docker CLI does: ``credHelpers[registry]`` (runs
``docker-credential-NAME get``), then ``credsStore`` (the default helper), then ``auths``
(base64 ``user:password`` in ``auth``, or ``username``/``password`` fields). The config is
``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``. A secret never reaches a log
line, a message or an exception: ``Credentials`` hides it from ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.errors import ConfigError

log = logging.getLogger(__name__)

DOCKER_HUB_KEY = "https://index.docker.io/v1/"  # the key docker login uses for Docker Hub
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_HELPER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Credentials:
    """A user name and a secret (password or identity token); the secret never prints."""

    username: str
    secret: str = field(repr=False)
    identity_token: bool = False  # the secret is an OAuth2 refresh token ("<token>" user)


def config_path() -> Path:
    """Where the Docker config lives (``DOCKER_CONFIG`` is a directory, as for docker)."""
    directory = os.environ.get("DOCKER_CONFIG")
    return Path(directory) / "config.json" if directory else Path.home() / ".docker/config.json"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The Docker config as a dict; an absent file is an empty config."""
    path = path or config_path()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as error:
        raise ConfigError(f"{path}: cannot read the Docker config: {error}",
                          hint="fix or remove the file (docker login rewrites it)") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: the Docker config is not a JSON object",
                          hint="fix or remove the file (docker login rewrites it)")
    return document


def lookup(registry: str, config: dict[str, Any] | None = None) -> Credentials | None:
    """The credentials stored for ``registry`` ("host[:port]"), or None (anonymous)."""
    config = load_config() if config is None else config
    key = DOCKER_HUB_KEY if registry in DOCKER_HUB_HOSTS else registry
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict) and isinstance(helpers.get(registry), str):
        return _from_helper(helpers[registry], key)
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        found = _from_helper(store, key)
        if found is not None:
            return found
    auths = config.get("auths")
    if isinstance(auths, dict):
        for name, entry in auths.items():
            if _host_of(name) == _host_of(key) and isinstance(entry, dict):
                found = _from_auth_entry(entry, registry)
                if found is not None:
                    return found
    return None


def _host_of(key: str) -> str:
    """``https://host:5000/v1/`` and ``host:5000`` name the same registry."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in DOCKER_HUB_HOSTS else host


def _from_auth_entry(entry: dict[str, Any], registry: str) -> Credentials | None:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            username, colon, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ConfigError(f"{config_path()}: auths[{registry!r}].auth is not base64 "
                              "user:password", hint=f"run `docker login {registry}` again"
                              ) from None
        if colon:
            return Credentials(username, password)
    user, secret = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(secret, str) and user:
        return Credentials(user, secret)
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials("<token>", token, identity_token=True)
    return None


def _from_helper(name: str, key: str) -> Credentials | None:
    """Ask ``docker-credential-NAME``; "not found" (or a missing helper) means anonymous."""
    program = f"docker-credential-{name}"
    try:
        done = subprocess.run([program, "get"], input=key.encode(), capture_output=True,
                              timeout=_HELPER_TIMEOUT, check=False)
    except FileNotFoundError:
        log.warning("the Docker config names the credential helper %s, which is not installed; "
                    "going on without credentials", program)
        return None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{program} get did not answer within {_HELPER_TIMEOUT:.0f}s",
                          hint="unlock the credential store, then retry") from None
    if done.returncode != 0:
        # the helper protocol answers "credentials not found in native keychain" for none;
        # stderr/stdout are not shown: a broken helper might echo what it was given
        log.debug("%s get: exit %d (no credentials)", program, done.returncode)
        return None
    try:
        answer = json.loads(done.stdout)
        username, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ConfigError(f"{program} get answered something that is not credentials JSON",
                          hint=f"check the helper with `echo {key} | {program} get`") from None
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    if username == "<token>":
        return Credentials(username, secret, identity_token=True)
    return Credentials(username, secret)
