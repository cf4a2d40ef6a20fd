"""Class 7 of issue 11: every registry transfer has a clock. A loopback server that trickles its
answers just under the socket timeout (a slowloris) cannot hold a pull:

- a document (manifest, config, token, error) must arrive whole within the document deadline;
- the status line and headers of any answer (a manifest, a token, a blob, a redirect to blob
  storage) within the headers deadline;
- a layer blob must keep up the minimum rate, and one that stalls is resumed, then given up.

Each case runs `pull` as a user would, with the limits made small through their
``SIMAPP_SYNC_REGISTRY_*`` variables: exit 2, a message naming the reference or the layer, no
traceback, no ref moved, and well under a minute.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from sync.cli import main
from sync.config.manifest import Manifest, PathMapping
from sync.errors import TransferError
from sync.image.distribution import RetryPolicy
from sync.image.flatten import flatten
from sync.image.registry import open_registry_image
from tests.hostile.loopback import Loopback, answer, loopback
from tests.hostile.state import snapshot
from tests.image.conftest import GitHashingStore

PATIENT = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, timeout=5, deadline=1)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
STEP = 0.05  # seconds between two trickled bytes
LIMITS = {  # small enough for a test, each far below its default
    "SIMAPP_SYNC_REGISTRY_ATTEMPTS": "2",
    "SIMAPP_SYNC_REGISTRY_READ_TIMEOUT": "1",
    "SIMAPP_SYNC_REGISTRY_HEADERS_DEADLINE": "1",
    "SIMAPP_SYNC_REGISTRY_DOCUMENT_DEADLINE": "2",
    "SIMAPP_SYNC_REGISTRY_LOW_SPEED_LIMIT": "1000",
    "SIMAPP_SYNC_REGISTRY_LOW_SPEED_TIME": "1",
}


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(name: str) -> bytes:
    """A layer with one file of 6000 bytes, /opt/amazon/``name``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(f"opt/amazon/{name}")
        info.size = 6000
        tar.addfile(info, io.BytesIO(b"a" * 6000))
    return out.getvalue()


