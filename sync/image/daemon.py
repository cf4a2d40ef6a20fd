"""The ``docker-daemon:`` source: the Docker Engine pulls the image, we copy out the mapped paths.

Talks to the engine through ``sync.docker_engine``, honouring ``DOCKER_HOST``: pull
``image:tag`` (or ``image@digest``) for the manifest's platform, create a container that is never
started, stream each mapping's ``source`` through the archive endpoint (a few hundred MB, not
the ~10 GB root filesystem a full ``export()`` would send) and
remove the container afterwards, also on failure.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import json
import logging
import os
import posixpath
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from sync import docker_engine as engine
from sync.config.manifest import Manifest
from sync.errors import ImageError
from sync.image.model import ImageInfo, Layer, OpenedImage
from sync.image.oci import Platform, describe_platform
from sync.image.streams import layer_opener

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20  # bytes per read from the archive stream: memory stays flat
NEVER_RUN_COMMAND = ["/simapp-sync: this container is never started"]
CONTAINER_LABEL = "org.simapp-sync.purpose"
_MODE_SYMLINK = 1 << 27  # Go's os.ModeSymlink, as the archive stat header reports it
_MAX_SYMLINK_HOPS = 40
# Paths the engine adds to every container's init layer (empty placeholders, bind-mounted over
# at run time). They are not the image's content, so a source covering them must not keep them.
ENGINE_PLACEHOLDERS = frozenset({
    ".dockerenv", "dev/console", "dev/pts", "dev/shm", "proc", "sys",
    "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab",
})
_ARCHIVE_HINT = ("or read a saved image without an engine: --from docker-archive:PATH "
                 "(made by `docker save IMAGE -o PATH`)")


class PullProgress(Protocol):
    """Receives the engine's pull progress, one event for one layer at a time.

    ``layer`` is the engine's short layer id; ``status`` its word ("Pulling fs layer",
    "Downloading", "Extracting", "Pull complete", "Already exists", ...). ``current`` and
    ``total`` are bytes; either may be ``None`` (the containerd image store sends no total).
    """

    def update(self, layer: str, status: str, current: int | None, total: int | None) -> None:
        ...


@dataclass(frozen=True)
class _Source:
    """A mapping source as found in the container: what to ask for and how to rename."""

    source: str  # the manifest's path, e.g. /opt/amazon
    resolved: str  # the path to archive: the source, or where the symlink ``source`` leads
    root_name: str  # the name the archive gives the resolved path's own entry ("amazon", "/")


def connect() -> engine.Client:
    """A client for the engine named by DOCKER_HOST (or the default socket)."""
    try:
        return engine.connect()
    except engine.EngineError as error:
        raise _unreachable(error) from None


@contextmanager
def open_daemon_image(manifest: Manifest, *, progress: PullProgress | None = None,
                      client: engine.Client | None = None) -> Iterator[OpenedImage]:
    """Pull the manifest's image through the engine and yield its mapped paths as layers.

    One ``Layer`` per mapping, in manifest order: the engine's archive of that ``source`` with
    members renamed to image paths and ``whiteouts=False``. The layers stream from a container
    that exists only inside this context.
    """
    own_client = client is None
    session = connect() if client is None else client
    try:
        with _engine_errors():
            pulled_digest = pull_image(session, manifest, progress)
            info = _inspect(session, manifest, pulled_digest)
            container = _create_container(session, info.image_id, manifest)
        try:
            with _engine_errors():
                sources = [_resolve(session, container, mapping.source, manifest.reference)
                           for mapping in manifest.paths]
            yield OpenedImage(info, tuple(_layer(session, container, source)
                                          for source in sources))
        finally:
            _remove_container(session, container)
    finally:
        if own_client:
            session.close()


def pull_image(client: engine.Client, manifest: Manifest,
               progress: PullProgress | None = None) -> str | None:
    """Pull the manifest's reference for its platform; return the digest the engine reports.

    Every event is checked: the engine reports failures inside a successful HTTP response.
    """
    tag = manifest.digest or manifest.tag or "latest"
    reference = manifest.reference
    digest = None
    try:
        for event in engine.pull_events(client, manifest.image, tag, manifest.platform):
            if "error" in event or "errorDetail" in event:
                detail = event.get("errorDetail") or {}
                message = detail.get("message") if isinstance(detail, dict) else None
                raise _pull_error(manifest, str(message or event.get("error")))
            status = str(event.get("status", ""))
            if status.startswith("Digest: "):
                digest = status.removeprefix("Digest: ").strip()
            if progress is not None and "id" in event and "progressDetail" in event:
                _report(progress, event)
    except engine.EngineRefused as error:
        raise _pull_error(manifest, error.explanation) from None
    log.debug("pulled %s (%s)", reference, digest)
    return digest


def _report(progress: PullProgress, event: Mapping[str, Any]) -> None:
    detail = event.get("progressDetail") or {}
    current = detail.get("current") if isinstance(detail, dict) else None
    total = detail.get("total") if isinstance(detail, dict) else None
    progress.update(str(event["id"]), str(event.get("status", "")),
                   int(current) if isinstance(current, int) else None,
                   int(total) if isinstance(total, int) and total > 0 else None)


def _inspect(client: engine.Client, manifest: Manifest,
             pulled_digest: str | None) -> ImageInfo:
    reference = manifest.reference
    try:
        image = engine.inspect_image(client, reference)
    except engine.EngineNotFound:
        raise ImageError(f"{reference}: the engine reports the pull done but has no such image",
                         hint="try again; if it persists, check the engine's log") from None
    _check_platform(manifest, image)
    repo_digests = _repo_digests(image.get("RepoDigests") or [], manifest.image)
    digest: str | None
    if pulled_digest and (pulled_digest in repo_digests or not repo_digests):
        digest = pulled_digest  # the stream's "Digest:" names exactly what this pull fetched
    elif manifest.digest in repo_digests:
        digest = manifest.digest
    else:
        digest = repo_digests[0] if repo_digests else None
    if manifest.digest and digest != manifest.digest:
        raise ImageError(
            f"{manifest.image}: the engine pulled an image with digest {digest or 'unknown'}, "
            f"but {_manifest_name(manifest)} pins digest: {manifest.digest}",
            hint="nothing was written; check the registry, or update digest: in the manifest")
    return ImageInfo(reference=reference, digest=digest, image_id=str(image["Id"]),
                     created=image.get("Created"))


def _check_platform(manifest: Manifest, image: Mapping[str, Any]) -> None:
    """The engine's image must be for the manifest's platform, by the rule every source uses."""
    found = Platform(str(image.get("Os") or ""), str(image.get("Architecture") or ""),
                     str(image.get("Variant") or ""))
    if not Platform.parse(manifest.platform).matches(found):
        raise ImageError(
            f"{manifest.reference}: the engine has it for {describe_platform(found)}, "
            f"not for platform: {manifest.platform}",
            hint=f"the registry may not offer {manifest.platform}; check platform: in "
                 f"{_manifest_name(manifest)}")


def _repo_digests(repo_digests: list[str], image: str) -> list[str]:
    """The digests recorded for ``image`` (RepoDigests are "repository@sha256:...")."""
    wanted = _familiar(image)
    found = []
    for entry in repo_digests:
        name, _, digest = str(entry).partition("@")
        if digest and _familiar(name) == wanted:
            found.append(digest)
    return found


def _familiar(name: str) -> str:
    """Docker Hub names as the engine shows them: "library/ubuntu" and "docker.io/x/y" alike."""
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if name.startswith("library/") and name.count("/") == 1:
        name = name[len("library/"):]
    return name


def _create_container(client: engine.Client, image_id: str, manifest: Manifest) -> str:
    # an imported image has no CMD, and create refuses an image without one: pass a command
    try:
        return engine.create_container(client, image_id, command=NEVER_RUN_COMMAND,
                                       labels={CONTAINER_LABEL: "pull"},
                                       platform=manifest.platform)
    except engine.EngineRefused as error:
        raise ImageError(f"{manifest.reference}: the engine cannot create a container to read "
                         f"the image from: {error.explanation}") from None


def _remove_container(client: engine.Client, container: str) -> None:
    """Remove the container; a failure here is logged, never raised over the real outcome."""
    try:
        engine.remove_container(client, container)
    except engine.EngineError as error:
        log.warning("could not remove the container %s: %s (remove it with `docker rm -f %s`)",
                    container[:12], error, container[:12])


def _resolve(client: engine.Client, container: str, source: str,
             reference: str) -> _Source:
    """Find ``source`` in the container, following it if it is itself a symlink."""
    path = source
    for _hop in range(_MAX_SYMLINK_HOPS):
        stat = _stat(client, container, path)
        if stat is None:
            if path == source:
                raise ImageError(f"{source}: no such path in {reference}",
                                 hint="check paths[].source in the manifest")
            raise ImageError(f"{source}: a symlink to {path}, which does not exist in "
                             f"{reference}", hint="check paths[].source in the manifest")
        target = stat.get("linkTarget") or ""
        if not (int(stat.get("mode", 0)) & _MODE_SYMLINK and target):
            return _Source(source, path, str(stat.get("name") or posixpath.basename(path)))
        # the engine resolves the link within the container: an absolute path in the image
        path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    raise ImageError(f"{source}: too many levels of symbolic links in {reference}")


def _stat(client: engine.Client, container: str, path: str) -> dict[str, Any] | None:
    """The archive endpoint's stat of ``path`` (HEAD request), or None if it does not exist."""
    status, header = engine.stat_path(client, container, path)
    if status == 404:
        return None
    if status != 200:
        raise ImageError(f"{path}: the engine cannot stat it in the container "
                         f"(HTTP {status}; a symlink loop?)")
    try:
        stat = json.loads(base64.b64decode(header))
    except (binascii.Error, ValueError, RecursionError):
        raise ImageError(f"{path}: the engine sent an unreadable stat header {header!r}") from None
    return stat if isinstance(stat, dict) else None


