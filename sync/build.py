"""Building and pushing images through the Docker SDK, against the engine at ``DOCKER_HOST``.

The engine reports failures inside successful HTTP responses (``error``/``errorDetail``
events), so every event of the build and push streams is checked. The output of the step that
is running is kept (its last lines only, memory stays bounded) to name it when it fails.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import docker
import docker.errors

from sync.errors import BuildError

STEP_PATTERN = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
ANSI_PATTERN = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # the engine colours a step's stderr
# the classic builder's own bookkeeping between a step's real output lines
BOOKKEEPING = re.compile(r"^( ---> |Removing intermediate container |Successfully tagged )")
OUTPUT_TAIL = 30  # lines of a failed step's output shown in the error
PING_TIMEOUT = 15  # seconds: an engine that does not answer this fast is not there
# docker-py has one timeout for connecting and for each read of the stream, and a build step
# (a long compile) may print nothing for many minutes
STREAM_TIMEOUT = 3 * 3600
DEFAULT_HOST_HINT = "start the Docker Engine (e.g. `sudo systemctl start docker`), or point " \
                    "DOCKER_HOST at a running one"


@dataclass(frozen=True)
class BuildRequest:
    """One image to build: the context folder, the Dockerfile in it, the tag and build args."""

    context: Path
    dockerfile: str  # relative to ``context``
    tag: str  # repository:tag
    buildargs: Mapping[str, str] = field(default_factory=dict)
    platform: str | None = None


class BuildProgress(Protocol):
    """Receives the steps of a build as the engine reports them."""

    def step(self, number: int, total: int, instruction: str) -> None: ...

    def output(self, line: str) -> None: ...


class PushProgress(Protocol):
    """Receives the bytes pushed so far, summed over layers (``total`` None while unknown)."""

    def pushed(self, current: int, total: int | None) -> None: ...


def engine_address() -> str:
    """Where the SDK will connect, for messages."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect() -> docker.DockerClient:
    """A client for the engine at ``DOCKER_HOST`` (or the default socket), checked with a ping."""
    try:
        probe = docker.from_env(timeout=PING_TIMEOUT)
        try:
            probe.ping()
        finally:
            probe.close()
        return docker.from_env(timeout=STREAM_TIMEOUT)
    except (docker.errors.DockerException, OSError) as error:
        raise BuildError(f"cannot reach the Docker Engine at {engine_address()}: {error}",
                         hint=DEFAULT_HOST_HINT) from None


def build_image(client: docker.DockerClient, request: BuildRequest,
                progress: BuildProgress) -> str:
    """Build ``request`` and return the image id; a failed step is a ``BuildError`` naming it."""
    try:
        events = client.api.build(
            path=str(request.context), dockerfile=request.dockerfile, tag=request.tag,
            buildargs=dict(request.buildargs), platform=request.platform, rm=True, forcerm=True,
            pull=False, decode=True)
        return _follow_build(events, request, progress)
    except docker.errors.APIError as error:
        raise BuildError(f"{request.dockerfile}: the engine refused the build: "
                         f"{error.explanation or error}") from None
    except (docker.errors.DockerException, OSError) as error:
        raise BuildError(f"{request.dockerfile}: lost the Docker Engine at {engine_address()} "
                         f"while building: {error}", hint=DEFAULT_HOST_HINT) from None


def _follow_build(events: Iterable[dict[str, Any]], request: BuildRequest,
                  progress: BuildProgress) -> str:
    step: tuple[int, int, str] | None = None
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL)
    image_id: str | None = None
    for line, event in _build_lines(events):
        if event is not None:  # an error or aux event
            if "error" in event or "errorDetail" in event:
                raise _step_failed(request, step, tail, _event_error(event))
            aux = event.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
            continue
        match = STEP_PATTERN.match(line)
        if match:
            step = (int(match[1]), int(match[2]), match[3])
            tail.clear()
            progress.step(*step)
        elif line.startswith("Successfully built "):
            image_id = image_id or line.split()[-1]
        elif not BOOKKEEPING.match(line):
            tail.append(line)
            progress.output(line)
    if image_id is None:
        raise BuildError(f"{request.dockerfile}: the engine ended the build without an image id",
                         hint="\n".join(tail) or None)
    return image_id


def _build_lines(events: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """Whole output lines (the engine splits them arbitrarily), and the non-output events."""
    pending = ""
    for event in events:
        text = event.get("stream")
        if isinstance(text, str):
            pending += text
            *complete, pending = pending.split("\n")
            for line in complete:
                if _clean(line):
                    yield _clean(line), None
            continue
        if _clean(pending):
            yield _clean(pending), None
        pending = ""
        yield "", event
    if _clean(pending):
        yield _clean(pending), None


def _clean(line: str) -> str:
    """The line without colour escapes and trailing blanks; "" when nothing is left."""
    return ANSI_PATTERN.sub("", line).rstrip()


def _step_failed(request: BuildRequest, step: tuple[int, int, str] | None, tail: Iterable[str],
                 error: str) -> BuildError:
    where = f"step {step[0]}/{step[1]} `{step[2]}`" if step else "before the first step"
    output = "\n".join(f"  | {line}" for line in tail)
    message = f"{request.dockerfile}: {where} failed: {error}"
    if output:
        message += f"\n  output of the step (last {OUTPUT_TAIL} lines at most):\n{output}"
    return BuildError(message, hint=f"fix the step, then build again ({request.tag})")


def push_image(client: docker.DockerClient, tag: str, progress: PushProgress) -> str:
    """Push ``tag`` (repository:tag) and return the manifest digest the registry reports."""
    repository, _, name = tag.rpartition(":")
    layers: dict[str, tuple[int, int | None]] = {}
    digest: str | None = None
    try:
        for event in client.api.push(repository, tag=name, stream=True, decode=True):
            if "error" in event or "errorDetail" in event:
                raise BuildError(f"pushing {tag} failed: {_event_error(event)}",
                                 hint="check that you are logged in to the registry "
                                      "(docker login) and may push there")
            detail = event.get("progressDetail") or {}
            if event.get("id") and isinstance(detail, dict) and "current" in detail:
                layers[str(event["id"])] = (int(detail["current"]), detail.get("total"))
                totals = [total for _, total in layers.values()]
                known = None if any(total is None for total in totals) else sum(
                    int(total) for total in totals if total is not None)
                progress.pushed(sum(current for current, _ in layers.values()), known)
            aux = event.get("aux")
            if isinstance(aux, dict) and "Digest" in aux:
                digest = str(aux["Digest"])
    except docker.errors.APIError as error:
        raise BuildError(f"pushing {tag} failed: {error.explanation or error}") from None
    except (docker.errors.DockerException, OSError) as error:
        raise BuildError(f"lost the Docker Engine at {engine_address()} while pushing {tag}: "
                         f"{error}", hint=DEFAULT_HOST_HINT) from None
    if digest is None:
        raise BuildError(f"pushing {tag}: the registry reported no digest")
    return digest


def _event_error(event: Mapping[str, Any]) -> str:
    detail = event.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"]).strip()
    return str(event.get("error", "unknown error")).strip()
