"""`sync publish`: ``<prefix>/deepracer-simapp:<version>-<variant>`` from the per-arch images.

Arguments -> ``sync.image.publish`` through the registry API (no engine): for each selected
variant, an OCI image index over the ``<version>-<variant>-<arch>`` tags `build --push` pushed
(one platform: that image's manifest under the plain name). Refuses (exit 1, naming the tag) to
change the platforms of an existing index, or replace an index by a single image, unless
``--force``.
"""

from __future__ import annotations

import argparse

from sync.config.version import VERSION_NAME, read_version
from sync.image.distribution import RegistryClient
from sync.image.publish import publish_variant
from sync.image.registry import parse_reference
from sync.render import DEFAULT_PREFIX, image_tag
from sync.ui import UI
from sync.workspace import Workspace


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `publish` and its options."""
    parser = subparsers.add_parser(
        "publish", parents=[common], help="tag <version>-<variant>: a multi-arch index",
        description="Assemble <prefix>/deepracer-simapp:<version>-<variant> through the "
                    "registry API from the per-architecture images `build --push` pushed.")
    parser.add_argument("--variant", action="append", metavar="NAME", default=None,
                        help="publish only this variant (repeatable; default: all)")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, metavar="PREFIX",
                        help=f"registry/organisation of the tags (default: {DEFAULT_PREFIX})")
    parser.add_argument("--force", action="store_true",
                        help="replace an index even when its set of platforms changes")
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                        help="allow plain HTTP to registry HOST[:PORT]")
    parser.set_defaults(handler=run, needs_workspace=True)


def run(args: argparse.Namespace, ui: UI, workspace: Workspace) -> int:
    """CLI adapter."""
    return publish(workspace, ui, names=args.variant, prefix=args.prefix, force=args.force,
                   insecure=tuple(args.insecure_registry))


def publish(workspace: Workspace, ui: UI, *, names: list[str] | None = None,
            prefix: str = DEFAULT_PREFIX, force: bool = False,
            insecure: tuple[str, ...] = ()) -> int:
    """Publish each selected variant's ``<version>-<variant>``; 0 when all were written."""
    manifest = workspace.manifest
    version = read_version(workspace.root / VERSION_NAME)
    results = []
    for variant in manifest.select_variants(names):
        reference = parse_reference(image_tag(prefix, version, variant.name))
        assert reference.tag is not None
        with RegistryClient(reference.registry, reference.repository,
                            insecure=insecure) as client:
            results.append(publish_variant(client, reference.tag,
                                           variant.platforms_or(manifest.platform),
                                           force=force))
    ui.emit_json({"version": version, "published": [
        {"tag": item.tag, "digest": item.digest, "media_type": item.media_type,
         "platforms": list(item.platforms)} for item in results]})
    table = ui.table("tag", "platforms", "digest")
    for item in results:
        table.add_row(item.tag, ", ".join(item.platforms), item.digest[:19] + "…")
    ui.print(table)
    return 0