def _layer(client: engine.Client, container: str, source: _Source) -> Layer:
    description = f"docker cp {source.source}"
    # no digest to check the engine's stream against: every read of it must equal the first
    opener = layer_opener(functools.partial(_archive_stream, client, container, source),
                          description=description, plain=True)
    return Layer(description=description, open=opener, rename=_renamer(source),
                 whiteouts=False)


def _renamer(source: _Source) -> Callable[[str], str | None]:
    """Member names ("amazon/x", or "/etc/x" for "/") -> image paths ("opt/amazon/x").

    A symlinked source keeps its own path: members of /opt/real become /opt/link/... .
    """
    image_prefix = source.source.strip("/")
    real_prefix = source.resolved.strip("/")
    root = source.root_name

    def rename(member: str) -> str | None:
        if root == "/":
            rest = member.strip("/")
        elif member.rstrip("/") == root:
            rest = ""
        elif member.startswith(root + "/"):
            rest = member[len(root) + 1:].rstrip("/")
        else:
            return None
        real = posixpath.join(real_prefix, rest) if rest else real_prefix
        if real in ENGINE_PLACEHOLDERS or not (rest or image_prefix):
            return None
        return posixpath.join(image_prefix, rest) if rest else image_prefix

    return rename


@contextmanager
def _archive_stream(client: engine.Client, container: str,
                    source: _Source) -> Iterator[BinaryIO]:
    description = f"reading {source.source} from the engine"
    try:
        chunks = engine.archive_chunks(client, container, source.resolved, CHUNK_SIZE)
    except engine.EngineNotFound:
        raise ImageError(f"{source.source}: vanished from the container while reading") from None
    except engine.EngineRefused as error:
        raise ImageError(f"{description}: {error.explanation}") from None
    except engine.EngineUnreachable as error:
        raise _unreachable(error) from None
    raw = _ChunkReader(chunks, description)
    stream = io.BufferedReader(raw, CHUNK_SIZE)
    try:
        yield stream
    finally:
        stream.close()


