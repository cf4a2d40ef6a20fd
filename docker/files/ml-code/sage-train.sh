#!/usr/bin/env bash
# SageMaker + RoboMaker training: Redis, then the training worker with the job's arguments
# (the simulation runs elsewhere and connects to Redis).
set -euo pipefail

markov=/opt/simapp/sagemaker_rl_agent/lib/python3.8/site-packages
export PYTHONPATH="$markov/${PYTHONPATH:+:$PYTHONPATH}"
redis-server /opt/ml/code/redis.conf &
sleep 5
exec python3.8 "$markov/markov/training_worker.py" "$@"
