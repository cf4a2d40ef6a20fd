"""SageMaker-only jobs (training and simulation in one container): choose and run the script.

The SageMaker training toolkit passes the job as SM_TRAINING_ENV (its JSON, with job_name) and
SM_USER_ARGS (the hyperparameters as a JSON list of "--name", "value" pairs). ``sageonly``
runs sageonly.sh for training and sageonly_evals.sh for evaluations, with the arguments and
the environment those scripts read; a failing script fails the job.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping

CODE = "/opt/ml/code"
SCRIPTS = {
    "distributed_training.launch": "sageonly.sh",
    "evaluation.launch": "sageonly_evals.sh",
    "virtual_event.launch": "sageonly_evals.sh",
}


def user_arguments(environ: Mapping[str, str]) -> dict[str, str]:
    """SM_USER_ARGS as a mapping, plus --job_name from SM_TRAINING_ENV."""
    values = json.loads(environ.get("SM_USER_ARGS") or "[]")
    if len(values) % 2:
        raise ValueError("SM_USER_ARGS must hold --name value pairs")
    arguments = {str(values[i]): str(values[i + 1]) for i in range(0, len(values), 2)}
    arguments["--job_name"] = json.loads(environ.get("SM_TRAINING_ENV") or "{}").get(
        "job_name", "")
    return arguments


def job_environment(arguments: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The scripts' environment: the toolkit's, plus what they read from the arguments."""
    launch_file = arguments.get("--simulation_launch_file", "distributed_training.launch")
    if launch_file not in SCRIPTS:
        raise ValueError(f"launch file {launch_file!r} is not supported")
    env = dict(environ)
    env.update({
        "SAGEMAKER_SHARED_S3_BUCKET": arguments["--s3_bucket"],
        "SAGEMAKER_SHARED_S3_PREFIX": arguments["--s3_prefix"],
        "APP_REGION": arguments["--aws_region"],
        "MODEL_METADATA_FILE_S3_KEY": arguments.get("--model_metadata_s3_key", ""),
        "S3_YAML_NAME": arguments.get("--s3_yaml_name", "training_params.yaml"),
        "WORLD_NAME": arguments.get("--world_name", ""),
        "JOB_NAME": arguments["--job_name"],
        "SIMULATION_LAUNCH_FILE": launch_file,
        "JOB_TYPE": "training" if launch_file == "distributed_training.launch" else "evaluation",
    })
    if env["JOB_TYPE"] == "evaluation":
        env["MODEL_S3_BUCKET"] = arguments["--s3_bucket"]
        env["MODEL_S3_PREFIX"] = arguments["--s3_prefix"]
    return env


def sageonly(environ: Mapping[str, str] = os.environ) -> int:
    """Run the script for this job; its exit status."""
    arguments = user_arguments(environ)
    env = job_environment(arguments, environ)
    script = os.path.join(CODE, SCRIPTS[env["SIMULATION_LAUNCH_FILE"]])
    command = [script] + [item for pair in arguments.items() for item in pair]
    print(f"sagemaker_bootstrap: {' '.join(command)}", flush=True)
    return subprocess.call(command, env=env, cwd=CODE)


if __name__ == "__main__":
    sys.exit(sageonly())
