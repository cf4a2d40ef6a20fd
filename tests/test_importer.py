"""The importer: an image's mapped paths become one commit on the upstream branch, or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config.manifest import load_manifest
from sync.errors import ConfigError
from sync.git import repo as gitrepo
from sync.importer import image_opener, import_image
from sync.sample import SAMPLE_MANIFEST, sample_image
from tests.builders.images import write_docker_archive


@pytest.fixture
def project(repo_dir: Path) -> Path:
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    return repo_dir


def run(project: Path, archive: Path, **options: object):
    repo = gitrepo.open_repository(project)
    manifest = load_manifest(project / "upstream-manifest.yaml")
    with image_opener(f"docker-archive:{archive}", manifest)(None) as opened:
        return import_image(repo, manifest, opened, **options)  # type: ignore[arg-type]


def test_a_new_image_is_one_commit_and_the_branch_moves_to_it(project: Path, tmp_path: Path):
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    outcome = run(project, tmp_path / "v1.tar")
    assert outcome.changed and outcome.previous is None and outcome.read_layers
    tip = gitrepo.branch_tip(gitrepo.open_repository(project), "upstream")
    assert tip is not None and str(tip.id) == outcome.commit
    assert outcome.files_changed == outcome.report.files > 0


def test_the_same_image_again_reads_no_layer_and_commits_nothing(project: Path, tmp_path: Path):
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    first = run(project, tmp_path / "v1.tar")
    again = run(project, tmp_path / "v1.tar")
    assert (again.changed, again.read_layers, again.commit) == (False, False, first.commit)
    reread = run(project, tmp_path / "v1.tar", reread=True)
    assert (reread.changed, reread.read_layers, reread.commit) == (False, True, first.commit)


def test_a_new_version_counts_what_changed_against_the_previous_tip(project: Path,
                                                                    tmp_path: Path):
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    write_docker_archive(tmp_path / "v2.tar", sample_image(2))
    first = run(project, tmp_path / "v1.tar")
    second = run(project, tmp_path / "v2.tar")
    assert second.changed and second.previous == first.commit
    assert second.files_changed > 0 and second.insertions + second.deletions > 0


def test_a_pinned_digest_the_image_lacks_is_a_warning_not_a_guess(project: Path,
                                                                 tmp_path: Path):
    pinned = SAMPLE_MANIFEST + f"digest: sha256:{'ab' * 32}\n"
    (project / "upstream-manifest.yaml").write_text(pinned)
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    warnings: list[str] = []
    run(project, tmp_path / "v1.tar", warn=warnings.append)
    assert warnings and "cannot confirm the pinned" in warnings[0]


def test_an_unknown_transport_is_a_config_error(project: Path):
    manifest = load_manifest(project / "upstream-manifest.yaml")
    with pytest.raises(ConfigError, match="--from ftp://x: unknown transport"):
        image_opener("ftp://x", manifest)
    with pytest.raises(ConfigError, match="the image is named by the manifest"):
        image_opener("docker-daemon:other:tag", manifest)
