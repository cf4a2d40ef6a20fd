"""A reduced real build of the rendered Dockerfile: local base images, no network.

The rendered Dockerfile is kept as it is except for the RUN steps that need the network (apt,
curl, pip, rosdep): each becomes one line appended to /reduced-steps.log (the Redis build:
also a stand-in redis-server, which the final stage copies from the redis stage). The stages,
the FROM lines (their bases given as the ROS_IMG and CORE_IMG build arguments), every COPY,
the links, ENV, LABEL, WORKDIR, ENTRYPOINT and CMD are the real ones, built by the real engine
from the real build context.

The base images are made here from the files of this machine (``docker import`` of a tarball):
bash, coreutils and their libraries, plus stand-ins for what the replaced steps would install:
a ``colcon`` that lays out an install tree from ``src/*/package.xml``, ROS's ``setup.bash``
and a ``roslaunch`` that prints what it was asked to launch.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.fixtures.docker_services import Dir, Entry, File, Symlink
from tests.image_contract.model import parse

NETWORK = re.compile(r"\b(apt-get|curl|pip|rosdep)\b")
TOOLS = ("bash", "dash", "env", "ls", "ln", "mkdir", "cp", "chmod", "cat", "id", "readlink",
         "dirname", "basename", "rm", "true", "grep", "stat", "sort", "head")
MERGED = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}

COLCON = """#!/bin/bash
# stand-in for `colcon build`: one install folder per package of src/, and a setup.bash
set -euo pipefail
[ "${1:-}" = build ] || { echo "colcon stand-in: only 'build'" >&2; exit 2; }
for xml in src/*/package.xml; do
    name=$(basename "$(dirname "$xml")")
    mkdir -p "install/$name/share/$name"
    cp "$xml" "install/$name/share/$name/"
done
echo 'export SIMAPP_SETUP=sourced' > install/setup.bash
"""

ROSLAUNCH = """#!/bin/bash
# stand-in for roslaunch: says what it launches, from where, in which environment
echo "roslaunch $*"
echo "cwd $(pwd)"
echo "ROS_SETUP=${ROS_SETUP:-} SIMAPP_SETUP=${SIMAPP_SETUP:-} ROLLOUT_IDX=${ROLLOUT_IDX:-}"
"""


def reduce(text: str) -> tuple[str, list[str], list[str]]:
    """``text`` with each network RUN replaced by a line in /reduced-steps.log (the step's first
    words: each replacement makes a layer of its own); also the kept and replaced RUNs."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    replaced: list[str] = []
    for item in reversed(parse(text).structure):
        if item["instruction"] != "RUN":
            continue
        if NETWORK.search(item["value"]):
            replaced.append(item["value"])
            words = re.sub(r"[^A-Za-z0-9 ./_-]", "", " ".join(item["value"].split()[:4]))
            step = f"RUN echo 'replaced: {words}' >> /reduced-steps.log"
            if "/usr/local/bin/redis-server" in item["value"]:  # what the redis stage makes
                step += " && printf '#!/bin/sh\\necho redis stand-in\\n' " \
                        "> /usr/local/bin/redis-server && chmod 755 /usr/local/bin/redis-server"
            lines[item["startline"]:item["endline"] + 1] = [step + "\n"]
        else:
            kept.append(item["value"])
    return "".join(lines), kept[::-1], replaced[::-1]


def _libraries(binary: str) -> set[str]:
    output = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(/\S+\.so[.\d]*)", output))


def toolbox() -> dict[str, Entry]:
    """This machine's shell tools and their libraries, usr-merged, as a layer."""
    entries: dict[str, Entry] = {name: Symlink(target) for name, target in MERGED.items()}
    paths: set[str] = set()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is not installed"
        paths.add(found)
        paths |= _libraries(found)
    for path in sorted(paths):
        real = Path(path).resolve()
        # store under usr/: /lib/x/libc.so.6 -> usr/lib/x/libc.so.6 (bin, lib are links there)
        name = path.lstrip("/")
        top = name.split("/", 1)[0]
        if top in MERGED:
            name = MERGED[top] + name[len(top):]
        entries[name] = File(real.read_bytes(), mode=0o755)
    entries["usr/bin/sh"] = Symlink("dash")
    entries["etc/passwd"] = File(b"root:x:0:0:root:/root:/bin/bash\n")
    entries["etc/group"] = File(b"root:x:0:\n")
    for folder in ("tmp", "root", "usr/local/bin", "usr/local/lib", "usr/local/include",
                   "opt/ros/noetic/lib", "opt/ros/noetic/include/aws"):
        entries[folder] = Dir(0o1777 if folder == "tmp" else 0o755)
    entries["opt/ros/noetic/setup.bash"] = File(b"export ROS_SETUP=sourced\n")
    return entries


def ros_base() -> dict[str, Entry]:
    """The bundle stage's base: the toolbox, the ROS-shipped AWS SDK's files and colcon."""
    return {**toolbox(),
            "opt/ros/noetic/lib/libaws-cpp-sdk-core.so": File(b"stand-in"),
            "opt/ros/noetic/include/aws/core/Aws.h": File(b"// stand-in\n"),
            "usr/bin/colcon": File(COLCON.encode(), mode=0o755)}


def core_base() -> dict[str, Entry]:
    """The final stage's base: the toolbox and the roslaunch the ROS packages would bring."""
    return {**toolbox(), "usr/bin/roslaunch": File(ROSLAUNCH.encode(), mode=0o755)}
