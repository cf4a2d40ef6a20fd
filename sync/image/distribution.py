"""A small client for the OCI distribution API (``/v2/``): manifests and blobs, nothing else.

HTTPS always, plain HTTP only for a loopback registry or one the user named insecure. A 401
answer's ``WWW-Authenticate`` challenge is followed: ``Bearer`` fetches a token from the realm
(anonymously, or with the Docker config's credentials), ``Basic`` sends the credentials. Tokens
and passwords live only in request headers: never in a URL, a log line or a message.

Transient failures (connection errors, timeouts, 429 and 5xx answers, a body cut short) are
retried with exponential backoff; a blob download that breaks off resumes with a ``Range``
request from the byte it reached (or re-reads and skips, when the registry ignores ranges).
Every request is on a clock (``deadlines``): connect and read timeouts, a deadline for an
answer's headers and one for a document's body, a minimum rate for blobs.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

import requests

from sync.errors import ImageError, TransferError
from sync.image import credentials as docker_credentials
from sync.image.credentials import Credentials
from sync.image.deadlines import RetryPolicy, headers_too_slow, registry_session, watchdog
from sync.image.oci import ALGORITHMS, MAX_DOCUMENT, digest_of
from sync.image.resumable import TRANSIENT_ERRORS, ResumableBlob, reason
from sync.image.streams import CHUNK, read_capped
from sync.untrusted import control_character

log = logging.getLogger(__name__)

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_ANSWER = 1024 * 1024  # a token or error answer: kilobytes in practice
_TOO_SLOW = ("check the network or the registry, then retry (the limits: "
             "SIMAPP_SYNC_REGISTRY_* in the README's \"Untrusted input\")")
_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def is_loopback(host: str) -> bool:
    """Whether ``host`` ("name[:port]", "[::1]:5000") is this machine."""
    name = host.rsplit("]", 1)[0].lstrip("[") if host.startswith("[") else host.split(":")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryClient:
    """Talks to one repository of one registry. Use as a context manager (closes the session).

    ``credentials`` overrides the Docker config lookup (tests, or None for anonymous); the
    default looks the registry up in the Docker config the first time a challenge asks.
    """

    def __init__(self, registry: str, repository: str, *, insecure: Collection[str] = (),
                 retry: RetryPolicy | None = None,
                 credentials: Credentials | None | Callable[[str], Credentials | None] =
                 docker_credentials.lookup) -> None:
        self.registry = registry
        self.repository = repository
        self.retry = retry or RetryPolicy.from_environment(os.environ)
        self.plain_http = is_loopback(registry) or registry in insecure
        self.insecure = frozenset(insecure)
        self.base = f"{'http' if self.plain_http else 'https'}://{registry}/v2/{repository}"
        self.session = registry_session(self.retry)
        self._credentials = credentials
        self._authorization: str | None = None  # the header value, once a challenge was met

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    # -- documents -------------------------------------------------------------------------------

    def manifest(self, reference: str, accept: Collection[str]) -> tuple[bytes, str, str]:
        """(body, media type, digest) of the manifest ``reference`` (a tag or a digest).

        The body is checked against the digest when ``reference`` is one, else against the
        registry's ``Docker-Content-Digest`` header when it sends one.
        """
        pinned = ":" in reference  # tags cannot hold a colon; digests always do
        where = f"{self.registry}/{self.repository}{'@' if pinned else ':'}{reference}"
        response = self.request("GET", f"/manifests/{reference}", where=where,
                                headers={"Accept": ", ".join(accept)})
        with response:
            body = _document(response, where, self.retry.deadline)
        algorithm = reference.partition(":")[0] if pinned else "sha256"
        digest = _digest_of(body, algorithm, where)
        expected = reference if pinned else response.headers.get("Docker-Content-Digest")
        if expected and expected != digest:
            raise ImageError(f"{where}: digest mismatch: the registry sent a manifest with "
                             f"digest {digest}, expected {expected}",
                             hint="nothing was used; the registry or a proxy on the way serves "
                                  "altered content")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return body, media_type, digest

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
        """Store ``body`` as manifest ``reference`` (a tag); returns its digest."""
        where = f"{self.registry}/{self.repository}:{reference}"
        response = self.request("PUT", f"/manifests/{reference}", where=where,
                                headers={"Content-Type": media_type}, data=body)
        with response:
            return response.headers.get("Docker-Content-Digest") or _digest_of(body, "sha256",
                                                                               where)

    def find_manifest(self, reference: str,
                      accept: Collection[str]) -> tuple[bytes, str, str] | None:
        """``manifest(reference)``, or None when the registry has no such tag."""
        try:
            return self.manifest(reference, accept)
        except ImageError as error:
            if "HTTP 404" in error.message:
                return None
            raise

    def blob_bytes(self, digest: str, what: str) -> bytes:
        """A small blob (an image config), read whole and checked against ``digest``."""
        where = f"{self.registry}/{self.repository}: {what} {digest[:19]}"
        response = self.request("GET", f"/blobs/{digest}", where=where)
        with response:
            body = _document(response, where, self.retry.deadline)
        actual = _digest_of(body, digest.partition(":")[0], where)
        if actual != digest:
            raise ImageError(f"{where}: digest mismatch: the content has {actual}",
                             hint="nothing was used; the blob in the registry is damaged or "
                                  "was altered")
        return body

    @contextmanager
    def open_blob(self, digest: str, size: int, where: str) -> Iterator[BinaryIO]:
        """Stream the blob ``digest`` of ``size`` bytes, resuming after transient failures.

        The stream is not verified here (the layer reader hashes it on the way); it refuses
        to deliver more than ``size`` bytes or to end before them.
        """
        stream = ResumableBlob(self, digest, size, where)
        try:
            yield cast(BinaryIO, stream)
        finally:
            stream.close()

    # -- requests --------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, where: str,
                headers: dict[str, str] | None = None,
                data: bytes | None = None) -> requests.Response:
        """Send a request to the repository, authenticating and retrying as needed.

        Returns a 2xx streaming response; anything else becomes an ``ImageError``.
        """
        url = self.base + path
        challenged = False
        delays = self.retry.delays()
        while True:
            wanted = dict(headers or {})
            if self._authorization:
                wanted["Authorization"] = self._authorization
            try:
                response = self.session.request(method, url, headers=wanted, stream=True,
                                                timeout=self.retry.timeouts, data=data)
            except TRANSIENT_ERRORS as error:
                delay = next(delays, None)
                if delay is None:
                    raise self._unreachable(error, where) from None
                log.debug("%s: %s; retrying in %.1fs", where, type(error).__name__, delay)
                time.sleep(delay)
                continue
            if response.status_code < 300:
                return response
            if response.status_code == 401 and not challenged:
                challenged = True
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                self._authorization = self._answer(challenge, where)
                continue
            if response.status_code in _TRANSIENT_STATUS:
                delay = next(delays, None)
                if delay is not None:
                    response.close()
                    time.sleep(_retry_after(response, delay))
                    continue
            raise self._refused(response, where)

    def _answer(self, challenge: str, where: str) -> str:
        """The Authorization header that answers a 401 challenge."""
        scheme, _, rest = challenge.strip().partition(" ")
        params = {key.lower(): quoted or bare
                  for key, quoted, bare in _CHALLENGE_PARAM.findall(rest)}
        found = self._lookup_credentials()
        if scheme.lower() == "basic":
            if found is None or found.identity_token:
                raise self._login_error(where, "it asks for a user name and password")
            pair = f"{found.username}:{found.secret}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        if scheme.lower() != "bearer" or "realm" not in params:
            raise ImageError(f"{where}: the registry asks for an authentication this tool does "
                             f"not speak ({scheme or 'no challenge'})",
                             hint="use --from docker-daemon: and let the engine pull it")
        return "Bearer " + self._token(params, found, where)

    def _lookup_credentials(self) -> Credentials | None:
        if callable(self._credentials):
            self._credentials = self._credentials(self.registry)
        return self._credentials

    def _token(self, params: dict[str, str], found: Credentials | None, where: str) -> str:
        """A bearer token from the challenge's realm (anonymous unless credentials exist)."""
        realm = self._judge_realm(params["realm"], found, where)
        # our own scope always (some registries challenge with a generic one, e.g. "aws"),
        # and the challenge's too when it asks for something else
        scopes = [f"repository:{self.repository}:pull"]
        if params.get("scope") and params["scope"] not in scopes:
            scopes.append(params["scope"])
        query: dict[str, Any] = {"scope": scopes}
        if "service" in params:
            query["service"] = params["service"]
        try:
            if found is not None and found.identity_token:
                response = self.session.post(realm, data={
                    **query, "grant_type": "refresh_token", "refresh_token": found.secret,
                    "client_id": "simapp-sync"}, timeout=self.retry.timeouts,
                    allow_redirects=False, stream=True)
            else:
                auth = (found.username, found.secret) if found is not None else None
                response = self.session.get(realm, params=query, auth=auth,
                                            timeout=self.retry.timeouts, allow_redirects=False,
                                            stream=True)
        except TRANSIENT_ERRORS as error:
            raise TransferError(f"{where}: cannot get a token from the registry's token "
                                f"service at {realm}: {reason(error)}",
                                hint=_TOO_SLOW if headers_too_slow(error) else
                                "check the network, then retry") from None
        with response:
            if response.status_code in (401, 403):
                raise self._login_error(where, f"its token service refused a token "
                                               f"(HTTP {response.status_code})",
                                        anonymous=found is None)
            answer = _small_json(response, where, self.retry.deadline) if response.ok else {}
        token = answer.get("token") or answer.get("access_token") if isinstance(
            answer, dict) else None
        if not isinstance(token, str) or not token:
            raise ImageError(f"{where}: the registry's token service at {realm} gave no token "
                             f"(HTTP {response.status_code})", hint="retry later")
        return token

    def _judge_realm(self, realm: str, found: Credentials | None, where: str) -> str:
        """``realm`` if a token may be asked there (with ``found``'s secret, if any).

        Judged on the parsed URL, never on string prefixes: the scheme must be https, or http
        to a loopback or ``--insecure-registry`` host; a user name or password in the URL is
        refused; a secret goes over plain http only to the registry's own origin (scheme, host
        and port). Token requests never follow redirects, so nothing is carried elsewhere.
        """
        try:
            parts = urlsplit(realm)
            host, port = parts.hostname, parts.port
        except ValueError:
            host = port = None
            parts = urlsplit("")
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not host or control_character(realm) is not None:
            raise ImageError(f"{where}: the registry sends its token requests to {realm!r:.200}, "
                             "which is not an http(s) URL", hint="check the registry")
        if "@" in parts.netloc:
            raise ImageError(f"{where}: the registry's token realm carries a user name or "
                             f"password ({scheme}://...@{host}): refused",
                             hint="check the registry; credentials come from the Docker config")
        netloc = parts.netloc.lower()
        if scheme == "http":
            if not (is_loopback(netloc) or netloc in self.insecure or host in self.insecure):
                raise ImageError(f"{where}: the registry sends its token requests to {realm}, "
                                 "which is not HTTPS",
                                 hint=f"if you trust it, pass --insecure-registry {netloc}")
            own = urlsplit(self.base)
            if found is not None and (not self.plain_http or (host, port or 80) != (
                    own.hostname, own.port or 80)):
                raise ImageError(
                    f"{where}: the registry sends its token requests to {realm}: plain HTTP to "
                    f"another origin than the registry's ({own.scheme}://{own.netloc}); "
                    "refusing to send your credentials there",
                    hint="credentials go only over HTTPS, or over plain HTTP to the registry's "
                         "own origin")
        return realm

    # -- errors ----------------------------------------------------------------------------------

    def _unreachable(self, error: BaseException, where: str) -> ImageError:
        scheme = "http" if self.plain_http else "https"
        tries = f"tried {self.retry.attempts} times"
        if headers_too_slow(error) is not None:
            return TransferError(
                f"{where}: the registry at {scheme}://{self.registry} did not answer in time: "
                f"{reason(error)} ({tries})", hint=_TOO_SLOW)
        return TransferError(
            f"cannot reach the registry at {scheme}://{self.registry}: "
            f"{reason(error)} ({tries})",
            hint="check the network and image: in the manifest; or pull through an engine "
                 "(--from docker-daemon:) or from a saved image (--from docker-archive:PATH)")

    def _login_error(self, where: str, why: str, *, anonymous: bool = True) -> ImageError:
        who = "without credentials" if anonymous else "with the Docker config's credentials"
        return TransferError(f"{where}: the registry refused access {who}: {why}",
                          hint=f"log in with `docker login {self.registry}` (simapp-sync reads "
                               "the Docker config's auths, credHelpers and credsStore), and "
                               "check image: in the manifest")

    def _refused(self, response: requests.Response, where: str) -> ImageError:
        status = response.status_code
        message = _registry_message(response, self.retry.deadline)
        response.close()
        if status in (401, 403):
            return self._login_error(where, f"HTTP {status}{message}",
                                     anonymous=self._lookup_credentials() is None)
        if status == 404:
            return TransferError(f"{where}: not found in the registry (HTTP 404{message})",
                              hint="check image:, tag: and digest: in upstream-manifest.yaml")
        return TransferError(f"{where}: the registry answered HTTP {status}{message}",
                          hint="retry later; if it persists, check the registry")


