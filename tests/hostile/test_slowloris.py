"""Class 7 of issue 11: every registry transfer has a clock. A loopback server that trickles its
answers just under the socket timeout (a slowloris) cannot hold a pull: a document must arrive
within ``RetryPolicy.deadline`` seconds (blobs: not yet bounded, see the README)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from http.server import BaseHTTPRequestHandler

import pytest

from sync.config.manifest import Manifest, PathMapping
from sync.errors import TransferError
from sync.image.distribution import RetryPolicy
from sync.image.flatten import flatten
from sync.image.registry import open_registry_image
from tests.hostile.loopback import Loopback, answer, loopback
from tests.image.conftest import GitHashingStore

PATIENT = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, timeout=5, deadline=1)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image() -> tuple[bytes, bytes, bytes]:
    """(manifest, config, layer) of a one-layer image with one file under /opt/amazon."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("opt/amazon/a.txt")
        info.size = 6000
        tar.addfile(info, io.BytesIO(b"a" * 6000))
    layer = out.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer), "size": len(layer)}]}).encode()
    return manifest, config, layer


def trickle(handler: BaseHTTPRequestHandler, body: bytes, headers: dict[str, str]) -> None:
    """Send ``body`` a byte every 50 ms (bounded: it stops when the client hangs up)."""
    handler.send_response(200)
    for name, value in {**headers, "Content-Length": str(len(body))}.items():
        handler.send_header(name, value)
    handler.end_headers()
    try:
        for index in range(min(len(body), 2000)):
            handler.wfile.write(body[index:index + 1])
            handler.wfile.flush()
            time.sleep(0.05)
    except OSError:
        pass


def registry(slow: str):
    manifest, config, layer = image()

    def script(handler: BaseHTTPRequestHandler, server: Loopback) -> None:
        path = handler.path
        if path.endswith("/manifests/v1"):
            headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(manifest)}
            if slow == "manifest":
                return trickle(handler, manifest, headers)
            return answer(handler, 200, manifest, headers)
        if path.endswith(digest(config)):
            return answer(handler, 200, config)
        if path.endswith(digest(layer)):
            return trickle(handler, layer, {})
        answer(handler, 404)
    return loopback(script)


def pull(origin: str) -> None:
    wanted = Manifest(image=f"{origin}/simapp", tag="v1", digest=None, platform="linux/amd64",
                      branch="upstream", paths=(PathMapping("/opt/amazon", "bundle"),))
    with open_registry_image(wanted, retry=PATIENT, credentials=None) as opened:
        flatten(opened.layers, wanted.paths, GitHashingStore())


@pytest.mark.parametrize("slow, refusal", [
    ("manifest", "did not send it within 1 s"),
])
def test_a_trickling_registry_cannot_hold_a_pull(slow: str, refusal: str):
    with registry(slow) as server:
        started = time.monotonic()
        with pytest.raises(TransferError, match=refusal):
            pull(server.origin)
        assert time.monotonic() - started < 30
