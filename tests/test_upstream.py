"""The trailers an upstream commit carries, and when a re-pull can stop early."""

from __future__ import annotations

from dataclasses import replace

from sync.config.manifest import parse_manifest
from sync.git.repo import trailers
from sync.image.model import ImageInfo
from sync.upstream import UpstreamRecord, already_recorded, commit_message, mapping_fingerprint

MANIFEST = parse_manifest(
    "image: registry.example/simapp\ntag: '5.3'\npaths:\n"
    "  - {source: /opt/amazon, target: bundle, exclude: [/build/]}\n", "m.yaml")
INFO = ImageInfo(reference="registry.example/simapp:5.3", digest="sha256:" + "d" * 64,
                 image_id="sha256:" + "c" * 64, created="2026-11-01T10:00:00Z")


def test_the_message_names_the_image_and_carries_the_identity_trailers():
    message = commit_message(MANIFEST, INFO)
    assert message.splitlines()[0] == "Upstream registry.example/simapp:5.3"
    found = trailers(message)
    assert found["Upstream-Image"] == "registry.example/simapp:5.3"
    assert found["Upstream-Digest"] == INFO.digest
    assert found["Upstream-Created"] == "2026-11-01T10:00:00Z"
    assert found["Upstream-Image-Id"] == INFO.image_id


def test_an_archive_without_registry_digest_omits_that_trailer():
    found = trailers(commit_message(MANIFEST, replace(INFO, digest=None)))
    assert "Upstream-Digest" not in found
    assert found["Upstream-Image-Id"] == INFO.image_id


def test_the_same_image_under_the_same_mapping_is_already_recorded():
    record = UpstreamRecord.from_trailers(trailers(commit_message(MANIFEST, INFO)))
    assert already_recorded(record, MANIFEST, INFO)
    assert not already_recorded(record, MANIFEST, replace(INFO, image_id="sha256:" + "e" * 64))
    assert not already_recorded(None, MANIFEST, INFO)


def test_changing_the_mapping_forces_a_fresh_read():
    other = replace(MANIFEST, paths=(replace(MANIFEST.paths[0], exclude=("/log/",)),))
    assert mapping_fingerprint(other) != mapping_fingerprint(MANIFEST)
    record = UpstreamRecord.from_trailers(trailers(commit_message(MANIFEST, INFO)))
    assert not already_recorded(record, other, INFO)


def test_commits_not_made_by_pull_have_no_record():
    assert UpstreamRecord.from_trailers(trailers("hand-made commit\n")) is None
