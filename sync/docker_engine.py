"""The one place that talks to the Docker SDK: the engine at DOCKER_HOST, its streams, its errors.

Everything else in ``sync/`` reaches the engine through these functions and never imports
``docker``. The SDK's exceptions (and the HTTP library's below it) become ``EngineError``s here:
``EngineNotFound`` (the engine has no such image, container or path), ``EngineRefused`` (it
answered with an error) and ``EngineUnreachable`` (it is not there, or went away), so that the
callers can say in their own words what failed.

Builds and pushes are followed here too: the engine reports failures inside successful HTTP
responses (``error``/``errorDetail`` events), so every event of those streams is checked, and the
output of the step that is running is kept (its last lines only, memory stays bounded) to name it
when it fails.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import docker
import docker.errors
import docker.utils
import requests
import urllib3.exceptions
from docker.utils.build import exclude_paths

from sync.errors import BuildError, SyncError

Client: TypeAlias = docker.DockerClient  # a connection to the engine

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


# --- errors ------------------------------------------------------------------------------------


class EngineError(SyncError):
    """The engine failed a request; ``explanation`` is the engine's (or the transport's) words."""

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


class EngineRefused(EngineError):
    """The engine answered a request with an error."""


class EngineNotFound(EngineRefused):
    """The engine has no such image, container or path."""


class EngineUnreachable(EngineError):
    """The engine is not there, or the connection to it broke off."""


@contextmanager
def _translated() -> Iterator[None]:
    """The SDK's and the transport's exceptions, as ``EngineError``s."""
    try:
        yield
    except docker.errors.NotFound as error:
        raise EngineNotFound(_explanation(error)) from None
    except docker.errors.APIError as error:
        raise EngineRefused(_explanation(error)) from None
    except (docker.errors.DockerException, requests.RequestException,
            urllib3.exceptions.HTTPError, OSError) as error:
        raise EngineUnreachable(str(error)) from None


def _stream(events: Iterable[Any]) -> Iterator[Any]:
    """``events`` (a lazy HTTP stream), with its failures translated as they happen."""
    with _translated():
        yield from events


def _explanation(error: docker.errors.APIError) -> str:
    explanation = error.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return str(explanation or error)


# --- connecting --------------------------------------------------------------------------------


def engine_address() -> str:
    """Where the SDK will connect, for messages."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(*, ping: bool = False, timeout: int | None = None) -> Client:
    """A client for the engine named by ``DOCKER_HOST`` (or the default socket).

    With ``ping``, the engine must answer within ``PING_TIMEOUT`` first. ``timeout`` (seconds)
    bounds each read; None keeps the SDK's default.
    """
    with _translated():
        if ping:
            probe = docker.from_env(timeout=PING_TIMEOUT)
            try:
                probe.ping()
            finally:
                probe.close()
        return docker.from_env() if timeout is None else docker.from_env(timeout=timeout)


# --- images and containers ---------------------------------------------------------------------


def pull_events(client: Client, image: str, tag: str, platform: str) -> Iterator[dict[str, Any]]:
    """The engine's decoded progress events while it pulls ``image:tag`` (or ``image@digest``)."""
    with _translated():
        events = client.api.pull(image, tag=tag, platform=platform, stream=True, decode=True)
    return _stream(events)


def inspect_image(client: Client, reference: str) -> dict[str, Any]:
    """The engine's description of an image (``Id``, ``Os``, ``RepoDigests``, ...)."""
    with _translated():
        return dict(client.api.inspect_image(reference))


def inspect_distribution(client: Client, reference: str) -> dict[str, Any]:
    """What the registry serves for ``reference``, asked through the engine: only the manifest
    is fetched, no layer, and nothing is stored in the engine."""
    with _translated():
        return dict(client.api.inspect_distribution(reference))


def create_container(client: Client, image_id: str, *, command: list[str],
                     labels: Mapping[str, str], platform: str) -> str:
    """Create (never start) a container without network; return its id."""
    options: dict[str, Any] = {}
    with _translated():
        if docker.utils.version_gte(client.api.api_version, "1.41"):
            options["platform"] = platform
        created = client.api.create_container(image_id, command=command, network_disabled=True,
                                              labels=dict(labels), **options)
    return str(created["Id"])


