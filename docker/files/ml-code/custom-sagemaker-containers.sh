#!/usr/bin/env bash
# The `train` command of SageMaker-only jobs: runs sagemaker_bootstrap.py, which picks the
# training or evaluation script. (DeepRacer-for-Cloud uses the toolkit's own `train`, which
# runs start.sh; this is for jobs started by the SageMaker service.)
set -euo pipefail
cd /opt/ml/code
exec python3.8 sagemaker_bootstrap.py "$@"
