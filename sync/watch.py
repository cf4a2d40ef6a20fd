"""Is there a new upstream? The image the upstream branch records against the one served now.

``pull --check`` asks the source for the current identity of the manifest's image (no layer is
downloaded, see ``sync.image.current``) and compares it with the trailers of the upstream
branch's tip: by registry digest when both sides have one, else by image id (config digest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.config.manifest import Manifest
from sync.git import Repository
from sync.git import repo as gitrepo
from sync.image.current import CurrentImage
from sync.upstream import Upstream


@dataclass(frozen=True)
class UpstreamWatch:
    """The recorded upstream image and the current one, and whether they differ."""

    image: str  # the manifest's image reference (repo:tag or repo@digest)
    tag: str | None
    branch: str
    commit: str | None  # the upstream branch's tip, None before the first pull
    recorded: Upstream | None  # None when the tip records no image (or there is no tip)
    current: CurrentImage

    @property
    def compared_by(self) -> str | None:
        """"digest", "image id", or None when the two sides share no identity to compare."""
        if self.recorded is None:
            return None
        if self.recorded.digest and self.current.digest:
            return "digest"
        if self.recorded.image_id and self.current.image_id:
            return "image id"
        return None

    @property
    def outdated(self) -> bool:
        """True when a pull would bring another image (or nothing was pulled yet)."""
        if self.compared_by == "digest":
            return self.recorded is not None and self.recorded.digest != self.current.digest
        if self.compared_by == "image id":
            return self.recorded is not None and self.recorded.image_id != self.current.image_id
        return True

    @property
    def old(self) -> str | None:
        """The recorded identity, in the terms compared."""
        if self.recorded is None:
            return None
        if self.compared_by == "image id":
            return self.recorded.image_id
        return self.recorded.digest or self.recorded.image_id

    @property
    def new(self) -> str | None:
        if self.compared_by == "image id":
            return self.current.image_id
        return self.current.digest or self.current.image_id

    def as_json(self) -> dict[str, Any]:
        recorded = None
        if self.recorded is not None:
            recorded = {"commit": self.commit, "image": self.recorded.image,
                        "digest": self.recorded.digest, "image_id": self.recorded.image_id,
                        "created": self.recorded.created}
        return {"image": self.image, "tag": self.tag, "branch": self.branch,
                "outdated": self.outdated, "compared_by": self.compared_by,
                "old": self.old, "new": self.new, "recorded": recorded,
                "current": self.current.as_json()}


def watch_upstream(repo: Repository, manifest: Manifest,
                   current: CurrentImage) -> UpstreamWatch:
    """Compare ``current`` with what the tip of the manifest's upstream branch records."""
    tip = gitrepo.branch_tip(repo, manifest.branch)
    upstream = Upstream.of(tip) if tip is not None else None
    record = upstream if upstream is not None and upstream.has_record else None
    return UpstreamWatch(image=manifest.reference, tag=None if manifest.digest else
                         (manifest.tag or "latest"), branch=manifest.branch,
                         commit=str(tip.id) if tip else None, recorded=record, current=current)