def remove_container(client: Client, container: str) -> None:
    """Remove the container and its volumes; one that is already gone is fine."""
    try:
        with _translated():
            client.api.remove_container(container, force=True, v=True)
    except EngineNotFound:
        pass


def stat_path(client: Client, container: str, path: str) -> tuple[int, str]:
    """The archive endpoint's answer to a HEAD of ``path``: HTTP status and the raw stat header
    (base64 JSON: ``name``, ``mode``, ``linkTarget``, ...)."""
    api = client.api
    url = f"{api.base_url}/v{api.api_version}/containers/{container}/archive"
    with _translated():
        response = api.head(url, params={"path": path}, timeout=api.timeout)
    return response.status_code, response.headers.get("X-Docker-Container-Path-Stat", "")


def archive_chunks(client: Client, container: str, path: str,
                   chunk_size: int) -> Iterator[bytes]:
    """The tar stream of ``path`` in the container, in chunks, read as it is consumed."""
    with _translated():
        chunks, _stat = client.api.get_archive(container, path, chunk_size=chunk_size)
    return _Chunks(chunks)


class _Chunks(Iterator[bytes]):
    """An iterator over a response's chunks that translates failures and can be closed early."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __next__(self) -> bytes:
        with _translated():
            return next(self._chunks)

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()  # stop the generator: the rest of the response is dropped with it


# --- building and pushing ----------------------------------------------------------------------


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


def connect_for_builds() -> Client:
    """A client for long builds and pushes, checked with a ping; ``BuildError`` if not there."""
    try:
        return connect(ping=True, timeout=STREAM_TIMEOUT)
    except EngineError as error:
        raise BuildError(f"cannot reach the Docker Engine at {engine_address()}: "
                         f"{error.explanation}", hint=DEFAULT_HOST_HINT) from None


def context_paths(root: Path, ignore_patterns: list[str]) -> set[str]:
    """The paths under ``root`` (files and folders, relative, "/"-separated) that a build sends
    as its context, given the lines of ``.dockerignore``: the SDK's own matcher decides."""
    return {name.replace("\\", "/") for name in exclude_paths(str(root), ignore_patterns)}


def build_image(client: Client, request: BuildRequest, progress: BuildProgress) -> str:
    """Build ``request`` and return the image id; a failed step is a ``BuildError`` naming it."""
    try:
        with _translated():
            events = client.api.build(
                path=str(request.context), dockerfile=request.dockerfile, tag=request.tag,
                buildargs=dict(request.buildargs), platform=request.platform, rm=True,
                forcerm=True, pull=False, decode=True)
        return _follow_build(_stream(events), request, progress)
    except EngineRefused as error:
        raise BuildError(f"{request.dockerfile}: the engine refused the build: "
                         f"{error.explanation}") from None
    except EngineUnreachable as error:
        raise BuildError(f"{request.dockerfile}: lost the Docker Engine at {engine_address()} "
                         f"while building: {error.explanation}", hint=DEFAULT_HOST_HINT) from None


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


def tag_image(client: Client, image: str, tag: str) -> None:
    """Give ``image`` (an id or a tag) the further tag ``tag`` (repository:tag)."""
    repository, _, name = tag.rpartition(":")
    with _translated():
        client.api.tag(image, repository, name)


def push_image(client: Client, tag: str, progress: PushProgress) -> str:
    """Push ``tag`` (repository:tag) and return the manifest digest the registry reports."""
    repository, _, name = tag.rpartition(":")
    try:
        with _translated():
            events = client.api.push(repository, tag=name, stream=True, decode=True)
        digest = _follow_push(_stream(events), tag, progress)
    except EngineRefused as error:
        raise BuildError(f"pushing {tag} failed: {error.explanation}") from None
    except EngineUnreachable as error:
        raise BuildError(f"lost the Docker Engine at {engine_address()} while pushing {tag}: "
                         f"{error.explanation}", hint=DEFAULT_HOST_HINT) from None
    if digest is None:
        raise BuildError(f"pushing {tag}: the registry reported no digest")
    return digest


def _follow_push(events: Iterable[dict[str, Any]], tag: str,
                 progress: PushProgress) -> str | None:
    layers: dict[str, tuple[int, int | None]] = {}
    digest: str | None = None
    for event in events:
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
    return digest


def _event_error(event: Mapping[str, Any]) -> str:
    detail = event.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"]).strip()
    return str(event.get("error", "unknown error")).strip()
