#!/usr/bin/env bash
# Rebuild the simapp's ROS packages inside the image, from sources at SOURCE (default
# /opt/bundle) into /opt/simapp, the way the image's bundle stage builds them.
#   build_deepracer_ros_packages.sh [SOURCE]
set -euo pipefail
source_dir=${1:-/opt/bundle}
if [ ! -d "$source_dir/src" ]; then
    echo "usage: build_deepracer_ros_packages.sh [SOURCE]   (SOURCE/src holds the packages)" >&2
    exit 2
fi

set +u
# shellcheck source=/dev/null
source "/opt/ros/${ROS_DISTRO:-noetic}/setup.bash"
set -u
cd "$source_dir"
rosdep install --rosdistro noetic --from-paths src --ignore-src -r -y
colcon build --install-base /opt/simapp
