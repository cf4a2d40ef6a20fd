"""Class 6 of issue 11: ``render`` and the other writers refuse a symlinked folder on the output
path (not just a symlinked file), so nothing is written outside the repository."""

from __future__ import annotations

import shutil
from pathlib import Path

from sync.cli import main
from sync.untrusted import symlinked_folder
from tests.commands.test_render import project_with_series
from tests.hostile.state import snapshot


def test_the_first_symlinked_or_non_folder_component_is_found(tmp_path: Path):
    (tmp_path / "real" / "deeper").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "real" / "link").symlink_to(tmp_path / "outside")
    (tmp_path / "file").write_text("x")
    assert symlinked_folder(tmp_path, "real/deeper/out.txt") is None
    assert symlinked_folder(tmp_path, "real/missing/out.txt") is None
    assert symlinked_folder(tmp_path, "real/link/out.txt") == "real/link"
    assert symlinked_folder(tmp_path, "real/link/a/b/out.txt") == "real/link"
    assert symlinked_folder(tmp_path, "file/out.txt") == "file"


def test_render_refuses_a_symlinked_output_folder_and_writes_nothing(tmp_path: Path):
    project = project_with_series(tmp_path / "p")
    outside = tmp_path / "outside"
    shutil.move(project.root / "docker", outside)  # its files now live outside the repository
    (project.root / "docker").symlink_to(outside, target_is_directory=True)
    before, kept = snapshot(project.root), sorted(outside.iterdir())
    result = project.run("render")
    assert result.code == 2
    assert "docker: is a symbolic link" in result.err and "Traceback" not in result.err
    assert sorted(outside.iterdir()) == kept and not any(
        path.name.startswith(("Dockerfile.", ".Dockerfile")) for path in kept)
    assert snapshot(project.root) == before


def test_ci_init_refuses_a_symlinked_workflow_folder(repo_dir: Path, tmp_path: Path):
    (repo_dir / "upstream-manifest.yaml").write_text(
        "image: example.local/simapp\ntag: v1\npaths:\n  - {source: /opt/amazon, target: bundle}\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo_dir / ".github").symlink_to(outside, target_is_directory=True)
    assert main(["ci", "init", "-C", str(repo_dir)]) == 2
    assert list(outside.iterdir()) == []