def _read_capped(response: requests.Response, where: str, deadline: float) -> bytes:
    with watchdog(response, deadline) as cut:
        try:
            return read_capped(response.iter_content(CHUNK), MAX_DOCUMENT, where,
                               hint="check the image reference")
        except TRANSIENT_ERRORS:
            if not cut.is_set():
                raise
    raise TransferError(f"{where}: the registry did not send it within {deadline:g} s "
                        "(too slow)", hint=_TOO_SLOW)


def _document(response: requests.Response, where: str, deadline: float) -> bytes:
    try:
        return _read_capped(response, where, deadline)
    except TRANSIENT_ERRORS as error:
        raise TransferError(f"{where}: the download broke off: {reason(error)}",
                            hint="retry") from None


def _small_json(response: requests.Response, where: str, deadline: float) -> Any:
    """A token or error answer's JSON, read up to ``MAX_ANSWER`` bytes within ``deadline``
    seconds; anything else is {}."""
    try:
        with watchdog(response, deadline):
            return json.loads(read_capped(response.iter_content(CHUNK), MAX_ANSWER, where, ""))
    except (ImageError, ValueError, RecursionError):
        return {}
    except TRANSIENT_ERRORS:
        return {}


def _digest_of(body: bytes, algorithm: str, where: str) -> str:
    if algorithm not in ALGORITHMS:
        raise ImageError(f"{where}: unsupported digest algorithm {algorithm!r}")
    return digest_of(body, algorithm)


def _retry_after(response: requests.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    return min(float(value), 30.0) if value.isdigit() else default


def _registry_message(response: requests.Response, deadline: float) -> str:
    """The registry's own words ({"errors": [{"code", "message"}]}), if it sent some."""
    document = _small_json(response, "the registry's error", deadline)
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return ""
    words = [f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
             for e in errors if isinstance(e, dict)]
    return f" ({'; '.join(words)})" if words else ""
