"""The demo's project: its template, VERSION, variants and community series, as package data.

``sync demo`` builds a throw-away repository from these, so it needs no checkout: the files in
``sync/sample/data/`` ship inside the package (pyproject.toml declares them). The template,
VERSION and variants are copies of the project's own (a test keeps them equal); the series is a
handful of community patches, each meeting one interesting case on the way from sample version
1 to version 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

DATA = "data"


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
