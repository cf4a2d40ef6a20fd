"""The demo's project: its template, VERSION, variants and community series, as package data.

``sync demo`` builds a throw-away repository from these, so it needs no checkout: the files in
``sync/sample/data/`` ship inside the package (pyproject.toml declares them). The template,
VERSION, variants and image files (``image-files.tar``: .dockerignore, docker/requirements.txt,
docker/files/) are copies of the project's own (a test keeps them equal); the series is a
handful of community patches, each meeting one interesting case on the way from sample version
1 to version 2.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DATA = "data"
# what the template copies from the repository besides the bundle, as one archive in data/
IMAGE_FILES = "image-files.tar"
IMAGE_FILE_PATHS = (".dockerignore", "docker/requirements.txt", "docker/files")


@dataclass(frozen=True)
class DemoPatch:
    """A community patch of the demo: one textual edit of one sample file (as of version 1)."""

    name: str
    subject: str
    description: str
    path: str  # under bundle/
    old: str
    new: str


# What each patch meets when upstream moves from sample version 1 to version 2 (sync.sample).
SERIES = (
    DemoPatch("0001-ros-log-dir.patch", "Keep ROS logs in a writable folder",
              "Clean: upstream leaves the start script alone.", "bin/start.sh",
              "#!/bin/sh\n", '#!/bin/sh\nexport ROS_LOG_DIR="${ROS_LOG_DIR:-/tmp/ros}"\n'),
    DemoPatch("0002-reward-scale.patch", "Double the speed reward",
              "Offset: upstream adds a header above the reward function.", "markov/agent.py",
              "    return float(speed) * 1.0\n", "    return float(speed) * 2.0\n"),
    DemoPatch("0003-tensorflow-2.13.patch", "Move to TensorFlow 2.13",
              "3-way merge: upstream bumps numpy two lines below.", "configs/environment.yml",
              "  - tensorflow==2.12\n", "  - tensorflow==2.13\n"),
    DemoPatch("0004-respawn-agent.patch", "Respawn the agent node when it dies",
              "Already upstream: version 2 ships the same change.", "launch/racecar.launch",
              'output="screen"/>', 'output="screen" respawn="true"/>'),
)


def data_file(name: str) -> bytes:
    """The bytes of one file of ``sync/sample/data/``."""
    return resources.files("sync.sample").joinpath(DATA).joinpath(name).read_bytes()


def template() -> bytes:
    """The project's Dockerfile.j2."""
    return data_file("Dockerfile.j2")


def version() -> bytes:
    """The project's VERSION file."""
    return data_file("VERSION")


def variants() -> str:
    """The ``variants:`` section of the project's upstream-manifest.yaml, as YAML text."""
    return data_file("variants.yaml").decode("utf-8")


def image_files() -> dict[str, tuple[int, bytes]]:
    """The project's image files: path -> (mode, content)."""
    found: dict[str, tuple[int, bytes]] = {}
    with tarfile.open(fileobj=io.BytesIO(data_file(IMAGE_FILES))) as archive:
        for member in archive.getmembers():
            stream = archive.extractfile(member) if member.isfile() else None
            if stream is not None:
                found[member.name] = (member.mode & 0o777, stream.read())
    return found


def write_image_files(root: Path) -> None:
    """Write the image files into the repository at ``root``."""
    for name, (mode, content) in image_files().items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)


def pack_image_files(project: Path) -> bytes:
    """The archive of the project's image files (``python3 -m sync.sample.demo_project``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in IMAGE_FILE_PATHS:
            paths = [project / name] if (project / name).is_file() else sorted(
                path for path in (project / name).rglob("*") if path.is_file()
                and "__pycache__" not in path.parts)
            for path in paths:
                info = tarfile.TarInfo(path.relative_to(project).as_posix())
                data = path.read_bytes()
                info.size, info.mtime = len(data), 0
                info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


if __name__ == "__main__":  # refresh data/image-files.tar from the checkout
    checkout = Path(__file__).resolve().parents[2]
    (Path(__file__).parent / DATA / IMAGE_FILES).write_bytes(pack_image_files(checkout))
