"""Is there a new upstream? The recorded image against the current one, by digest first."""

from __future__ import annotations

from sync.image.current import CurrentImage
from sync.upstream import Upstream
from sync.watch import UpstreamWatch

OLD, NEW = "sha256:" + "1" * 64, "sha256:" + "2" * 64
OLD_ID, NEW_ID = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def watch(recorded: Upstream | None, current: CurrentImage) -> UpstreamWatch:
    return UpstreamWatch("example.org/simapp:latest", "latest", "upstream",
                         recorded.commit if recorded else None, recorded, current)


def recorded(digest: str | None = OLD, image_id: str | None = OLD_ID) -> Upstream:
    return Upstream("c" * 40, "example.org/simapp:latest", digest, image_id)


def current(digest: str | None = OLD, image_id: str | None = OLD_ID) -> CurrentImage:
    return CurrentImage("example.org/simapp:latest", "docker://", digest, image_id, None)


def test_the_same_digest_is_up_to_date():
    found = watch(recorded(), current())
    assert (found.compared_by, found.outdated) == ("digest", False)


def test_a_moved_tag_is_outdated_from_old_to_new_digest():
    found = watch(recorded(), current(NEW, NEW_ID))
    assert (found.outdated, found.old, found.new) == (True, OLD, NEW)


def test_the_digest_decides_even_when_the_content_is_the_same():
    # a re-pushed manifest (new digest) of the same config: a pull would record the new digest
    assert watch(recorded(), current(NEW, OLD_ID)).outdated


def test_without_a_digest_on_one_side_the_image_ids_are_compared():
    archive = current(None, OLD_ID)  # an archive read has no registry digest
    found = watch(recorded(), archive)
    assert (found.compared_by, found.outdated) == ("image id", False)
    assert watch(recorded(), current(None, NEW_ID)).old == OLD_ID


def test_the_engine_gives_a_digest_only():
    engine = current(NEW, None)
    assert watch(recorded(), engine).outdated
    assert watch(recorded(digest=None), engine).compared_by is None  # nothing to compare


def test_nothing_to_compare_or_nothing_pulled_is_outdated():
    assert watch(recorded(digest=None), current(NEW, None)).outdated
    nothing = watch(None, current())
    assert nothing.outdated and nothing.old is None and nothing.new == OLD
    assert nothing.as_json()["recorded"] is None
