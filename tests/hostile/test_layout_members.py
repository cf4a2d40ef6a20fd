"""Class 8 of issue 11: OCI layout members must be regular files; a FIFO, a device or a symlink
to either is refused by name without being opened (opening a FIFO would hang the pull)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sync.sample import SAMPLE_MANIFEST, sample_image
from tests.builders.images import write_oci_layout
from tests.hostile.state import snapshot

ROOT = Path(__file__).resolve().parents[2]


def pull(project: Path, source: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, so that a hang is a failed test, not a stuck session."""
    return subprocess.run([sys.executable, "-m", "sync", "pull", "-C", str(project), "--from",
                           source], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def plant(path: Path, kind: str, tmp_path: Path) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device-link":
        path.symlink_to("/dev/zero")
    elif kind == "fifo-link":
        os.mkfifo(tmp_path / "elsewhere.fifo")
        path.symlink_to(tmp_path / "elsewhere.fifo")
    else:
        path.mkdir()


@pytest.mark.parametrize("member", ["layer", "config", "index.json", "oci-layout"])
@pytest.mark.parametrize("kind, shown", [
    ("fifo", "is a FIFO"), ("device-link", "is a device"), ("fifo-link", "is a FIFO"),
    ("folder", "is a folder"),
])
def test_a_member_that_is_not_a_regular_file_is_refused_unopened(
        repo_dir: Path, tmp_path: Path, member: str, kind: str, shown: str):
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    layout = tmp_path / "layout"
    built = write_oci_layout(layout, sample_image(1))[0]
    digest = {"layer": built.layers[0].digest, "config": built.config_digest}.get(member)
    name = f"blobs/sha256/{digest[7:]}" if digest else member
    plant(layout / name, kind, tmp_path)
    before = snapshot(repo_dir)
    done = pull(repo_dir, f"oci:{layout}")
    assert done.returncode == 2, done.stderr
    assert f"{name} {shown}, not a regular file" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(repo_dir) == before
