"""The sample upstream image: a small, built-in stand-in for the simapp image, in two versions.

It has the shape that matters in the real image: colcon outputs (``build/``, ``install/``,
``log/``) at the top of ``/opt/amazon`` that the manifest excludes, a real ``rl_coach/build``
folder deeper down that must come through, Python caches, an executable, a symlink, a binary
texture, a FIFO, and files outside ``/opt/amazon``. Version 2 changes a few files the way an
upstream release does: lines inserted near the top of agent code, a version pin bumped next to
a community-patched line, a fix the community carried now upstream, a file removed (whiteout)
and one added. README's sample, the demo and tests use it.
"""

from __future__ import annotations

from pathlib import Path

from sync.sample.image_writer import write_docker_archive
from sync.sample.specs import (
    Dir,
    Entry,
    Fifo,
    File,
    ImageSpec,
    LayerSpec,
    Stream,
    Symlink,
    Whiteout,
)

SAMPLE_IMAGE = "sample.local/deepracer-sim-public"

SAMPLE_MANIFEST = f"""\
image: {SAMPLE_IMAGE}
tag: v1
platform: linux/amd64
branch: upstream
paths:
  - source: /opt/amazon
    target: bundle
    exclude: [/build/, /install/, /log/, "*.psd", "__pycache__/", "*.pyc"]
"""

AGENT_V1 = """\
import os

import redis


def connect():
    host = os.environ.get("REDIS_HOST", "localhost")
    return redis.Redis(host=host, port=6379)


def reward(params):
    speed = params["speed"]
    return float(speed) * 1.0


def main():
    client = connect()
    client.ping()
"""

AGENT_V2_HEADER = '''\
"""DeepRacer rollout agent."""
# Copyright Amazon.com, Inc. or its affiliates.
# SPDX-License-Identifier: Apache-2.0

'''

ENVIRONMENT_V1 = """\
name: simapp
dependencies:
  - python=3.8
  - tensorflow==2.12
  - redis==6.2.6
  - numpy==1.23
"""

ENVIRONMENT_V2 = ENVIRONMENT_V1.replace("numpy==1.23", "numpy==1.24")

LAUNCH_V1 = """\
<launch>
  <arg name="world_name" default="reinvent_base"/>
  <node name="agent" pkg="markov" type="rollout_worker.py" output="screen"/>
</launch>
"""

LAUNCH_V2 = LAUNCH_V1.replace('output="screen"', 'output="screen" respawn="true"')


def _app_files(version: int) -> list[Entry]:
    agent = AGENT_V1 if version == 1 else AGENT_V2_HEADER + AGENT_V1
    entries: list[Entry] = [
        Dir("opt"), Dir("opt/amazon"),
        File("opt/amazon/markov/agent.py", agent.encode()),
        File("opt/amazon/markov/__init__.py", b""),
        File("opt/amazon/markov/__pycache__/agent.cpython-38.pyc", b"\x55\x0d\x0d\x0a cache"),
        File("opt/amazon/configs/environment.yml",
             (ENVIRONMENT_V1 if version == 1 else ENVIRONMENT_V2).encode()),
        File("opt/amazon/launch/racecar.launch",
             (LAUNCH_V1 if version == 1 else LAUNCH_V2).encode()),
        File("opt/amazon/bin/start.sh", b"#!/bin/sh\nexec python3 -m markov.agent\n", mode=0o755),
        Symlink("opt/amazon/bin/run", "start.sh"),
        File("opt/amazon/meshes/track.png", Stream.pattern(48 * 1024, seed=b"track")),
        File("opt/amazon/rl_coach/build/lib/coach.py", b"# rl_coach build helper\n"),
        File("opt/amazon/artwork/logo.psd", b"8BPS layered artwork"),
        File("opt/amazon/build/markov/CMakeCache.txt", b"colcon build output\n"),
        File("opt/amazon/install/setup.bash", b"# colcon install output\n"),
        File("opt/amazon/log/latest_build/events.log", b"colcon log\n"),
        Fifo("opt/amazon/run/agent.fifo"),
        # what the project's Dockerfile.j2 copies from the bundle besides its sources
        File("opt/amazon/rl_coach.patch", b"--- a/rl_coach/logger.py\n+++ b/rl_coach/logger.py\n"),
        File("opt/amazon/script/start_deepracer_node_monitor.py", b"print('node monitor')\n"),
        *(File(f"opt/amazon/src/deepracer_node_monitor/config/deepracer_{kind}node_monitor_list"
               ".txt", b"/racecar/agent\n") for kind in ("", "evaluation_", "virtual_event_")),
    ]
    if version == 1:
        entries.append(File("opt/amazon/markov/legacy.py", b"# removed in version 2\n"))
    else:
        entries.append(File("opt/amazon/markov/metrics.py", b"def publish(metrics):\n    pass\n"))
    return entries


def sample_image(version: int) -> ImageSpec:
    """Version 1 or 2 of the sample image: a base layer and an application layer."""
    if version not in (1, 2):
        raise ValueError(f"sample versions are 1 and 2, not {version}")
    base = LayerSpec([Dir("usr"), Dir("usr/bin"),
                      File("usr/bin/python3", b"\x7fELF python", mode=0o755),
                      File("etc/os-release", b'NAME="Ubuntu"\nVERSION_ID="20.04"\n')])
    layers = [base, LayerSpec(_app_files(1))]
    if version == 2:
        # upstream rebuilt the app layer on top: the old file disappears through a whiteout
        layers.append(LayerSpec([*_app_files(2), Whiteout("opt/amazon/markov/legacy.py")],
                                compression="zstd"))
    return ImageSpec(layers=tuple(layers), tags=(f"{SAMPLE_IMAGE}:v{version}",),
                     created=f"2026-0{version}-01T00:00:00Z")


def write_sample(directory: Path, version: int) -> Path:
    """Write version ``version`` as a docker-archive tarball; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"simapp-v{version}.docker.tar"
    write_docker_archive(path, sample_image(version))
    return path
