"""OCI documents: one platform rule (containerd's matcher), media types, size caps, schemas."""

from __future__ import annotations

import json

import pytest

from sync.errors import ImageError
from sync.image.oci import (
    DOCKER_MANIFEST,
    MAX_DOCUMENT,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Platform,
    choose_platform,
    load_json,
    parse_config,
    parse_document,
    parse_manifest,
)

HINT = "the image is damaged"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest(character: str) -> str:
    return "sha256:" + character * 64


# -- platforms -----------------------------------------------------------------------------------


@pytest.mark.parametrize("wanted, image", [
    ("linux/amd64", "linux/amd64"),
    ("linux/arm64", "linux/arm64/v8"),  # v8 is what arm64 means without a variant
    ("linux/arm64/v8", "linux/arm64"),
    ("linux/arm64", "linux/aarch64"),
    ("linux/amd64", "linux/x86_64"),
    ("linux/amd64", "linux/amd64/v1"),
    ("linux/arm/v7", "linux/arm"),  # arm without a variant is v7
    ("linux/arm/v7", "linux/armhf"),
    ("linux/arm/v6", "linux/armel"),
    ("linux/386", "linux/i386"),
    ("linux/amd64", "Linux/AMD64"),
])
def test_platforms_match_as_containerd_normalizes_them(wanted: str, image: str) -> None:
    assert Platform.parse(wanted).matches(Platform.parse(image))


@pytest.mark.parametrize("wanted, image", [
    ("linux/amd64", "linux/arm64"),
    ("linux/amd64", "windows/amd64"),
    ("linux/arm/v7", "linux/arm/v6"),  # a variant is not "any variant"
    ("linux/arm64", "linux/arm64/v9"),
    ("linux/amd64", "linux/amd64/v3"),
])
def test_other_platforms_and_variants_do_not_match(wanted: str, image: str) -> None:
    assert not Platform.parse(wanted).matches(Platform.parse(image))


def test_a_platform_is_read_from_a_descriptor_or_a_config() -> None:
    assert Platform.of({"os": "linux", "architecture": "arm64", "variant": "v8"}) == Platform(
        "linux", "arm64", "v8")
    assert Platform.of({"architecture": "amd64"}) is None
    assert Platform.of("linux/amd64") is None
    assert str(Platform("linux", "arm", "v7")) == "linux/arm/v7"
    assert str(Platform("linux", "amd64")) == "linux/amd64"


def entry(character: str, platform: str | None, media_type: str = OCI_MANIFEST) -> Descriptor:
    return Descriptor(media_type, digest(character), 100,
                      Platform.parse(platform) if platform else None)


def test_the_first_matching_entry_of_an_index_is_chosen() -> None:
    entries = [entry("a", "linux/arm/v6"), entry("b", "linux/arm64/v8"), entry("c", "linux/arm64")]
    chosen = choose_platform(entries, Platform.parse("linux/arm64"), "index", lambda _: None)
    assert chosen.digest == digest("b")


def test_an_entry_without_a_platform_is_asked_for_its_config() -> None:
    asked: list[str] = []

    def platform_of(found: Descriptor) -> Platform | None:
        asked.append(found.digest)
        return Platform.parse("linux/amd64")

    entries = [entry("a", "linux/arm64"), entry("b", None)]
    assert choose_platform(entries, Platform.parse("linux/amd64"), "index",
                           platform_of).digest == digest("b")
    assert asked == [digest("b")]  # entries that say their platform are not read


def test_no_matching_entry_is_an_error_listing_the_platforms() -> None:
    entries = [entry("a", "linux/arm64"), entry("b", "linux/amd64"), entry("c", "linux/arm64")]
    with pytest.raises(ImageError, match=r"index: no manifest for platform linux/s390x "
                                         r"\(available: linux/amd64, linux/arm64\)") as raised:
        choose_platform(entries, Platform.parse("linux/s390x"), "index", lambda _: None)
    assert "platform:" in (raised.value.hint or "")


# -- documents -----------------------------------------------------------------------------------


def manifest_document(**changes: object) -> bytes:
    document: dict[str, object] = {
        "schemaVersion": 2,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest("c"), "size": 10},
        "layers": [{"mediaType": LAYER_TYPE, "digest": digest("1"), "size": 20}],
    }
    document.update(changes)
    return json.dumps(document).encode()


def test_a_document_without_a_media_type_is_known_by_its_fields() -> None:
    assert parse_document(manifest_document(), None, "m", HINT).media_type == OCI_MANIFEST
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert parse_document(index, "text/plain", "i", HINT).media_type == OCI_INDEX
    assert parse_document(manifest_document(), DOCKER_MANIFEST, "m", HINT).media_type == \
        DOCKER_MANIFEST


def test_schema_1_manifests_are_refused() -> None:
    with pytest.raises(ImageError, match="schema 1"):
        parse_document(json.dumps({"schemaVersion": 1}).encode(), None, "m", HINT)


def test_documents_are_capped_before_they_are_parsed() -> None:
    with pytest.raises(ImageError, match=f"more than {MAX_DOCUMENT} bytes"):
        load_json(b" " * (MAX_DOCUMENT + 1), "m", HINT)
    with pytest.raises(ImageError, match="m: malformed JSON"):
        load_json(b"{not json", "m", HINT)


def test_a_manifest_lists_its_config_and_layers() -> None:
    manifest = parse_manifest(parse_document(manifest_document(), None, "m", HINT), HINT)
    assert manifest.config.digest == digest("c")
    assert [(layer.digest, layer.size) for layer in manifest.layers] == [(digest("1"), 20)]


@pytest.mark.parametrize("changes, message", [
    ({"config": {"mediaType": "application/x-helm", "digest": digest("c"), "size": 1}},
     "not a container image"),
    ({"layers": [{"mediaType": "application/x-squashfs", "digest": digest("1"), "size": 1}]},
     "unsupported layer media type"),
    ({"layers": [{"mediaType": LAYER_TYPE, "digest": "sha256:short", "size": 1}]},
     "invalid digest"),
    ({"layers": [{"mediaType": LAYER_TYPE, "digest": digest("1")}]}, "has no valid size"),
    ({"layers": "none"}, "missing or malformed 'layers'"),
])
def test_a_manifest_that_is_not_a_readable_image_is_an_error(changes: dict[str, object],
                                                            message: str) -> None:
    document = parse_document(manifest_document(**changes), None, "m", HINT)
    with pytest.raises(ImageError, match=message):
        parse_manifest(document, HINT)


def test_a_config_gives_its_platform_diff_ids_and_date() -> None:
    data = json.dumps({"os": "linux", "architecture": "arm64", "variant": "v8",
                       "created": "2024-01-01T00:00:00Z",
                       "rootfs": {"type": "layers", "diff_ids": [digest("d")]}}).encode()
    config = parse_config(data, "config", HINT)
    assert config.platform == Platform("linux", "arm64", "v8")
    assert config.diff_ids == (digest("d"),)
    assert config.created == "2024-01-01T00:00:00Z"
    with pytest.raises(ImageError, match="invalid diff_id"):
        parse_config(json.dumps({"rootfs": {"diff_ids": ["x"]}}).encode(), "config", HINT)
