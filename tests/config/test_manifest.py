"""upstream-manifest.yaml: the key names are a contract; bad input names the key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config.manifest import PathMapping, load_manifest, parse_manifest
from sync.errors import ConfigError

REAL_MANIFEST = """\
image: public.ecr.aws/k1d3r4z1/deepracer-sim-public
tag: latest
platform: linux/amd64
branch: upstream
paths:
  - source: /opt/amazon
    target: bundle
    exclude: [/build/, /install/, /log/, "*.psd", "__pycache__/", "*.pyc"]
"""


def parse(text: str):
    return parse_manifest(text, "upstream-manifest.yaml")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as raised:
        parse(text)
    assert raised.value.exit_code == 2
    return raised.value.message


def test_the_real_manifest_parses_into_frozen_dataclasses():
    manifest = parse(REAL_MANIFEST)
    assert manifest.image == "public.ecr.aws/k1d3r4z1/deepracer-sim-public"
    assert manifest.reference == "public.ecr.aws/k1d3r4z1/deepracer-sim-public:latest"
    assert manifest.platform == "linux/amd64"
    assert manifest.branch == "upstream"
    assert manifest.paths == (PathMapping("/opt/amazon", "bundle", (
        "/build/", "/install/", "/log/", "*.psd", "__pycache__/", "*.pyc")),)
    with pytest.raises(AttributeError):
        manifest.image = "other"  # type: ignore[misc]
    assert hash(manifest) == hash(parse(REAL_MANIFEST))  # usable as a key, e.g. for a cache


def test_the_repository_manifest_is_valid():
    root = Path(__file__).resolve().parents[2]
    manifest = load_manifest(root / "upstream-manifest.yaml")
    assert manifest.paths[0].source == "/opt/amazon"
    assert manifest.paths[0].target == "bundle"


def test_a_digest_wins_over_the_tag():
    digest = "sha256:" + "ab" * 32
    manifest = parse(REAL_MANIFEST.replace("tag: latest", f"tag: latest\ndigest: {digest}"))
    assert manifest.reference == f"public.ecr.aws/k1d3r4z1/deepracer-sim-public@{digest}"


def test_defaults_for_platform_and_branch():
    manifest = parse("image: example/app\npaths:\n  - {source: /opt/app, target: app}\n")
    assert (manifest.platform, manifest.branch, manifest.tag) == ("linux/amd64", "upstream", None)
    assert manifest.reference == "example/app:latest"


def test_several_mappings_are_allowed():
    manifest = parse("image: x/y\npaths:\n  - {source: /opt/amazon, target: bundle}\n"
                     "  - {source: /etc/ros, target: etc/ros}\n")
    assert manifest.targets == ("bundle", "etc/ros")


@pytest.mark.parametrize(("text", "expected"), [
    (REAL_MANIFEST + "colour: blue\n", "upstream-manifest.yaml:9: colour: unknown key"),
    (REAL_MANIFEST.replace("    exclude", "    excludes"),
     "upstream-manifest.yaml:8: paths[0].excludes: unknown key"),
    (REAL_MANIFEST.replace("tag: latest", "tag: 3"),
     "upstream-manifest.yaml:2: tag: must be a string"),
    (REAL_MANIFEST.replace("source: /opt/amazon", "source: opt/amazon"),
     "upstream-manifest.yaml:6: paths[0].source: 'opt/amazon' must be an absolute path"),
    (REAL_MANIFEST.replace("target: bundle", "target: ../bundle"),
     "upstream-manifest.yaml:7: paths[0].target: '../bundle' must not contain '..'"),
    (REAL_MANIFEST.replace("target: bundle", "target: /bundle"),
     "upstream-manifest.yaml:7: paths[0].target: '/bundle' must be a path relative"),
    (REAL_MANIFEST.replace("target: bundle", "target: .git/hooks"),
     "paths[0].target: '.git/hooks' must not be inside .git"),
    (REAL_MANIFEST.replace('exclude: [/build/, /install/, /log/, "*.psd", "__pycache__/", "*.pyc"]',
                           "exclude: /build/"),
     "upstream-manifest.yaml:8: paths[0].exclude: must be a list of strings"),
    (REAL_MANIFEST.replace("digest", "x") + "digest: sha256:abc\n",
     "upstream-manifest.yaml:9: digest: 'sha256:abc' must look like sha256:<64 hex digits>"),
    (REAL_MANIFEST.replace("branch: upstream", "branch: bad..name"),
     "upstream-manifest.yaml:4: branch: 'bad..name' is not a valid branch name"),
    ("image: x/y\n", "upstream-manifest.yaml:1: paths: required key is missing"),
    ("image: x/y\npaths: []\n", "paths: must list at least one"),
    ("image: x/y:latest\npaths: [{source: /a, target: a}]\n", "image: must be a repository name"),
    ("image: [unclosed\n", "upstream-manifest.yaml:2: invalid YAML"),
    ("", "upstream-manifest.yaml: empty manifest"),
    ("image: x/y\nimage: x/z\npaths: [{source: /a, target: a}]\n",
     "upstream-manifest.yaml:2: image: duplicate key"),
])
def test_bad_input_names_the_key_and_line(text: str, expected: str):
    assert expected in error_of(text)


def test_overlapping_targets_are_refused_naming_both():
    message = error_of("image: x/y\npaths:\n  - {source: /opt/a, target: bundle}\n"
                       "  - {source: /opt/b, target: bundle/extra}\n")
    assert "upstream-manifest.yaml:4: paths[1].target" in message
    assert "'bundle/extra' overlaps the target 'bundle'" in message


def test_a_missing_manifest_says_where_it_looked(tmp_path: Path):
    with pytest.raises(ConfigError) as raised:
        load_manifest(tmp_path / "upstream-manifest.yaml")
    assert str(tmp_path / "upstream-manifest.yaml") in raised.value.message
    assert raised.value.hint