class _ChunkReader(io.RawIOBase):
    """A read-only binary stream over the archive endpoint's chunks; nothing is buffered whole."""

    def __init__(self, chunks: Iterator[bytes], description: str) -> None:
        self._chunks = chunks
        self._chunk = memoryview(b"")
        self._description = description

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._chunk:
            try:
                self._chunk = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except engine.EngineError as error:
                raise ImageError(f"{self._description}: the stream broke off: {error}",
                                 hint="check that the engine is still running, then retry"
                                 ) from None
        count = min(len(buffer), len(self._chunk))
        buffer[:count] = self._chunk[:count]
        self._chunk = self._chunk[count:]
        return count

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()  # stop the generator: the rest of the response is dropped with it
        super().close()


# --- errors ------------------------------------------------------------------------------------


@contextmanager
def _engine_errors() -> Iterator[None]:
    """The engine went away in the middle of a call: say so, as for an unreachable engine."""
    try:
        yield
    except engine.EngineUnreachable as error:
        raise _unreachable(error) from None
    except engine.EngineRefused as error:
        raise ImageError(f"the Docker Engine refused a request: {error.explanation}") from None


def _unreachable(error: Exception) -> ImageError:
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (the default)"
    text = str(error)
    if "FileNotFoundError" in text or "No such file" in text:
        reason = "no engine socket there"
    elif "PermissionError" in text or "Permission denied" in text:
        reason = "permission denied (join the docker group, or run as root)"
    elif "Connection refused" in text or "ConnectionRefused" in text:
        reason = "connection refused"
    else:
        reason = text
    return ImageError(
        f"cannot reach the Docker Engine at {host}: {reason}",
        hint="start it (`sudo systemctl start docker`), or point DOCKER_HOST at a running "
             f"engine (it is honoured), {_ARCHIVE_HINT}")


