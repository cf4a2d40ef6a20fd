"""The ``docker-archive:PATH[:REFERENCE]`` source: a ``docker save`` tarball, read in place.

Both layouts ``docker save`` writes are read: the legacy one (``<id>/layer.tar``,
``<config>.json``, a manifest.json naming them) and the Docker 25+ one (an OCI layout whose
manifest.json points into ``blobs/``). REFERENCE picks an image by its RepoTags (or ``@N``, the
N-th image); without it the archive must hold exactly one. The config is checked against the
digest its name claims and must be for the wanted platform; layers are checked against their
digests (when their names are digests) and the config's diff_ids while they are read.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from sync.errors import ImageError
from sync.image.archive_files import HINT, LayoutBlobs, TarFiles
from sync.image.model import ImageInfo, Limits, OpenedImage
from sync.image.oci import (
    Platform,
    check_platform,
    digest_of,
    get_field,
    load_json,
    parse_config,
)
from sync.image.resolve import LayerBlob, layers_of, read_document, resolve_manifest


def open_docker_archive(files: TarFiles, reference: str | None, wanted: Platform,
                        limits: Limits) -> OpenedImage:
    """The image ``reference`` names in the archive (or its only one), for ``wanted``."""
    where = f"{files.where}: manifest.json"
    if not files.exists("manifest.json"):
        hint = ("this looks like an OCI layout: use oci-archive:" if files.exists("index.json")
                else "create it with `docker save IMAGE -o FILE`")
        raise ImageError(f"{files.where}: no manifest.json, not a docker save archive", hint=hint)
    entries = load_json(files.read("manifest.json"), where, HINT)
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict)
                                                                for e in entries):
        raise ImageError(f"{where}: expected a list of images", hint=HINT)
    entry, tag = _choose_image(entries, reference, where)
    config_name = _safe_member(get_field(entry, "Config", str, where, HINT), where)
    config_bytes = files.read(config_name)
    image_id = digest_of(config_bytes)
    named = _named_digest(config_name)
    if named is not None and named != image_id:
        raise ImageError(f"{files.where}: {config_name} does not match its name "
                         f"(its digest is {image_id})", hint=HINT)
    config_where = f"{files.where}: {config_name}"
    config = parse_config(config_bytes, config_where, HINT)
    check_platform(config, wanted, config_where)
    found = []
    for name in get_field(entry, "Layers", list, where, HINT):
        if not isinstance(name, str):
            raise ImageError(f"{where}: malformed layer entry {name!r}", hint=HINT)
        member = _safe_member(name, where)
        found.append(LayerBlob(files.opener(member), files.size(member), _named_digest(member)))
    info = ImageInfo(
        reference=tag or files.where,
        digest=_manifest_digest(files, image_id, wanted),
        image_id=image_id,
        created=config.created,
    )
    return OpenedImage(info=info, layers=layers_of(found, config, files.where, HINT, limits))


def _choose_image(entries: list[dict[str, Any]], reference: str | None,
                  where: str) -> tuple[dict[str, Any], str | None]:
    def tags(entry: dict[str, Any]) -> list[str]:
        value = entry.get("RepoTags") or []
        return [tag for tag in value if isinstance(tag, str)] if isinstance(value, list) else []

    if reference is None:
        if len(entries) == 1:
            found = tags(entries[0])
            return entries[0], found[0] if found else None
        choices = ", ".join(",".join(tags(e)) or f"@{i}" for i, e in enumerate(entries))
        raise ImageError(f"{where}: the archive holds {len(entries)} images ({choices})",
                         hint="pick one: docker-archive:PATH:REPO:TAG or docker-archive:PATH:@N")
    if re.fullmatch(r"@\d+", reference):
        number = int(reference[1:])
        if number >= len(entries):
            raise ImageError(f"{where}: no image {reference} (the archive holds {len(entries)})")
        found = tags(entries[number])
        return entries[number], found[0] if found else None
    wanted = _normalize_tag(reference)
    for entry in entries:
        for tag in tags(entry):
            if _normalize_tag(tag) == wanted:
                return entry, tag
    choices = ", ".join(tag for entry in entries for tag in tags(entry)) or "no tags"
    raise ImageError(f"{where}: no image tagged {reference!r} (the archive has: {choices})",
                     hint="use one of the listed tags, or @N for the N-th image")


def _normalize_tag(tag: str) -> str:
    """docker.io/library/x:latest, x:latest and x all name the same image."""
    name, _, version = tag.rpartition(":") if ":" in tag.rpartition("/")[2] else (tag, "", "")
    version = version or "latest"
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return f"{name}:{version}"


def _safe_member(name: str, where: str) -> str:
    normalized = posixpath.normpath(name.removeprefix("./")) if name else ""
    if (not normalized or normalized.startswith(("/", "../")) or normalized == ".."
            or "\0" in normalized):
        raise ImageError(f"{where}: unsafe or empty member name {name!r}", hint=HINT)
    return normalized


def _named_digest(name: str) -> str | None:
    """The digest a member's name claims: blobs/sha256/<hex> or <hex>.json (legacy config)."""
    match = re.fullmatch(r"blobs/(sha256|sha384|sha512)/([0-9a-f]+)", name)
    if match:
        return f"{match.group(1)}:{match.group(2)}"
    match = re.fullmatch(r"([0-9a-f]{64})\.json", name)
    return f"sha256:{match.group(1)}" if match else None


def _manifest_digest(files: TarFiles, image_id: str, wanted: Platform) -> str | None:
    """Docker 25+ archives carry the manifest too (index.json): its digest, if it is ours."""
    if not files.exists("index.json"):
        return None
    blobs = LayoutBlobs(files)
    for entry in blobs.index():
        try:
            manifest = resolve_manifest(blobs, read_document(blobs, entry), wanted)
        except ImageError:
            continue  # e.g. other platforms' blobs that docker save did not include
        if manifest.config.digest == image_id:
            return entry.digest
    return None
