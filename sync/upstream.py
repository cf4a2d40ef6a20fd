"""What an upstream commit records about the image it came from.

Each commit on the upstream branch carries trailers naming the image, its registry digest, its
config digest (which pins the root filesystem's content) and a fingerprint of the path mapping.
Together they let a re-pull of the same image stop before reading a single layer, and let
``render`` label images with the upstream digest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from sync.config.manifest import Manifest
from sync.image.model import ImageInfo

# Bump when normalization rules change, so that equal inputs are re-read under the new rules.
NORMALIZATION_VERSION = 1

TRAILER_IMAGE = "Upstream-Image"
TRAILER_DIGEST = "Upstream-Digest"
TRAILER_CREATED = "Upstream-Created"
TRAILER_IMAGE_ID = "Upstream-Image-Id"
TRAILER_MAPPING = "Upstream-Mapping"


@dataclass(frozen=True)
class UpstreamRecord:
    """The image identity recorded in an upstream commit's trailers."""

    image: str
    digest: str | None
    image_id: str | None
    created: str | None
    mapping: str | None

    @classmethod
    def from_trailers(cls, found: dict[str, str]) -> UpstreamRecord | None:
        if TRAILER_IMAGE not in found:
            return None
        return cls(image=found[TRAILER_IMAGE], digest=found.get(TRAILER_DIGEST),
                   image_id=found.get(TRAILER_IMAGE_ID), created=found.get(TRAILER_CREATED),
                   mapping=found.get(TRAILER_MAPPING))


def mapping_fingerprint(manifest: Manifest) -> str:
    """A short hash of everything besides the image that decides the upstream tree."""
    document = {
        "normalization": NORMALIZATION_VERSION,
        "paths": [asdict(mapping) for mapping in manifest.paths],
    }
    encoded = json.dumps(document, sort_keys=True).encode()
    return "sha256:" + hashlib.sha256(encoded).hexdigest()[:16]


def image_label(manifest: Manifest) -> str:
    """How the commit subject names the image: ``repo:tag`` or ``repo@digest`` when pinned."""
    return manifest.reference


def commit_message(manifest: Manifest, info: ImageInfo) -> str:
    """``Upstream <image>:<tag>`` followed by the identity trailers."""
    lines = [f"Upstream {image_label(manifest)}", ""]
    lines.append(f"{TRAILER_IMAGE}: {image_label(manifest)}")
    if info.digest:
        lines.append(f"{TRAILER_DIGEST}: {info.digest}")
    if info.created:
        lines.append(f"{TRAILER_CREATED}: {info.created}")
    lines.append(f"{TRAILER_IMAGE_ID}: {info.image_id}")
    lines.append(f"{TRAILER_MAPPING}: {mapping_fingerprint(manifest)}")
    return "\n".join(lines) + "\n"


def already_recorded(record: UpstreamRecord | None, manifest: Manifest, info: ImageInfo) -> bool:
    """True when the tip already holds exactly this image's content under this mapping."""
    return (record is not None and record.image_id == info.image_id
            and record.mapping == mapping_fingerprint(manifest))
