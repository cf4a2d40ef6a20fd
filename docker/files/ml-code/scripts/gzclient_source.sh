#!/usr/bin/env bash
# Source this before `gzclient`, to see the running simulation: Gazebo's own setup, and the
# simapp's models and plugins on Gazebo's paths.
#   source /opt/ml/code/scripts/gzclient_source.sh
# shellcheck source=/dev/null
source /usr/share/gazebo/setup.sh
share=/opt/simapp/deepracer_simulation_environment/share/deepracer_simulation_environment
export GAZEBO_MODEL_PATH="$share/models${GAZEBO_MODEL_PATH:+:$GAZEBO_MODEL_PATH}"
export GAZEBO_RESOURCE_PATH="$share${GAZEBO_RESOURCE_PATH:+:$GAZEBO_RESOURCE_PATH}"
export GAZEBO_PLUGIN_PATH="/opt/simapp/deepracer_gazebo_system_plugin/lib${GAZEBO_PLUGIN_PATH:+:$GAZEBO_PLUGIN_PATH}"
