"""What an upstream commit records about the image it came from: the one ``Upstream`` type.

Each commit on the upstream branch carries trailers naming the image, its registry digest, its
config digest (which pins the root filesystem's content) and a fingerprint of the path mapping.
Together they let a re-pull of the same image stop before reading a single layer, let
``pull --check`` tell whether upstream moved, let ``check`` and ``patches`` measure the series
against that commit, and let ``render`` label images with the upstream digest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from sync.config.manifest import Manifest
from sync.errors import ImageError
from sync.git import Commit
from sync.git.repo import trailers
from sync.image.gitfiles import Dropped, shown
from sync.image.model import ImageInfo
from sync.untrusted import control_character

# Bump when normalization rules change, so that equal inputs are re-read under the new rules.
# 2: git-special files are dropped (sync.image.gitfiles)
NORMALIZATION_VERSION = 2

TRAILER_IMAGE = "Upstream-Image"
TRAILER_DIGEST = "Upstream-Digest"
TRAILER_CREATED = "Upstream-Created"
TRAILER_IMAGE_ID = "Upstream-Image-Id"
TRAILER_MAPPING = "Upstream-Mapping"
TRAILER_ADOPTED = "Upstream-Adopted-From"
TRAILER_DROPPED = "Upstream-Dropped"
MAX_DROPPED_TRAILERS = 100


@dataclass(frozen=True)
class Upstream:
    """An upstream commit and the image identity its trailers record.

    A commit not made by ``pull`` (no ``Upstream-Image`` trailer) records nothing: every image
    field is None and ``has_record`` is False.
    """

    commit: str
    image: str | None  # how the image was asked for: repo:tag, or repo@digest when pinned
    digest: str | None = None  # the registry (repo) digest; None for an image read from an archive
    image_id: str | None = None  # the config digest: identifies the content in every case
    created: str | None = None  # the image config's creation time, RFC 3339
    mapping: str | None = None  # ``mapping_fingerprint`` of the manifest it was read under
    tree: str | None = None  # the commit's tree: the upstream files under their targets

    @classmethod
    def from_trailers(cls, commit: str, found: dict[str, str],
                      tree: str | None = None) -> Upstream:
        """The record in the trailers ``found`` of ``commit``; only the ids without one."""
        if TRAILER_IMAGE not in found:
            return cls(commit=commit, image=None, tree=tree)
        return cls(commit=commit, image=found[TRAILER_IMAGE], digest=found.get(TRAILER_DIGEST),
                   image_id=found.get(TRAILER_IMAGE_ID), created=found.get(TRAILER_CREATED),
                   mapping=found.get(TRAILER_MAPPING), tree=tree)

    @classmethod
    def of(cls, commit: Commit) -> Upstream:
        """What ``commit`` records (read from its message's trailers)."""
        return cls.from_trailers(str(commit.id), trailers(commit.message), str(commit.tree_id))

    @property
    def has_record(self) -> bool:
        """True when the commit was made by ``pull`` and names its image."""
        return self.image is not None

    @property
    def tag(self) -> str | None:
        """The tag of ``image`` (None when pinned by digest or nothing is recorded)."""
        if self.image is None or "@" in self.image:
            return None
        name = self.image.rsplit("/", 1)[-1]
        return name.split(":", 1)[1] if ":" in name else None

    def labelled_as(self, manifest: Manifest) -> Upstream:
        """This commit, labelled with what ``manifest`` asks for when it records no image."""
        if self.has_record:
            return self
        return replace(self, image=manifest.reference, digest=manifest.digest)


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


def commit_message(manifest: Manifest, info: ImageInfo, label: str | None = None) -> str:
    """``Upstream <image>:<tag>`` followed by the identity trailers; ``label`` names the image
    actually read when it is not the manifest's (see ``read_label``)."""
    label = label or image_label(manifest)
    lines = [f"Upstream {label}", ""]
    lines.append(f"{TRAILER_IMAGE}: {label}")
    if info.digest:
        lines.append(f"{TRAILER_DIGEST}: {info.digest}")
    if info.created:
        lines.append(f"{TRAILER_CREATED}: {info.created}")
    lines.append(f"{TRAILER_IMAGE_ID}: {info.image_id}")
    lines.append(f"{TRAILER_MAPPING}: {mapping_fingerprint(manifest)}")
    for line in lines:
        if control_character(line) is not None:  # ImageInfo refuses these already: belt and braces
            raise ImageError(f"refusing to record {line!r}: it contains a control character",
                             hint="nothing was written")
    return "\n".join(lines) + "\n"


def with_dropped(message: str, dropped: Sequence[Dropped]) -> str:
    """``message`` with one ``Upstream-Dropped: <path> (<reason>)`` trailer per git-special
    file left out of the tree (at most ``MAX_DROPPED_TRAILERS``, then how many more).

    Paths that are not printable are quoted, so that a name cannot add a line.
    """
    lines = [f"{TRAILER_DROPPED}: {shown(item.path)} ({item.reason})"
             for item in dropped[:MAX_DROPPED_TRAILERS]]
    if len(dropped) > MAX_DROPPED_TRAILERS:
        lines.append(f"{TRAILER_DROPPED}: {len(dropped) - MAX_DROPPED_TRAILERS} more")
    return message + "".join(f"{line}\n" for line in lines)


def adopted_message(manifest: Manifest, rev: str) -> str:
    """The message of an upstream commit `adopt` made from commit ``rev``'s targets: where it
    came from, and no image identity (none is known; the next `pull` imports the image)."""
    return (f"Upstream {image_label(manifest)} (adopted from commit {rev[:12]})\n\n"
            f"{TRAILER_ADOPTED}: {rev}\n{TRAILER_MAPPING}: {mapping_fingerprint(manifest)}\n")


_REFERENCE = re.compile(r"[a-z0-9][a-z0-9._/:-]*(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})")


def read_label(manifest: Manifest, info: ImageInfo) -> tuple[str, str | None]:
    """The reference to record for the image read, and a note when it is not the manifest's.

    An image named otherwise than the manifest asks (``--from docker://other:tag``, an archive
    tagged differently) is recorded under its own name; an archive that names no image is
    recorded under the manifest's repository without a tag (its image id identifies it), never
    under a tag it was not read from.
    """
    wanted = manifest.reference
    if info.reference == wanted:
        return wanted, None
    if _REFERENCE.fullmatch(info.reference):
        return info.reference, (f"read {info.reference}, not {wanted} as the manifest says: "
                                f"recording {info.reference}")
    return manifest.image, (f"{info.reference} names no image: recording it as "
                            f"{manifest.image} (no tag; image id {info.image_id}), not {wanted}")


def already_recorded(upstream: Upstream | None, manifest: Manifest, info: ImageInfo) -> bool:
    """True when the tip already holds exactly this image's content under this mapping."""
    return (upstream is not None and upstream.has_record and upstream.image_id == info.image_id
            and upstream.mapping == mapping_fingerprint(manifest))
