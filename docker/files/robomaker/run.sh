#!/usr/bin/env bash
# The robomaker role: Gazebo and the DeepRacer simulation for one rollout worker.
#
#   run.sh run LAUNCH_FILE     one worker (ROLLOUT_IDX, default 0)
#   run.sh multi LAUNCH_FILE   one of several workers: its number comes from DOCKER_REPLICA_SLOT
#                              (swarm, 1-based) or from its line in /mnt/comms/workers (compose)
#
# DeepRacer-for-Cloud starts it as `/opt/simapp/run.sh run distributed_training.launch` (or
# `./run.sh run evaluation.launch` from the working directory /opt/simapp) and sets the
# environment read here:
#   MULTI_CONFIG      JSON {"multi_config": [{"config_file": ..., "world_name": ...}, ...]}:
#                     S3_YAML_NAME and WORLD_NAME of each worker, by worker number
#   RTF_OVERRIDE      real-time factor written into the world's <physics> block
#   DEBUG_REWARD      true: apply debug-reward.diff (the default reward prints RTF and steps/s)
#   USE_EXTERNAL_X    true: use the host's X server (DISPLAY) instead of Xvfb + VNC on 5900
#   ENABLE_GUI        true: start rqt and rviz too
# Hooks: /scripts/alter_environment.sh and /scripts/alter_environment_<ROLLOUT_IDX>.sh run, when
# present, once the simulation is launched.
#
# SIMAPP_DIR, SIMAPP_COMMS_DIR, SIMAPP_HOOKS_DIR and SIMAPP_ROS_DIR move /opt/simapp, /mnt/comms,
# /scripts and /opt/ros/$ROS_DISTRO (for tests; DeepRacer-for-Cloud sets none of them).
set -euo pipefail

usage() {
    echo "usage: run.sh run|multi LAUNCH_FILE   (e.g. run.sh run distributed_training.launch)" >&2
    exit 2
}

[ "$#" -eq 2 ] || usage
mode=$1
launch_file=$2
case "$mode" in
    run | multi) ;;
    *) usage ;;
esac

scripts_dir=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
simapp_dir=${SIMAPP_DIR:-/opt/simapp}
comms_dir=${SIMAPP_COMMS_DIR:-/mnt/comms}
hooks_dir=${SIMAPP_HOOKS_DIR:-/scripts}
ros_dir=${SIMAPP_ROS_DIR:-/opt/ros/${ROS_DISTRO:-noetic}}

export XAUTHORITY=/root/.Xauthority
export ROLLOUT_IDX=${ROLLOUT_IDX:-0}
export DEEPRACER_JOB_TYPE_ENV=LOCAL
export IGN_IP=127.0.0.1

if [ "$mode" = multi ]; then
    if [ -n "${DOCKER_REPLICA_SLOT:-}" ]; then
        ROLLOUT_IDX=$((DOCKER_REPLICA_SLOT - 1))
    else
        # every worker appends its hostname; its line number is its worker number
        echo "$HOSTNAME" >>"$comms_dir/workers"
        line=$(grep -n -x -F -m 1 "$HOSTNAME" "$comms_dir/workers" | cut -d: -f1)
        ROLLOUT_IDX=$((line - 1))
    fi
    echo "multi-worker training: this is worker $ROLLOUT_IDX"
fi

if [ -n "${MULTI_CONFIG:-}" ]; then
    S3_YAML_NAME=$(jq -r --argjson i "$ROLLOUT_IDX" '.multi_config[$i].config_file' <<<"$MULTI_CONFIG")
    WORLD_NAME=$(jq -r --argjson i "$ROLLOUT_IDX" '.multi_config[$i].world_name' <<<"$MULTI_CONFIG")
    if [ "$S3_YAML_NAME" = null ] || [ "$WORLD_NAME" = null ]; then
        echo "run.sh: MULTI_CONFIG has no entry for worker $ROLLOUT_IDX" >&2
        exit 2
    fi
    export S3_YAML_NAME WORLD_NAME
    echo "worker $ROLLOUT_IDX: $S3_YAML_NAME on $WORLD_NAME"
fi

if [ -n "${RTF_OVERRIDE:-}" ]; then
    world="$simapp_dir/deepracer_simulation_environment/share/deepracer_simulation_environment/worlds/${WORLD_NAME:?RTF_OVERRIDE needs WORLD_NAME}.world"
    step=$(xmlstarlet sel -t -v '//physics/max_step_size' "$world")
    rate=$(awk -v rtf="$RTF_OVERRIDE" -v step="${step:-0.001}" 'BEGIN { printf "%d", rtf / step + 0.5 }')
    xmlstarlet ed -L \
        -u '//physics/real_time_factor' -v "$RTF_OVERRIDE" \
        -u '//physics/real_time_update_rate' -v "$rate" "$world"
    echo "real-time factor $RTF_OVERRIDE: $rate physics updates per second in $world"
fi

if [ "${DEBUG_REWARD:-}" = true ]; then
    diff_file="$scripts_dir/debug-reward.diff"
    if patch -p2 -R -s -f --dry-run -d "$simapp_dir" -i "$diff_file" >/dev/null 2>&1; then
        echo "debug reward: already applied"
    else
        patch -p2 -N -d "$simapp_dir" -i "$diff_file"
    fi
fi

cd "$simapp_dir"
# ROS's setup scripts read unset variables
set +u
# shellcheck source=/dev/null
source "$ros_dir/setup.bash"
# shellcheck source=/dev/null
source ./setup.bash
set -u

if [ "${USE_EXTERNAL_X:-}" != true ]; then
    export DISPLAY=:0
    xvfb-run -f "$XAUTHORITY" -n 0 -s "-screen 0 1400x900x24" jwm &
    x11vnc -bg -forever -nopw -quiet -display WAIT:0 -auth "$XAUTHORITY" -rfbport 5900
fi

pids=()
roslaunch deepracer_simulation_environment "$launch_file" &
pids+=("$!")
if [ "${ENABLE_GUI:-}" = true ]; then
    rqt &
    pids+=("$!")
    rviz &
    pids+=("$!")
fi
# a stop (docker stop -> SIGTERM) reaches the simulation, which saves its state
trap 'kill -TERM "${pids[@]}" 2>/dev/null || true' TERM INT

# The node monitor (start_deepracer_node_monitor.py, with the *_node_monitor_list.txt files
# beside this script) is not started, as in 5.3.3.

for hook in "$hooks_dir/alter_environment.sh" "$hooks_dir/alter_environment_${ROLLOUT_IDX}.sh"; do
    if [ -f "$hook" ]; then
        echo "running $hook"
        bash "$hook"
    fi
done

wait "${pids[0]}"
