#!/usr/bin/env bash
# Run a command in the simulation's environment: ROS and the simapp install sourced, a virtual
# display on :0 unless DISPLAY is already set.
#   simulation-entrypoint.sh COMMAND [ARGUMENTS...]
set -euo pipefail
if [ "$#" -eq 0 ]; then
    echo "usage: simulation-entrypoint.sh COMMAND [ARGUMENTS...]" >&2
    exit 2
fi

set +u
# shellcheck source=/dev/null
source "/opt/ros/${ROS_DISTRO:-noetic}/setup.bash"
# shellcheck source=/dev/null
source /opt/simapp/setup.bash
set -u
if [ -z "${DISPLAY:-}" ]; then
    export DISPLAY=:0 XAUTHORITY=${XAUTHORITY:-/root/.Xauthority}
    xvfb-run -f "$XAUTHORITY" -n 0 -s "-screen 0 1400x900x24" jwm &
fi
exec "$@"
