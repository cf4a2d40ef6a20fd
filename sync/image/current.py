"""What the upstream image is now, read without downloading a layer (``pull --check``).

Each source answers from the smallest document that names the image: the registry from its
manifest (and the small config blob, for the image id and creation date), the engine from its
distribution endpoint (a digest only), an archive from its index or ``manifest.json`` and config.
Layers are described but never opened.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sync.config.manifest import Manifest
from sync.errors import ConfigError
from sync.image.model import ImageInfo

REGISTRY = "docker://"
DAEMON = "docker-daemon:"
ARCHIVES = ("docker-archive:", "oci-archive:", "oci:")


@dataclass(frozen=True)
class CurrentImage:
    """The image a pull would read now, as far as its source tells without layers."""

    reference: str  # what was asked for
    source: str  # the --from transport
    digest: str | None  # the registry digest, when the source knows it
    image_id: str | None  # the config digest (not known through the engine)
    created: str | None

    @classmethod
    def from_info(cls, info: ImageInfo, source: str) -> CurrentImage:
        return cls(info.reference, source, info.digest, info.image_id, info.created)

    def as_json(self) -> dict[str, str | None]:
        return {"reference": self.reference, "source": self.source, "digest": self.digest,
                "image_id": self.image_id, "created": self.created}


def current_image(spec: str, manifest: Manifest, *,
                  insecure_registries: Collection[str] = ()) -> CurrentImage:
    """Ask the source named by ``spec`` (``--from``) what the manifest's image is now."""
    if spec.startswith(REGISTRY):
        from sync.image.registry import open_registry_image, source_reference

        # one worker: a layer would only download when opened, and none is
        with open_registry_image(manifest, source_reference(spec), workers=1,
                                 insecure=tuple(insecure_registries)) as opened:
            return CurrentImage.from_info(opened.info, REGISTRY)
    if spec.startswith(ARCHIVES):
        from sync.image.archive import open_archive

        with open_archive(spec, manifest.platform) as opened:
            return CurrentImage.from_info(opened.info, spec.partition(":")[0] + ":")
    if spec == DAEMON:
        from sync.image.daemon import registry_digest

        return CurrentImage(manifest.reference, DAEMON, registry_digest(manifest), None, None)
    raise ConfigError(f"--from {spec}: unknown transport",
                      hint="use docker-daemon:, docker://[REF], docker-archive:PATH, "
                           "oci-archive:PATH or oci:DIR")