def _pull_error(manifest: Manifest, message: str) -> ImageError:
    """Turn the engine's pull failure into a message that says what to do."""
    reference = manifest.reference
    lowered = message.lower()
    name = _manifest_name(manifest)
    if "manifest verification failed" in lowered or "digest did not match" in lowered:
        return ImageError(f"{reference}: digest mismatch: the registry's manifest does not match "
                          f"digest: {manifest.digest} ({message})",
                          hint="nothing was written; the registry or a proxy serves other "
                               "content for that digest")
    if any(word in lowered for word in ("unauthorized", "denied", "authentication required",
                                        "no basic auth credentials", "forbidden")):
        registry = manifest.image.split("/")[0] if "/" in manifest.image else "docker.io"
        return ImageError(f"{reference}: the registry refused access: {message}",
                          hint=f"log in with `docker login {registry}` as the user running "
                               f"simapp-sync, and check image: in {name}; {_ARCHIVE_HINT}")
    if any(word in lowered for word in ("manifest unknown", "not found", "does not exist",
                                        "name unknown")):
        asked = (f"digest {manifest.digest}" if manifest.digest
                 else f"tag {manifest.tag or 'latest'}")
        return ImageError(f"{reference}: image or {asked} not found in the registry ({message})",
                          hint=f"check image:, tag: and digest: in {name}")
    if any(word in lowered for word in ("no matching manifest", "does not match the specified "
                                        "platform")):
        return ImageError(f"{reference}: not available for platform {manifest.platform} "
                          f"({message})", hint=f"check platform: in {name}")
    if any(word in lowered for word in ("connection refused", "no such host", "i/o timeout",
                                        "dial tcp", "tls handshake", "network is unreachable")):
        return ImageError(f"{reference}: the engine cannot reach the registry: {message}",
                          hint=f"check the network and the registry name; {_ARCHIVE_HINT}")
    if "verification failed" in lowered or "unknown blob" in lowered or "unexpected eof" in lowered:
        return ImageError(f"{reference}: the registry sent a broken layer: {message}",
                          hint="retry; if it persists the image in the registry is damaged")
    return ImageError(f"{reference}: the engine failed to pull it: {message}")


def _manifest_name(manifest: Manifest) -> str:
    return str(manifest.path) if manifest.path else "upstream-manifest.yaml"


def registry_digest(manifest: Manifest, client: engine.Client | None = None) -> str:
    """The digest the registry serves for the manifest's reference, asked through the engine.

    The engine's distribution endpoint (``docker buildx imagetools inspect`` asks the same):
    only the manifest is fetched, no layer, and nothing is stored in the engine.
    """
    own_client = client is None
    session = connect() if client is None else client
    try:
        with _engine_errors():
            try:
                data = engine.inspect_distribution(session, manifest.reference)
            except engine.EngineRefused as error:
                raise _pull_error(manifest, error.explanation) from None
    finally:
        if own_client:
            session.close()
    descriptor = data.get("Descriptor") if isinstance(data, dict) else None
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    if not isinstance(digest, str):
        raise ImageError(f"{manifest.reference}: the engine's answer names no digest",
                         hint="retry; or ask the registry directly: --from docker://")
    return digest