def image(*layers: bytes) -> tuple[bytes, bytes]:
    """(manifest, config) of an image of ``layers``."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [digest(data) for data in layers]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(data), "size": len(data)} for data in layers]}).encode()
    return manifest, config


FIRST, LAYER = layer("first.txt"), layer("a.txt")
MANIFEST, CONFIG = image(LAYER)
TWO_LAYERS = image(FIRST, LAYER)  # the slow one (LAYER) on top of one served at once


def send(handler: BaseHTTPRequestHandler, data: bytes, step: float = STEP) -> None:
    """Write ``data`` a byte every ``step`` seconds (bounded: at most 2000 bytes, and it stops
    when the client hangs up)."""
    try:
        for index in range(min(len(data), 2000)):
            handler.wfile.write(data[index:index + 1])
            handler.wfile.flush()
            time.sleep(step)
    except OSError:
        pass


def trickle_body(handler: BaseHTTPRequestHandler, body: bytes, headers: dict[str, str]) -> None:
    """Complete headers, then the body a byte at a time."""
    handler.send_response(200)
    for name, value in {**headers, "Content-Length": str(len(body))}.items():
        handler.send_header(name, value)
    handler.end_headers()
    send(handler, body)


def trickle_headers(handler: BaseHTTPRequestHandler, body: bytes = b"",
                    headers: dict[str, str] | None = None) -> None:
    """The status line and headers a byte at a time (a padding header keeps them going)."""
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", "X-Padding: " + "p" * 400,
             *(f"{name}: {value}" for name, value in (headers or {}).items())]
    send(handler, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def stall_after_half(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """Complete headers and half the body, then silence (for 10 s at most); ranges ignored."""
    answer_head = {"Content-Length": str(len(body))}
    handler.send_response(200)
    for name, value in answer_head.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body[:len(body) // 2])
    handler.wfile.flush()
    time.sleep(10)


def endless_redirect(handler: BaseHTTPRequestHandler, location: str) -> None:
    """A redirect whose (chunked) body goes on a byte at a time (bounded by ``send``)."""
    handler.send_response(307)
    handler.send_header("Location", location)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    send(handler, b"1\r\nx\r\n" * 400)


Slow = Callable[[BaseHTTPRequestHandler, Loopback], bool]  # True when it answered


def registry(slow: str, built: tuple[bytes, bytes] = (MANIFEST, CONFIG)):
    """A one-image registry on loopback whose answer ``slow`` names is slow (a blob: LAYER)."""
    manifest, config = built
    manifest_headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(manifest)}

    def script(handler: BaseHTTPRequestHandler, server: Loopback) -> None:
        path = handler.path
        if path.endswith(digest(FIRST)):
            return answer(handler, 200, FIRST)
        if slow == "token headers":
            if path.startswith("/token"):
                return trickle_headers(handler, b'{"token": "t0k"}')
            if "Authorization" not in handler.headers:
                return answer(handler, 401, headers={
                    "WWW-Authenticate": f'Bearer realm="http://{server.origin}/token"'})
        if path.endswith("/manifests/v1"):
            if slow == "manifest body":
                return trickle_body(handler, manifest, manifest_headers)
            if slow == "manifest headers":
                return trickle_headers(handler, manifest, manifest_headers)
            return answer(handler, 200, manifest, manifest_headers)
        if path.endswith(digest(config)):
            return answer(handler, 200, config)
        if path.endswith(digest(LAYER)):
            if slow == "blob headers":
                return trickle_headers(handler, LAYER)
            if slow == "blob trickled":
                return trickle_body(handler, LAYER, {})
            if slow == "blob stalls":
                return stall_after_half(handler, LAYER)
            if slow == "redirect body":
                return endless_redirect(handler, f"http://{server.origin}/storage")
            if slow == "redirect headers":
                return answer(handler, 307, b"", {"Location": f"http://{server.origin}/storage"})
            return answer(handler, 200, LAYER)
        if path == "/storage":
            if slow == "redirect headers":
                return trickle_headers(handler, LAYER)
            return answer(handler, 200, LAYER)
        answer(handler, 404)
    return loopback(script)


def pull(origin: str) -> None:
    wanted = Manifest(image=f"{origin}/simapp", tag="v1", digest=None, platform="linux/amd64",
                      branch="upstream", paths=(PathMapping("/opt/amazon", "bundle"),))
    with open_registry_image(wanted, retry=PATIENT, credentials=None) as opened:
        flatten(opened.layers, wanted.paths, GitHashingStore())


def test_a_trickled_document_body_is_cut_at_the_document_deadline():
    with registry("manifest body") as server:
        started = time.monotonic()
        with pytest.raises(TransferError, match="did not send it within 1 s"):
            pull(server.origin)
        assert time.monotonic() - started < 30


def write_manifest(repo_dir: Path, origin: str) -> None:
    (repo_dir / "upstream-manifest.yaml").write_text(
        f"image: {origin}/simapp\ntag: v1\nplatform: linux/amd64\nbranch: upstream\n"
        "paths:\n  - source: /opt/amazon\n    target: bundle\n")


@pytest.mark.parametrize("slow, refusal", [
    ("manifest headers", r"/simapp:v1: the registry at http://\S+ did not answer in time: no "
                         r"answer \(status line and headers\) within 1 s \(tried 2 times\)"),
    ("token headers", r"/simapp:v1: cannot get a token from the registry's token service at "
                      r"http://\S+/token: no answer \(status line and headers\) within 1 s"),
    ("blob headers", r"layer 1/1 sha256:\w{12} \(\S+/simapp:v1\): the registry at http://\S+ did "
                     r"not answer in time: no answer \(status line and headers\) within 1 s"),
    ("redirect headers", r"layer 1/1 sha256:\w{12} \(\S+/simapp:v1\): the registry at http://\S+ "
                         r"did not answer in time: no answer \(status line and headers\)"),
    ("blob trickled", r"layer 1/1 sha256:\w{12} \(\S+/simapp:v1\): the registry sends this layer "
                      r"too slowly: less than 1000 bytes a second for 1 s, 2 times in a row"),
    ("blob stalls", r"layer 1/1 sha256:\w{12} \(\S+/simapp:v1\): the download broke off at byte "
                    rf"{len(LAYER) // 2} of {len(LAYER)} and could not be resumed: timed out"),
])
def test_a_slow_registry_ends_the_pull_with_exit_2_and_moves_no_ref(
        slow: str, refusal: str, repo_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    with registry(slow) as server:
        write_manifest(repo_dir, server.origin)
        before = snapshot(repo_dir)
        started = time.monotonic()
        status = main(["pull", "-C", str(repo_dir), "--from", "docker://"])
        took = time.monotonic() - started
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    assert re.search(refusal, " ".join(err.split())), err
    assert snapshot(repo_dir) == before
    assert took < 20


def test_the_body_of_a_redirect_is_dropped_unread_past_its_deadline(
        repo_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """requests reads a redirect's whole body before following it: one that never ends is cut
    at the document deadline, and the blob comes from where the redirect points."""
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    with registry("redirect body") as server:
        write_manifest(repo_dir, server.origin)
        started = time.monotonic()
        status = main(["pull", "-C", str(repo_dir), "--from", "docker://"])
        took = time.monotonic() - started
    err = capsys.readouterr().err
    assert status == 0, err
    assert "refs/heads/upstream" in snapshot(repo_dir)["refs"]
    assert took < 20


def test_a_layer_too_slow_keeps_the_layers_finished_before_it_as_a_network_cut_does(
        repo_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Too slow is a transfer failure, not a refusal of content: the branch does not move, and
    the state after the first layer (read and verified) is kept, so a rerun resumes there."""
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    with registry("blob trickled", TWO_LAYERS) as server:
        write_manifest(repo_dir, server.origin)
        before = snapshot(repo_dir)
        status = main(["pull", "-C", str(repo_dir), "--from", "docker://"])
    err = capsys.readouterr().err
    assert status == 2 and "layer 2/2" in err and "too slowly" in err, err
    after = snapshot(repo_dir)
    added = set(after.pop("refs").splitlines()) - set(before.pop("refs").splitlines())
    assert after == before
    assert [ref.split()[0].rsplit("/", 1)[0] for ref in added] == ["refs/simapp-sync/layers"]
