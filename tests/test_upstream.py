"""Upstream: the trailers an upstream commit carries, and when a re-pull can stop early."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sync.config.manifest import parse_manifest
from sync.git import repo as gitrepo
from sync.git.repo import trailers
from sync.image.model import ImageInfo
from sync.upstream import Upstream, already_recorded, commit_message, mapping_fingerprint
from tests.series.builders import upstream_commit

MANIFEST = parse_manifest(
    "image: registry.example/simapp\ntag: '5.3'\npaths:\n"
    "  - {source: /opt/amazon, target: bundle, exclude: [/build/]}\n", "m.yaml")
INFO = ImageInfo(reference="registry.example/simapp:5.3", digest="sha256:" + "d" * 64,
                 image_id="sha256:" + "c" * 64, created="2026-11-01T10:00:00Z")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def recorded(message: str) -> Upstream:
    return Upstream.from_trailers(COMMIT, trailers(message))


def test_the_message_names_the_image_and_carries_the_identity_trailers():
    message = commit_message(MANIFEST, INFO)
    assert message == (
        "Upstream registry.example/simapp:5.3\n\n"
        "Upstream-Image: registry.example/simapp:5.3\n"
        f"Upstream-Digest: {INFO.digest}\n"
        "Upstream-Created: 2026-11-01T10:00:00Z\n"
        f"Upstream-Image-Id: {INFO.image_id}\n"
        f"Upstream-Mapping: {mapping_fingerprint(MANIFEST)}\n")
    found = trailers(message)
    assert found["Upstream-Image"] == "registry.example/simapp:5.3"
    assert found["Upstream-Digest"] == INFO.digest
    assert found["Upstream-Created"] == "2026-11-01T10:00:00Z"
    assert found["Upstream-Image-Id"] == INFO.image_id


def test_an_archive_without_registry_digest_omits_that_trailer():
    found = trailers(commit_message(MANIFEST, replace(INFO, digest=None)))
    assert "Upstream-Digest" not in found
    assert found["Upstream-Image-Id"] == INFO.image_id


def test_the_record_reads_back_every_trailer_the_message_wrote():
    upstream = recorded(commit_message(MANIFEST, INFO))
    assert upstream == Upstream(commit=COMMIT, image="registry.example/simapp:5.3",
                                digest=INFO.digest, image_id=INFO.image_id,
                                created="2026-11-01T10:00:00Z",
                                mapping=mapping_fingerprint(MANIFEST))
    assert upstream.has_record and upstream.tag == "5.3"
    assert hash(upstream) == hash(recorded(commit_message(MANIFEST, INFO)))


@pytest.mark.parametrize(("image", "tag"), [
    ("registry.example:5000/simapp:5.3", "5.3"),
    ("registry.example:5000/simapp", None),
    ("registry.example/simapp@sha256:" + "a" * 64, None),
])
def test_the_tag_is_read_from_the_image_reference(image: str, tag: str | None):
    assert Upstream(COMMIT, image).tag == tag


def test_the_same_image_under_the_same_mapping_is_already_recorded():
    upstream = recorded(commit_message(MANIFEST, INFO))
    assert already_recorded(upstream, MANIFEST, INFO)
    assert not already_recorded(upstream, MANIFEST, replace(INFO, image_id="sha256:" + "e" * 64))
    assert not already_recorded(None, MANIFEST, INFO)


def test_changing_the_mapping_forces_a_fresh_read():
    other = replace(MANIFEST, paths=(replace(MANIFEST.paths[0], exclude=("/log/",)),))
    assert mapping_fingerprint(other) != mapping_fingerprint(MANIFEST)
    upstream = recorded(commit_message(MANIFEST, INFO))
    assert not already_recorded(upstream, other, INFO)


def test_commits_not_made_by_pull_have_no_record():
    upstream = recorded("hand-made commit\n")
    assert not upstream.has_record
    assert upstream == Upstream(commit=COMMIT, image=None)
    assert not already_recorded(upstream, MANIFEST, INFO)
    # an image id alone is not a record: only pull writes Upstream-Image, and always does
    assert not recorded(f"hand-made\n\nUpstream-Image-Id: {INFO.image_id}\n").has_record


def test_a_commit_without_a_record_is_labelled_with_what_the_manifest_asks_for():
    labelled = recorded("hand-made commit\n").labelled_as(MANIFEST)
    assert (labelled.image, labelled.digest) == ("registry.example/simapp:5.3", None)
    upstream = recorded(commit_message(MANIFEST, INFO))
    assert upstream.labelled_as(replace(MANIFEST, tag="other")) is upstream


def test_read_from_a_commit_it_carries_the_commit_and_its_tree(tmp_path: Path):
    repo = gitrepo.init_repository(tmp_path / "repo")
    commit_id = upstream_commit(repo, {"bundle/a.txt": b"a\n"}, commit_message(MANIFEST, INFO))
    commit = gitrepo.commit_by_id(repo, str(commit_id))
    assert commit is not None
    upstream = Upstream.of(commit)
    assert upstream.commit == str(commit.id) and upstream.tree == str(commit.tree_id)
    assert upstream.image_id == INFO.image_id
