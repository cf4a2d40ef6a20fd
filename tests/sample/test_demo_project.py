"""The demo's project files: shipped as package data, and the same as the project's own."""

from __future__ import annotations

from pathlib import Path

import yaml

from sync.config.manifest import load_manifest, parse_manifest
from sync.sample import SAMPLE_MANIFEST, demo_project, sample_image
from sync.sample.specs import File

PROJECT = Path(__file__).resolve().parents[2]
COPY_HINT = "the demo ships a copy of the project's {0}: cp {0} sync/sample/data/"


def test_the_template_and_version_are_the_projects_own():
    assert demo_project.template() == (PROJECT / "Dockerfile.j2").read_bytes(), \
        COPY_HINT.format("Dockerfile.j2")
    assert demo_project.version() == (PROJECT / "VERSION").read_bytes(), COPY_HINT.format("VERSION")


def test_the_image_files_are_the_projects_own():
    hint = "refresh the demo's copy: python3 -m sync.sample.demo_project"
    shipped = demo_project.image_files()
    assert set(shipped) >= {".dockerignore", "docker/requirements.txt",
                            "docker/files/robomaker/run.sh"}, hint
    for name, (mode, content) in shipped.items():
        path = PROJECT / name
        assert path.is_file() and path.read_bytes() == content, f"{name}: {hint}"
        assert mode == (0o755 if path.stat().st_mode & 0o111 else 0o644), f"{name}: {hint}"
    assert demo_project.pack_image_files(PROJECT) == demo_project.data_file(
        demo_project.IMAGE_FILES), hint  # nothing added or removed either


def test_the_variants_are_the_projects_own():
    shipped = yaml.safe_load(demo_project.variants())
    assert set(shipped) == {"variants"}
    demo = parse_manifest(f"{SAMPLE_MANIFEST}\n{demo_project.variants()}", "demo manifest")
    assert demo.variants == load_manifest(PROJECT / "upstream-manifest.yaml").variants, \
        "copy the variants: section of upstream-manifest.yaml to sync/sample/data/variants.yaml"


def test_every_patch_of_the_series_edits_the_sample_as_of_version_1():
    files = {entry.path: entry.content for layer in sample_image(1).layers
             for entry in layer.entries if isinstance(entry, File)}
    for patch in demo_project.SERIES:
        content = files[f"opt/amazon/{patch.path}"]
        assert isinstance(content, bytes) and patch.old.encode() in content, patch.name
