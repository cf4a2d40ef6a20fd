"""Publish ``<version>-<variant>``: an OCI image index over the per-architecture images.

`build --push` pushes ``<version>-<variant>-<arch>`` only; ``publish_variant`` reads those
manifests from the registry and writes ``<version>-<variant>``: an OCI image index whose entries
are the per-arch manifests with their platform, or, for a single-platform variant, that image's
manifest itself (DeepRacer-for-Cloud pulls the plain name). It refuses to replace an existing
multi-arch index by one of a different set of platforms, or any index by a single image, unless
``force``: a tag people pull does not silently lose an architecture.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sync.errors import CheckFailed, ImageError
from sync.image.distribution import RegistryClient

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
IMAGE_TYPES = ("application/vnd.oci.image.manifest.v1+json",
               "application/vnd.docker.distribution.manifest.v2+json")


@dataclass(frozen=True)
class Published:
    """What ``publish_variant`` wrote under ``tag``."""

    tag: str
    digest: str
    media_type: str
    platforms: tuple[str, ...]


def _platform_dict(platform: str) -> dict[str, str]:
    os_name, _, architecture = platform.partition("/")
    return {"architecture": architecture, "os": os_name}


def _existing_platforms(body: bytes) -> tuple[str, ...]:
    document = json.loads(body)
    found = [f"{entry['platform']['os']}/{entry['platform']['architecture']}"
             for entry in document.get("manifests", []) if "platform" in entry]
    return tuple(sorted(found))


def publish_variant(client: RegistryClient, tag: str, platforms: Sequence[str], *,
                    force: bool = False) -> Published:
    """Write ``tag`` from the per-arch tags ``<tag>-<arch>`` of ``platforms`` (see module)."""
    entries = []
    for platform in platforms:
        arch_tag = f"{tag}-{platform.partition('/')[2]}"
        try:
            body, media_type, digest = client.manifest(arch_tag, IMAGE_TYPES)
        except ImageError as error:
            raise ImageError(f"{error.message}",
                             hint="run `build --push` for this variant first (it pushes the "
                                  "per-architecture tags publish assembles)") from None
        entries.append((platform, body, media_type, digest))
    existing = client.find_manifest(tag, (*INDEX_TYPES, *IMAGE_TYPES))
    wanted = tuple(sorted(platforms))
    where = f"{client.registry}/{client.repository}:{tag}"
    if existing is not None and not force and existing[1] in INDEX_TYPES:
        before = _existing_platforms(existing[0])
        if len(entries) == 1:
            raise CheckFailed(f"{where} is a multi-arch index ({', '.join(before)}); "
                              "publishing would replace it by a single image",
                              hint="declare the same platforms for the variant, or pass --force")
        if before != wanted:
            raise CheckFailed(f"{where} is an index of {', '.join(before)}; publishing would "
                              f"change it to {', '.join(wanted)}",
                              hint="pass --force to replace it")
    if len(entries) == 1:
        (platform, body, media_type, _digest), = entries
        digest = client.put_manifest(tag, body, media_type)
        return Published(tag, digest, media_type, (platform,))
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": media_type, "digest": digest, "size": len(body),
                       "platform": _platform_dict(platform)}
                      for platform, body, media_type, digest in entries],
    }
    data = json.dumps(index, indent=2).encode()
    digest = client.put_manifest(tag, data, OCI_INDEX)
    return Published(tag, digest, OCI_INDEX, tuple(platforms))
