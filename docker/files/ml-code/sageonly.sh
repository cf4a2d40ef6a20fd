#!/usr/bin/env bash
# SageMaker-only training: the training worker and the simulation in this one container.
# sagemaker_bootstrap.py sets JOB_NAME, SIMULATION_LAUNCH_FILE and the simulation's variables.
set -euo pipefail
: "${JOB_NAME:?set by sagemaker_bootstrap.py}" "${SIMULATION_LAUNCH_FILE:?set by sagemaker_bootstrap.py}"

markov=/opt/simapp/sagemaker_rl_agent/lib/python3.8/site-packages
export PYTHONPATH="$markov/${PYTHONPATH:+:$PYTHONPATH}"
export DEEPRACER_JOB_TYPE_ENV=SAGEONLY ROS_IP=127.0.0.1 XAUTHORITY=/root/.Xauthority

redis-server /opt/ml/code/redis.conf &
sleep 5
python3.8 "$markov/markov/training_worker.py" "$@" >/opt/ml/training.log 2>&1 &
exec /opt/ml/code/simulation-entrypoint.sh roslaunch deepracer_simulation_environment \
    "$SIMULATION_LAUNCH_FILE"
