#!/usr/bin/env bash
# The sagemaker role's entry script (SAGEMAKER_PROGRAM=start.sh): the SageMaker training
# toolkit's `train` runs it from /opt/ml/code with the job's hyperparameters as arguments.
# It starts Redis, through which the robomaker workers send their experience, then the
# training worker with those arguments.
set -euo pipefail

markov=/opt/simapp/sagemaker_rl_agent/lib/python3.8/site-packages
export PYTHONPATH="$markov/${PYTHONPATH:+:$PYTHONPATH}"

echo "environment of the training job:"
env | sort

redis-server /opt/ml/code/redis.conf &
sleep 5
exec python3.8 "$markov/markov/training_worker.py" "$@"
