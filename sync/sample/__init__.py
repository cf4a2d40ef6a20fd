"""The built-in sample upstream image and the demo's project files (package data), not test helpers.

``content`` describes the sample image in two versions; ``specs``, ``layer_writer`` and
``image_writer`` describe and write image content as ``docker save`` archives; ``demo_project``
holds what ``sync demo`` puts in its throw-away repository. Test-only builders (adversarial
entries, OCI layouts, registry images) live in ``tests/builders/``.
"""

from sync.sample.content import SAMPLE_IMAGE, SAMPLE_MANIFEST, sample_image, write_sample

__all__ = ["SAMPLE_IMAGE", "SAMPLE_MANIFEST", "sample_image", "write_sample"]
