#!/usr/bin/env bash
# SageMaker-only evaluation: only the simulation, which loads the model from S3 itself.
set -euo pipefail
: "${SIMULATION_LAUNCH_FILE:?set by sagemaker_bootstrap.py}"

export DEEPRACER_JOB_TYPE_ENV=SAGEONLY ROS_IP=127.0.0.1 XAUTHORITY=/root/.Xauthority
exec /opt/ml/code/simulation-entrypoint.sh roslaunch deepracer_simulation_environment \
    "$SIMULATION_LAUNCH_FILE"
