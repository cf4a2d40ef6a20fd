"""BuildKit builds through the docker CLI (the engine at DOCKER_HOST): stages, local outputs.

The Docker SDK speaks only the classic builder, which silently builds the host's architecture
for a foreign platform and cannot export a stage to a folder. The docker CLI with
``DOCKER_BUILDKIT=1`` drives the engine's BuildKit: Debian's ``docker.io`` (20.10) carries the
BuildKit client itself; a newer CLI needs its buildx plugin for it. ``find_cli`` picks one that
can (``SIMAPP_SYNC_DOCKER`` names one explicitly).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sync.errors import BuildError, ConfigError

CLI_VARIABLE = "SIMAPP_SYNC_DOCKER"
_CANDIDATES = ("/usr/bin/docker", "/usr/local/bin/docker")


@dataclass(frozen=True)
class BuildKitRequest:
    """One ``docker build`` through BuildKit."""

    context: Path
    dockerfile: Path
    target: str | None = None
    output: Path | None = None  # a local folder (type=local) instead of an image
    tag: str | None = None
    platform: str | None = None
    network: str | None = None  # RUN steps' network ("none", "host"; default: the engine's)
    buildargs: Mapping[str, str] = field(default_factory=dict)


def _can_buildkit(cli: str) -> bool:
    """Whether ``cli`` builds with BuildKit: a buildx plugin, or a client older than 23."""
    try:
        plugin = subprocess.run([cli, "buildx", "version"], capture_output=True, timeout=20)
        if plugin.returncode == 0:
            return True
        version = subprocess.run([cli, "--version"], capture_output=True, text=True,
                                 timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    number = version.split("version", 1)[-1].strip().split(".", 1)[0]
    return number.isdigit() and int(number) < 23


@cache
def find_cli() -> str:
    """The docker CLI to build with (``SIMAPP_SYNC_DOCKER``, else the first that can)."""
    chosen = os.environ.get(CLI_VARIABLE)
    if chosen:
        return chosen
    found = [path for path in (shutil.which("docker"), *_CANDIDATES) if path]
    for path in dict.fromkeys(found):
        if os.access(path, os.X_OK) and _can_buildkit(path):
            return path
    raise ConfigError("no docker CLI that builds with BuildKit",
                      hint="install Debian's docker.io (its CLI has BuildKit built in) or the "
                           f"buildx plugin, or name one in {CLI_VARIABLE}")


def build(request: BuildKitRequest) -> str:
    """Run the build; returns its log. A failure is a ``BuildError`` with the log's tail."""
    argv: list[str] = [find_cli(), "build", "--progress=plain", "-f", str(request.dockerfile)]
    if request.target:
        argv += ["--target", request.target]
    if request.platform:
        argv += ["--platform", request.platform]
    if request.tag:
        argv += ["-t", request.tag]
    if request.network:
        argv += ["--network", request.network]
    if request.output is not None:
        argv += ["--output", f"type=local,dest={request.output}"]
    for name, value in sorted(request.buildargs.items()):
        argv += ["--build-arg", f"{name}={value}"]
    argv.append(str(request.context))
    environment = {**os.environ, "DOCKER_BUILDKIT": "1"}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=environment)
    except OSError as error:
        raise BuildError(f"cannot run {argv[0]}: {error}") from None
    log = done.stdout + done.stderr
    if done.returncode != 0:
        raise BuildError(f"docker build{' --target ' + request.target if request.target else ''}"
                         f" failed (exit {done.returncode}):\n{_tail(log)}",
                         hint="the lines above are BuildKit's log")
    return log


def _tail(log: str, lines: int = 25) -> str:
    kept: Sequence[str] = log.rstrip().splitlines()[-lines:]
    return "\n".join(f"  {line}" for line in kept)
